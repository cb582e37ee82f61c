"""Reading tasks: every record (the finished ones kept once read: they never change), describe, list, cancel
(a flag in the record that the running work polls, and an in-process event for an immediate answer), and the
waits (`wait` for one task, `wait_idle` for a stopping worker's running ones)."""
from __future__ import annotations

import threading
import time
from typing import Any

from jvp.domain.task import ACTIVE
from jvp.errors import Conflict, not_found
from jvp.store.interface import MetadataCorrupt


class TaskReading:
    """Mixed into TaskService (which provides store, _final and its lock, _events and its lock, _done_cv, and
    through its other mixins _overlay, _live and _live_cv (progress) and _reap_if_dead (ending))."""
    store: Any
    _final: dict[str, dict[str, Any]]
    _final_lock: threading.Lock
    _events: dict[str, threading.Event]
    _events_lock: threading.Lock
    _done_cv: threading.Condition

    def _docs(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Every task record, and the files that cannot be read. Finished records come from the cache
        (they never change); only open tasks' files and ones this process has not seen yet are read.
        The documents returned are shared: read them, never change them."""
        docs, errors, seen = [], [], set()
        for (task_id,) in self.store.keys("task"):
            seen.add(task_id)
            doc = self._final.get(task_id)
            if doc is None:
                try:
                    doc = self.store.get("task", task_id)
                except MetadataCorrupt as exc:
                    errors.append({"path": exc.details["path"], "code": exc.code, "message": exc.message})
                    continue
                except ValueError as exc:  # a stray file whose name is not a task id
                    errors.append({"path": f"tasks/{task_id}.yaml", "code": "MetadataCorrupt",
                                   "message": str(exc)})
                    continue
                if doc is None:
                    continue  # pruned or deleted meanwhile
                if doc["state"] not in ACTIVE and not doc.get("cleanup"):
                    with self._final_lock:
                        self._final[task_id] = doc
            docs.append(doc)
        with self._final_lock:
            for gone in [t for t in self._final if t not in seen]:
                del self._final[gone]
        return docs, errors

    @staticmethod
    def view(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("schema_version", "owner", "cleanup", "params")}

    # -- reading, cancelling, waiting -----------------------------------------------------------------
    def describe(self, task_id: str) -> dict[str, Any]:
        try:
            doc = self.store.get("task", task_id)
        except ValueError:
            doc = None
        if doc is None:
            raise not_found("task", task_id, code="TaskNotFound")
        return self.view(self._overlay(self._reap_if_dead(doc)))

    def list(self, state: str | None = None, kind: str | None = None, node: str | None = None,
             limit: int | None = None) -> dict[str, Any]:
        """Newest first; at most `limit` tasks."""
        docs, errors = self._docs()
        docs = [self._overlay(self._reap_if_dead(d)) for d in docs]
        tasks = [self.view(d) for d in docs
                 if (not state or d["state"] == state) and (not kind or d["kind"] == kind)
                 and (not node or (d.get("resource") or {}).get("node") == node)]
        tasks.sort(key=lambda t: t["created_at"], reverse=True)
        return {"tasks": tasks[:limit] if limit else tasks, "errors": errors}

    def cancel(self, task_id: str) -> dict[str, Any]:
        try:
            current = self.store.get("task", task_id)
        except ValueError:
            current = None
        if current is not None:
            self._reap_if_dead(current)  # a dead owner's task is interrupted: nothing left to cancel

        def ask(doc: dict) -> dict:
            if doc["state"] not in ACTIVE:
                raise Conflict(f"task {task_id} already {doc['state']}; only pending or running tasks can be "
                               "cancelled", code="TaskFinished", details={"state": doc["state"]})
            return {**doc, "cancel_requested": True, "message": "cancelling"}
        try:
            doc = self.store.update("task", task_id, fn=lambda d: ask(d) if d else None)
        except ValueError:
            doc = None
        if doc is None:
            raise not_found("task", task_id, code="TaskNotFound")
        with self._events_lock:
            event = self._events.get(task_id)
        if event is not None:  # running or queued in this process: tell it at once
            event.set()
        return self.view(doc)

    def wait(self, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the task finishes (tests, CLI helpers); a task of this process is seen at once, one of
        another process within 50 ms."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.describe(task_id)
            if doc["state"] not in ACTIVE:
                return doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {doc['state']} after {timeout}s")
            with self._done_cv:
                self._done_cv.wait(0.05)

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the tasks this process is running to end (a stopping worker gives
        them the rest of its graceful time); whether none is left running."""
        end = time.monotonic() + timeout
        with self._done_cv:
            while True:
                with self._live_cv:
                    if not self._live:
                        return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                # a task leaves _live before it notifies under _done_cv, which this holds: no end is missed
                self._done_cv.wait(left)
