"""Migrations between metadata schema versions (metadata_schema/README.md), registered on import of jvp.store.

Each takes a document of version N (a copy) and returns it in the shape of version N+1; the store sets
`schema_version` and validates the result.
"""
from __future__ import annotations

import re
from typing import Any

from jvp.store.schemas import migration

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_SHA512 = re.compile(r"sha512:[0-9a-f]{128}")


def _split_checksum(image: dict[str, Any]) -> dict[str, Any]:
    """template v1 stored the verified digest as `checksum`, a sha512 when one was given or published; v2 keeps
    `checksum` for the sha256 (SPEC 2.4) and a verified sha512 in `verified_checksum`. The sha256 of an image
    verified by sha512 under v1 is not known (it was computed but not kept): null, until its next update."""
    value = image.get("checksum")
    if not isinstance(value, str):
        return image
    value = value.strip().lower()
    if _SHA256.fullmatch(value):
        return {**image, "checksum": value}
    return {**image, "checksum": None, "verified_checksum": value if _SHA512.fullmatch(value) else None}


@migration("template", 1)
def template_v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "source": _split_checksum(doc.get("source") or {}),
            "previous": [_split_checksum(p) for p in doc.get("previous") or []]}


@migration("template", 2)
def template_v2_to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """v3 added storage.mtime and `integrity`, both optional: unknown until the next start-up validation or
    verify-template."""
    return dict(doc)


@migration("tokens", 1)
def tokens_v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """v1 kept the first 10 characters of each token beside its hash (`jvp_` and 6 random ones): 36 bits less
    to guess and a way to match a leaked token to its record without the hash. v2 drops it; a token is known by
    its name (unique), which is what `jvp token list` and revoke use."""
    return {**doc, "tokens": [{k: v for k, v in t.items() if k != "prefix"} for t in doc.get("tokens") or []]}
