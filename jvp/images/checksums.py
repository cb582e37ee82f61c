"""Checksums of base images: "sha256:<hex>" strings and the checksum files distributions publish.

Two line formats cover the official cloud image mirrors:
- GNU coreutils (`sha256sum`), Debian's SHA512SUMS, Ubuntu's SHA256SUMS: `<hex>  <name>` or `<hex> *<name>`;
- BSD tags (`sha256sum --tag`), Fedora's and AlmaLinux's CHECKSUM files: `SHA256 (<name>) = <hex>`.
Fedora wraps its file in a PGP clear signature; the armor lines match neither format and are skipped (the
signature itself is not checked: the file comes over the same channel as the image, as with `sha256sum -c`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ALGORITHMS = {"sha256": 64, "sha512": 128}
_GNU = re.compile(r"^([0-9a-fA-F]{64}|[0-9a-fA-F]{128}) [ *]?(.+)$")
_BSD = re.compile(r"^(SHA256|SHA512) \((.+)\) ?= ?([0-9a-fA-F]+)$")


class ChecksumError(ValueError):
    """A checksum string or file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Checksum:
    algorithm: str   # sha256 | sha512
    hexdigest: str   # lower case

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


def parse_checksum(value: str) -> Checksum:
    """"sha256:<hex>", "sha512:<hex>", or a bare hex digest (its length says which)."""
    algo, sep, digest = value.strip().partition(":")
    if not sep:
        algo, digest = "", algo
    digest = digest.lower()
    if not algo:
        algo = next((a for a, n in ALGORITHMS.items() if len(digest) == n), "")
    algo = algo.lower()
    if algo not in ALGORITHMS:
        raise ChecksumError(f"unsupported checksum {value!r}: use sha256:<64 hex digits> or sha512:<128 hex digits>")
    if len(digest) != ALGORITHMS[algo] or not re.fullmatch(r"[0-9a-f]+", digest):
        raise ChecksumError(f"invalid {algo} digest {digest!r}: {ALGORITHMS[algo]} hex digits expected")
    return Checksum(algo, digest)


def find_in_checksum_file(text: str, filename: str) -> Checksum:
    """The checksum the file gives for `filename` (the image URL's last path segment). When several
    algorithms are listed for it, sha256 wins (the SPEC's format)."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _BSD.match(line)
        if m:
            algo, name, digest = m.group(1).lower(), m.group(2), m.group(3)
        else:
            m = _GNU.match(line)
            if not m:
                continue
            digest, name = m.group(1), m.group(2)
            algo = "sha256" if len(digest) == 64 else "sha512"
        name = name.strip()
        if name.startswith("./"):
            name = name[2:]
        if name == filename or name.rsplit("/", 1)[-1] == filename:
            found.setdefault(algo, digest)
    for algo in ALGORITHMS:
        if algo in found:
            return parse_checksum(f"{algo}:{found[algo]}")
    raise ChecksumError(f"the checksum file lists no sha256 or sha512 digest for '{filename}'")
