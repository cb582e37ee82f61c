"""One collector per controller: the worker process holding an exclusive lock on a file under the data dir
collects; the others try again every interval. The lock is the kernel's (flock through filelock): it is
released when its holder exits or dies, however it dies, so a survivor takes over at its next try."""
from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

FILE_MODE = 0o600


class Election:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        # not thread-local (the collector's thread takes it, others ask `leading`); the file stays (unlinking
        # it on release would let two processes hold locks on two different files); never a "soft" lock
        # (a file that exists), which would outlive a dead holder
        self._lock = FileLock(str(self.path), timeout=0, mode=FILE_MODE, thread_local=False,
                              preserve_lock_file=True, fallback_to_soft=False)

    @property
    def leading(self) -> bool:
        return self._lock.is_locked

    def try_lead(self) -> bool:
        """True when this process holds (or now took) the lock."""
        if self._lock.is_locked:
            return True
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def resign(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)
