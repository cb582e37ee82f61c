"""The metadata store's lock of each metadata file (the RecordLocks mixin of YamlMetadataStore): its lock file
in `.locks/`, named from the file's path under the data dir; taken with a timeout past which the caller gets a
409 MetadataLocked (`_lock`), held around read-modify-write sequences beyond `update` (`locked`); and the
removal of the lock files whose metadata file is gone (`prune_locks`). The locks themselves are
jvp/store/locks.py's."""
from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import Timeout as LockTimeout

from jvp.store.interface import MetadataLocked
from jvp.store.kinds import KINDS
from jvp.store.locks import PrivateLock, private_lock, remove_free

_LOCK_NAME = re.compile(r"[0-9a-f]{32}\.lock")  # the store's own lock files in .locks/ (_lock_name)


class RecordLocks:
    """Mixed into YamlMetadataStore (which provides root, _lock_dir and path)."""
    root: Path
    _lock_dir: Path

    LOCK_TIMEOUT_S = 30

    def _lock_name(self, path: Path) -> str:
        """The name of a metadata file's lock file in `.locks/` (from its path under the data dir)."""
        rel = str(path.relative_to(self.root.resolve()))
        return f"{hashlib.sha256(rel.encode()).hexdigest()[:32]}.lock"

    @contextmanager
    def _lock(self, path: Path) -> Iterator[PrivateLock]:
        """The file's cross-process lock. A holder that keeps it past LOCK_TIMEOUT_S (a process stuck or
        frozen mid-write) is a 409 MetadataLocked for this caller (retry later), never a 500."""
        lock = private_lock(self._lock_dir / self._lock_name(path), self.LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except LockTimeout:
            rel = path.relative_to(self.root.resolve())
            raise MetadataLocked(f"the metadata file {rel} is held by another process for more than "
                                 f"{self.LOCK_TIMEOUT_S}s; try again later",
                                 details={"path": str(path), "timeout_s": self.LOCK_TIMEOUT_S}) from None
        try:
            yield lock
        finally:
            lock.release()

    def prune_locks(self) -> int:
        """Remove the lock files of metadata files that no longer exist (left by versions that kept every
        lock file, or by a process that died between a record's removal and its lock file's): each taken
        without waiting and removed while held, so one in use is left alone. Only the store's own lock files
        (`<digest>.lock`) are looked at. Returns how many were removed."""
        live = set()
        for spec in KINDS.values():
            for path in self.root.glob(spec.pattern):
                try:
                    live.add(self._lock_name(path.resolve()))
                except ValueError:  # resolves outside the data dir: no lock file of the store's
                    pass
        return remove_free(self._lock_dir, lambda name: name not in live and bool(_LOCK_NAME.fullmatch(name)))

    @contextmanager
    def locked(self, kind: str, *key: str) -> Iterator[None]:
        """Hold the file's cross-process lock (for read-modify-write sequences beyond `update`)."""
        with self._lock(self.path(kind, *key)):
            yield
