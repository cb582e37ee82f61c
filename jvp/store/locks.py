"""The data dir's cross-process locks (metadata files, the audit log, a task's resource), fair within a process.

A file lock (flock through filelock) is the kernel's, between open files: two threads of one process taking the
same lock file are two contenders like two processes, and the one that loses polls. filelock polls every 50 ms
by default, and polling is not a queue: under a burst of writes from several threads (the audit log takes one
lock for every mutating request and every task's outcome) a thread could lose poll after poll. Measured here,
4 threads each taking one lock 50 times and holding it 2 ms: median wait 0.2 ms, longest 452 ms; a linked-clone
create-vm on libvirt's test driver ended 50 ms late whenever its outcome line met the request's own audit line.

So the threads of a process queue on an in-process lock per lock file first (taken and handed over at once,
in the order the kernel wakes them), and only the thread at the front contends for the file lock, now polled
every POLL_S: what waits on another process (gunicorn's other workers) waits at most that much past its
release. Same interface as filelock's FileLock where JVP uses it (`with`, acquire/release, filelock.Timeout
when `timeout` runs out, both stages counted together).

The file stage is flock(2) on the lock file, opened 0600. A lock file may be removed, by its holder only
(`PrivateLock.remove`, `remove_if_free`): the metadata store removes a record's lock file with the record, so
that `.locks/` holds one file per record that exists rather than one per record ever written (task records and
console tokens come and go by the thousand). Whoever opened the file before its removal and then gets the
flock holds a lock on a file that is no longer the lock file: so a flock counts only once the path still
names the very file locked (same device and inode), else the taker opens the path again and starts over.
filelock
4's FileLock did the same through about 120 us of bookkeeping per acquisition and release (its fork and
re-entrancy tracking, a soft-lock fallback for file systems without flock: the data dir is local), against
4 us for the two system calls; a linked-clone create-vm takes five such locks on its way (issue 15). The
metrics collector's election keeps filelock (jvp/metrics/election.py)."""
from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

from filelock import Timeout  # what a lock that cannot be had in time raises, as filelock's own locks do

FILE_MODE = 0o600
POLL_S = 0.005  # between two tries of a file lock another process holds (filelock's default: 0.05)


class _Gate:
    """The in-process lock of one lock file (weakly kept: gone once no thread holds or waits for it)."""
    __slots__ = ("lock", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.RLock()


_gates: "weakref.WeakValueDictionary[str, _Gate]" = weakref.WeakValueDictionary()
_gates_lock = threading.Lock()


def _reset_after_fork() -> None:
    """A forked child starts with no holder: a gate another thread of the parent held is not inherited held."""
    global _gates, _gates_lock
    _gates = weakref.WeakValueDictionary()
    _gates_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _gate(path: str) -> _Gate:
    with _gates_lock:
        gate = _gates.get(path)
        if gate is None:
            gate = _gates[path] = _Gate()
        return gate


class PrivateLock:
    """A lock file created 0600, taken by one thread of the process at a time, then by flock(2)."""

    def __init__(self, path: Path | str, timeout: float):
        self.path = str(path)
        self.timeout = timeout
        self._gate = _gate(self.path)
        self._fd: int | None = None

    def acquire(self) -> "PrivateLock":
        deadline = time.monotonic() + self.timeout
        if not self._gate.lock.acquire(timeout=max(self.timeout, 0)):
            raise Timeout(self.path)
        try:
            self._fd = self._flock(deadline)
        except BaseException:
            self._gate.lock.release()
            raise
        return self

    def _flock(self, deadline: float) -> int:
        fd = _open(self.path)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process holds it
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Timeout(self.path) from None
                    time.sleep(min(POLL_S, left))
                    continue
                if _names(self.path, fd):
                    return fd
                # its holder removed the lock file meanwhile: the lock is the path's file now
                os.close(fd)
                fd = -1
                fd = _open(self.path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # drops the flock (the only descriptor of this open file)
        finally:
            self._gate.lock.release()

    def remove(self) -> None:
        """Remove the lock file while holding it (the next taker makes a new one; see the module's
        docstring). Only the holder may: a file removed by anyone else could be locked twice."""
        if self._fd is None:
            raise RuntimeError(f"{self.path}: only the lock's holder may remove its file")
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "PrivateLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _names(path: str, fd: int) -> bool:
    """Whether `path` still names the open file `fd` (not removed, not replaced)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def remove_if_free(path: Path | str) -> bool:
    """Remove a lock file nobody holds (a sweep of lock files whose record is gone): taken without waiting,
    removed while held. False when it is held (by this process or another), or already gone."""
    lock = PrivateLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return False
    try:
        lock.remove()
    finally:
        lock.release()
    return True


def remove_free(directory: Path | str, doomed: Callable[[str], bool]) -> int:
    """Remove the lock files of `directory` whose name `doomed` accepts and that nobody holds (each through
    remove_if_free); how many were removed. A missing directory has none."""
    try:
        names = [e.name for e in os.scandir(directory) if doomed(e.name)]
    except FileNotFoundError:
        return 0
    return sum(1 for name in names if remove_if_free(os.path.join(directory, name)))


def _open(path: str) -> int:
    """The lock file's descriptor (created 0600; one made looser by an earlier version is tightened when this
    process owns it). Its directory is the caller's, made with store.private_dirs when the caller starts."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except PermissionError:  # another user's file: `jvp doctor` reports it
        pass
    return fd


def private_lock(path: Path | str, timeout: float) -> PrivateLock:
    """The cross-process lock of `path` (see the module's docstring)."""
    return PrivateLock(path, timeout)
