"""What services see of the metadata store: the MetadataStore interface (YamlMetadataStore in
jvp/store/store.py is its one implementation), the ListResult a listing answers, the errors of a file that cannot
be read (MetadataCorrupt) or whose lock another process keeps (MetadataLocked), and safe_key, the alphabet of a
key's parts."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from jvp.errors import Conflict, JvpError


class MetadataLocked(Conflict):
    code = "MetadataLocked"


class MetadataCorrupt(JvpError):
    """A metadata file that cannot be read or does not match its schema. 422: a precondition on the host."""
    code, status = "MetadataCorrupt", 422

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"metadata file {path} is corrupt or invalid: {reason}; fix or move it away "
                         "(JVP never overwrites it)", details={"path": str(path), "reason": reason})


@dataclass
class ListResult:
    items: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # [{path, code, message}]


class MetadataStore(Protocol):
    def get(self, kind: str, *key: str) -> dict[str, Any] | None: ...
    def put(self, kind: str, *key: str, doc: dict[str, Any]) -> dict[str, Any]: ...
    def create(self, kind: str, *key: str, doc: dict[str, Any]) -> bool: ...
    def update(self, kind: str, *key: str, fn: Callable[[dict | None], dict | None], durable: bool = True,
               before_replace: Callable[[], None] | None = None) -> dict | None: ...
    def delete(self, kind: str, *key: str) -> bool: ...
    def list(self, kind: str) -> ListResult: ...
    def keys(self, kind: str) -> list[tuple[str, ...]]: ...
    def prune_locks(self) -> int: ...
    def locked(self, kind: str, *key: str): ...
    def writable(self) -> bool: ...


_SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # matched in full (no "k\n")


def safe_key(part: Any) -> bool:
    """Whether `part` can be one part of a metadata key (a file name under the data dir): a name of the store's
    alphabet, never `..`. A name from elsewhere (a VM's recorded template, written by another tool) that is not
    one names no metadata file at all."""
    return isinstance(part, str) and _SAFE_PART.fullmatch(part) is not None and ".." not in part
