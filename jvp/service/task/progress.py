"""A running task's progress, kept in memory and written at most every flush_interval_s by one flusher
thread per process (the task's own thread never waits for that write); every other write of the record
(`_update`) carries the progress not written yet. What must reach the record at once (the new record, the
cleanups, the final state) is written by the task service itself through `_update`: see service.py's
docstring for what a crash loses (the progress fields of the last second at most)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from jvp.domain.task import ACTIVE

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0  # a running task's progress reaches its record at most this often (and this late)


@dataclass
class _Live:
    """A task running in this process: its progress not written yet, and when the record was last written."""
    last_write: float
    pending: dict[str, Any] = field(default_factory=dict)
    keep: list[dict[str, Any]] = field(default_factory=list)  # cleanups dropped by the final write on success
    due: float | None = None  # when the flusher writes `pending` (None: nothing to write)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one writer of this record at a time


class TaskProgress:
    """Mixed into TaskService (which provides store and _closed, and adds a task to `_live` while it runs)."""
    store: Any
    _closed: threading.Event

    def _init_progress(self, flush_interval_s: float, clock: Callable[[], float], flusher: bool) -> None:
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._live: dict[str, _Live] = {}
        self._live_cv = threading.Condition()  # guards _live; the flusher waits on it
        self._flusher_wanted = flusher
        self._flusher: threading.Thread | None = None

    # -- store helpers --------------------------------------------------------------------------------
    def _update(self, task_id: str, fn: Callable[[dict], dict | None],
                before_replace: Callable[[], None] | None = None) -> dict | None:
        """Write the record now; a running task's progress not written yet goes into the same write.
        `before_replace`: see store.update (only passed on when given)."""
        extra = {} if before_replace is None else {"before_replace": before_replace}
        live = self._live.get(task_id)
        if live is None:
            return self.store.update("task", task_id, fn=lambda d: fn(d) if d is not None else None, **extra)
        with live.lock:
            pending = live.pending

            def apply(d: dict | None) -> dict | None:
                if d is None:
                    return None
                return fn({**d, **pending} if pending and d["state"] in ACTIVE else d)
            doc = self.store.update("task", task_id, fn=apply, **extra)
            live.pending, live.due, live.last_write = {}, None, self._clock()
            return doc

    # -- progress in memory, flushed at most every flush_interval_s ---------------------------------------
    def _note_progress(self, task_id: str, fields: dict[str, Any]) -> None:
        live = self._live.get(task_id)
        if live is None:  # not running here (finished meanwhile): nothing to show progress for
            return
        with live.lock:
            live.pending.update(fields)
            if live.due is not None:
                return
            # written by the flusher thread, never here: the task's thread (a stream's, per block) never
            # waits for the disk
            live.due = max(live.last_write + self.flush_interval_s, self._clock())
        with self._live_cv:
            self._start_flusher()
            self._live_cv.notify()

    def _flush(self, task_id: str, live: _Live) -> None:
        """Write the pending progress (caller holds live.lock). Never over a final state."""
        pending = live.pending
        if pending:
            self.store.update("task", task_id, fn=lambda d: {**d, **pending}
                              if d is not None and d["state"] in ACTIVE else None)
        live.pending, live.due, live.last_write = {}, None, self._clock()

    def flush_due(self) -> float | None:
        """Write every running task's progress that is due; returns when the next one is due (or None)."""
        now = self._clock()
        with self._live_cv:
            due = [(t, live) for t, live in self._live.items() if live.due is not None and live.due <= now]
        for task_id, live in due:
            with live.lock:
                if live.due is not None and live.due <= now:
                    try:
                        self._flush(task_id, live)
                    except Exception:  # noqa: BLE001 - the next progress or state change writes it again
                        log.exception("task %s: writing its progress failed", task_id)
                        live.due = self._clock() + self.flush_interval_s
        with self._live_cv:
            return min((live.due for live in self._live.values() if live.due is not None), default=None)

    def _start_flusher(self) -> None:  # caller holds _live_cv
        if self._flusher is None and self._flusher_wanted and not self._closed.is_set():
            self._flusher = threading.Thread(target=self._flush_loop, name="task-progress", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        next_due = None
        while not self._closed.is_set():
            with self._live_cv:
                if next_due is None:
                    next_due = min((live.due for live in self._live.values() if live.due is not None),
                                   default=None)
                wait = None if next_due is None else next_due - self._clock()
                if wait is None or wait > 0:
                    self._live_cv.wait(wait)
                    next_due = None
                    continue
            next_due = self.flush_due()

    def _keep_on_success(self, task_id: str, specs: tuple[dict[str, Any], ...]) -> None:
        live = self._live.get(task_id)
        if live is None:
            raise RuntimeError(f"task {task_id} is not running in this process")
        with live.lock:
            live.keep.extend(specs)

    def _overlay(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A record with this process's progress not written yet (what another process sees ~1 s later)."""
        live = self._live.get(doc["id"])
        if live is None or not live.pending or doc["state"] not in ACTIVE:
            return doc
        return {**doc, **live.pending}

    def _patch(self, task_id: str, fields: dict[str, Any]) -> None:
        self._update(task_id, lambda d: {**d, **fields})
