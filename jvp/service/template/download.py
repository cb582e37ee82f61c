"""Partial downloads of template images in `<data_dir>/downloads/`.

One partial file per URL: `<key>.part`, key = sha256 of the URL, with its validators (ETag, Last-Modified,
length, the URL after redirects) in the metadata file `downloads/<key>.yaml`, written before the first byte
of a fresh response is stored. A download holds the URL's lock (`<key>.lock`, a non-blocking flock, so two
tasks never write one file; a second one gets 409 DownloadInProgress) for as long as it needs the file, and
removes the lock file when it lets go (UrlLock), so no empty lock file stays per URL ever fetched.

What survives what:
- the task finishes, fails or is cancelled: the partial file and its record are removed (the image is in the
  pool by then, or the download is abandoned: nothing is left behind);
- a broken connection: the same task retries with Range + If-Range from the partial file's size;
- the JVP process dies: its task is marked failed (`interrupted`) at the next start, but the partial file and
  its validators stay; registering the same URL again (register-template, or update-template-image of a
  template with that URL) resumes from where it stopped, and the If-Range validator makes sure the bytes
  still belong to the same image (a changed image is sent whole). Partial files nobody resumed within
  STALE_AFTER_S are removed when the next download starts.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from jvp.errors import PreconditionFailed
from jvp.images.fetch import Fetcher, Hashes, Remote, busy, redact
from jvp.service.task.handle import TaskHandle
from jvp.store import MetadataStore, private_dirs
from jvp.timeutil import parse_rfc3339, rfc3339

log = logging.getLogger(__name__)
STALE_AFTER_S = 7 * 24 * 3600
WAIT_STEP_S = 0.2


@dataclass
class Fetched:
    part: Path
    remote: Remote
    hashes: Hashes
    resumed_from: int        # bytes already on disk when this download started (a resume after a restart)
    seconds: float           # time spent in the HTTP transfer
    bytes: int


class BackgroundProgress:
    """The download loop's progress callback. The task's record is written (YAML, fsync) and its cancel flag
    read by a helper thread: the download thread only hands over its latest figures, so it never waits for
    the disk. A cancellation (or any error) the helper sees is raised in the download thread at its next
    block."""

    def __init__(self, report: Callable[[int, int | None], None]):
        self._report = report
        self._latest: tuple[int, int | None] | None = None
        self._wake = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="download-progress", daemon=True)
        self._thread.start()

    def __call__(self, done: int, total: int | None) -> None:
        if self._error is not None:
            raise self._error
        self._latest = (done, total)
        self._wake.set()

    def _run(self) -> None:
        while not self._done.is_set():
            self._wake.wait()
            self._wake.clear()
            latest = self._latest
            if latest is None or self._done.is_set():
                continue
            try:
                self._report(*latest)  # throttled by the task handle: most calls return at once
            except BaseException as exc:  # noqa: BLE001 - handed to the download thread
                self._error = exc
                return
            self._done.wait(0.05)  # a pause between reports that close() cuts short (no 50 ms at the end)

    def close(self) -> None:
        self._done.set()
        self._wake.set()
        self._thread.join()


class UrlLock:
    """A URL's lock file, held with flock(LOCK_EX | LOCK_NB) and removed by its holder when released.

    Removing a lock file is safe only this way: the holder unlinks the file while it still holds the lock, and
    whoever opened the old file before that and gets its lock afterwards sees that the file is no longer the
    one at the path (device and inode differ, or the path is gone) and starts over with the file now there.
    So two holders never lock two different files of one URL at once, in this process or another."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True once held; False at once when another holder has it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                ours, there = os.fstat(fd), os.stat(self.path)
                current = (ours.st_dev, ours.st_ino) == (there.st_dev, there.st_ino)
            except FileNotFoundError:
                current = False
            if current:
                self._fd = fd
                return True
            os.close(fd)  # its last holder removed that file: take the one at the path now

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still held: see the class comment
        finally:
            os.close(fd)  # drops the lock


class DownloadSession:
    def __init__(self, owner: "Downloads", url: str, key: str, task_id: str | None):
        self.owner = owner
        self.url = url
        self.key = key
        self.task_id = task_id
        self.part = owner.directory / f"{key}.part"

    def _known(self) -> Remote | None:
        doc = self.owner.store.get("download", self.key)
        if doc is None or doc.get("url") != self.url or not self.part.exists():
            self.discard()  # bytes without validators cannot be trusted: start over
            return None
        return Remote(url=doc["final_url"], etag=doc.get("etag"), last_modified=doc.get("last_modified"),
                      length=doc.get("length"))

    def fetch(self, handle: TaskHandle, hashes: Hashes, progress: Callable[[int, int | None], None]) -> Fetched:
        known = self._known()
        resumed_from = self.part.stat().st_size if known else 0
        if resumed_from:
            log.info("resuming the download of %s at %d bytes", redact(self.url), resumed_from)

        def on_start(remote: Remote, offset: int) -> None:
            handle.restart_rate(offset)  # the ETA counts only the bytes this response brings, from now
            if remote.length is not None:
                free = shutil.disk_usage(self.owner.directory).free
                if remote.length - offset > free:
                    raise PreconditionFailed(
                        f"the JVP server has {free} bytes free in {self.owner.directory}; the image needs "
                        f"{remote.length - offset} more. Free space there first", code="InsufficientSpace",
                        details={"where": str(self.owner.directory), "needed_bytes": remote.length - offset,
                                 "available_bytes": free})
            self.owner.store.put("download", self.key, doc={
                "url": self.url, "final_url": remote.url, "etag": remote.etag,
                "last_modified": remote.last_modified, "length": remote.length, "started_at": rfc3339(),
                "updated_at": rfc3339(), "task": self.task_id})

        def wait(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                handle.check_cancelled()
                time.sleep(WAIT_STEP_S)
        start = time.monotonic()
        reporter = BackgroundProgress(progress)
        try:
            remote = self.owner.fetcher.download(self.url, self.part, known, hashes, on_start=on_start,
                                                 progress=reporter, wait=wait)
        finally:
            reporter.close()
        return Fetched(part=self.part, remote=remote, hashes=hashes, resumed_from=resumed_from,
                       seconds=time.monotonic() - start, bytes=self.part.stat().st_size)

    def discard(self) -> None:
        for path in (self.part,):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self.owner.store.delete("download", self.key)


class Downloads:
    def __init__(self, store: MetadataStore, data_dir: Path, fetcher: Fetcher):
        self.store = store
        self.directory = Path(data_dir) / "downloads"
        self.fetcher = fetcher

    @staticmethod
    def key(url: str) -> str:
        return hashlib.sha256(url.encode()).hexdigest()

    def _lock(self, key: str) -> UrlLock:
        return UrlLock(self.directory / f"{key}.lock")

    @contextmanager
    def session(self, url: str, task_id: str | None) -> Iterator[DownloadSession]:
        """The URL's partial file, locked for this task; removed when the block ends, however it ends. Only a
        process death leaves it (for a later download of the same URL to resume)."""
        private_dirs(self.directory)
        key = self.key(url)
        lock = self._lock(key)
        if not lock.acquire():
            doc = self.store.get("download", key)
            raise busy(url, doc.get("task") if doc else None)
        session = DownloadSession(self, url, key, task_id)
        try:
            self.sweep(keep=key)
            yield session
        finally:
            try:
                session.discard()
            finally:
                lock.release()

    def partial_bytes(self, url: str) -> int:
        """Bytes already downloaded for a URL (a partial file a restart left), 0 when none."""
        part = self.directory / f"{self.key(url)}.part"
        return part.stat().st_size if part.exists() else 0

    def sweep(self, keep: str | None = None) -> None:
        """Remove partial files nobody resumed for STALE_AFTER_S, files without a record, and lock files
        nobody holds (left by an older JVP, which did not remove them)."""
        if not self.directory.exists():
            return
        for path in self.directory.glob("*.lock"):
            if path.name[:-5] != keep and not path.with_suffix(".part").exists():
                lock = UrlLock(path)
                if lock.acquire():
                    lock.release()
        now = time.time()
        records = {key: doc for (key,), doc in self.store.list("download").items}
        for part in self.directory.glob("*.part"):
            key = part.name[:-5]
            if key == keep:
                continue
            doc = records.get(key)
            try:
                age = now - (parse_rfc3339(doc.get("updated_at") or doc["started_at"]).timestamp() if doc
                             else part.stat().st_mtime)
            except (ValueError, OSError):
                age = STALE_AFTER_S + 1
            if age < STALE_AFTER_S and doc is not None:
                continue
            lock = self._lock(key)
            if not lock.acquire():
                continue  # being downloaded right now
            try:
                log.info("removing the abandoned partial download %s (%s)", part.name,
                         redact(doc["url"]) if doc else "no record")
                DownloadSession(self, doc["url"] if doc else "", key, None).discard()
            finally:
                lock.release()
