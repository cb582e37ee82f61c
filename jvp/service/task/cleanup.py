"""Deferred cleanups: partial output a cleanup handler cannot remove yet (CleanupDeferred, e.g. a volume
libvirt is still writing for a process that died) stays on its finished task's record and is retried in
the background every CLEANUP_RETRY_INTERVAL_S, by this process and, after a restart, by the next one."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from jvp.domain.task import ACTIVE
from jvp.timeutil import parse_rfc3339

log = logging.getLogger(__name__)

CLEANUP_RETRY_INTERVAL_S = 5.0
CLEANUP_RETRY_MAX_AGE_S = 7 * 24 * 3600  # after a week a deferred cleanup is given up (and logged)


class CleanupDeferred(Exception):
    """Raised by a cleanup handler when the partial output cannot be removed yet (e.g. libvirt is still
    allocating a volume that a killed process started); the spec is kept and retried later."""


def _epoch(stamp: str | None) -> float:
    try:
        return parse_rfc3339(stamp or "").timestamp()
    except ValueError:
        return time.time()


class DeferredCleanups:
    """Mixed into TaskService (which provides store, _docs, _run_cleanups and _patch)."""
    store: Any

    def _init_retry(self) -> None:
        self._retry_lock = threading.Lock()
        self._retry_thread: threading.Thread | None = None
        self._retry_dirty = False
        self._closed = threading.Event()

    def retry_cleanups(self) -> int:
        """Retry the cleanups still recorded on finished tasks; returns how many remain deferred."""
        remaining = 0
        now = time.time()
        for doc in self._docs()[0]:  # reads only open tasks' files (finished ones are cached)
            task_id = doc["id"]
            if doc["state"] in ACTIVE or not doc.get("cleanup"):
                continue
            if now - _epoch(doc.get("finished_at")) > CLEANUP_RETRY_MAX_AGE_S:
                log.error("task %s: giving up on cleanups %s after %ds", task_id, doc["cleanup"],
                          CLEANUP_RETRY_MAX_AGE_S)
                self._patch(task_id, {"cleanup": []})
                continue
            remaining += self._run_cleanups(task_id)
        return remaining

    def _schedule_retry(self) -> None:
        with self._retry_lock:
            self._retry_dirty = True
            if self._retry_thread is None:
                self._retry_thread = threading.Thread(target=self._retry_loop, name="task-cleanup-retry",
                                                      daemon=True)
                self._retry_thread.start()

    def _retry_loop(self) -> None:
        while not self._closed.wait(CLEANUP_RETRY_INTERVAL_S):
            with self._retry_lock:
                self._retry_dirty = False
            try:
                remaining = self.retry_cleanups()
            except Exception:  # noqa: BLE001 - keep retrying; the store may be briefly unavailable
                log.exception("retrying deferred task cleanups failed")
                remaining = 1
            with self._retry_lock:
                if remaining == 0 and not self._retry_dirty:
                    self._retry_thread = None
                    return
