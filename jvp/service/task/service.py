"""Tasks: long work handed to a bounded pool of worker threads, persisted in the metadata store.

Every gunicorn worker sees every task (they are files under tasks/). A task runs in the process that
submitted it; cancellation from any process is a flag in the task's file that the running work polls
(and an in-process event, for an immediate answer). A task that was pending or running when its process
died is found at start-up (its owner pid is gone), marked `failed` with reason `interrupted`, and the
partial output it registered (`handle.add_cleanup`) is removed by the cleanup handler of its type. The same
happens whenever a live worker reads such a task later (describe, list, cancel, the busy check): a worker
that died while the others live (gunicorn reload) does not leave its tasks running until the next start.

Finished records never change, so each process reads one once and keeps it: listing and the busy check
read only the files of open tasks. Retention (pruning finished records) is in retention.py.

Progress is kept in memory and written at most every FLUSH_INTERVAL_S by one flusher thread per process (the
task's own thread never waits for that write), so another process sees a running task's progress at
most about a second old. Everything crash recovery or another process needs is written at once, in the same
write as any progress not flushed yet: the new record, pending -> running (handed to the flusher thread,
which writes it within 50 ms unless the task's own first write carries it sooner: `_claim`), each
add_cleanup/drop_cleanup, and the final state (which also drops the cleanups of outputs marked keep_on_success,
when it is success). A crash loses only the progress fields (progress, message, bytes_done, bytes_total,
eta_s) of the last second at most; recovery reads the cleanups and the owner, which are never held back.

Work that must stream through its own request (a volume upload) runs as an inline task (`run_inline`): the
same record, progress, cancellation and crash cleanup, executed in the calling thread. A cleanup handler
that cannot remove its output yet (libvirt still writing it) raises CleanupDeferred: the spec stays on the
finished task's record and is retried in the background, also by the next process after a restart.

What task work sees (TaskHandle, TaskCancelled) is in handle.py; how a task ends (its final state, its
cleanups, the tasks of dead processes) in ending.py; reading, listing, cancelling and waiting in reading.py.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from jvp.domain.task import ACTIVE
from jvp.errors import Conflict, JvpError
from jvp.store import MetadataStore, private_dirs, private_lock
from jvp.service.task.cleanup import DeferredCleanups
from jvp.service.task.ending import TaskEnding
from jvp.service.task.handle import TaskCancelled, TaskHandle
from jvp.service.task.owner import this_process
from jvp.service.task.progress import FLUSH_INTERVAL_S, TaskProgress, _Live
from jvp.service.task.reading import TaskReading
from jvp.service.task.retention import TaskRetention
from jvp.store.locks import remove_free
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)

# pending -> running reaches the record this late at most (by the flusher thread), or sooner with the task's own
# first write (a linked-clone create-vm, its cleanups in the new record, often ends sooner: its final write
# carries it)
RUNNING_WRITE_S = 0.05
RESOURCE_KEYS = ("kind", "node", "pool", "name")
RESOURCE_LOCK_PREFIX = "task-resource-"  # the lock of a resource's check-and-submit, in the data dir's .locks/


CleanupFn = Callable[[dict[str, Any]], None]


class _NotPending(Exception):
    """The task was claimed or finished elsewhere before a worker thread picked it up."""


class TaskService(TaskProgress, TaskRetention, DeferredCleanups, TaskEnding, TaskReading):
    """`flush_interval_s`: how often (at most) and how late (at most) a running task's progress is written;
    `on_final(view)`: called as a task's final state is written (build_services: the audit log's task outcome;
    it may answer a callable that waits for its own write to be durable: see _finish);
    `clock` (monotonic seconds) and `flusher` (False: no background thread; `flush_due()` writes what is due)
    are for tests."""

    def __init__(self, store: MetadataStore, data_dir: str | Path, max_workers: int = 4, *,
                 retention_days: float = 30.0, retention_count: int = 1000,
                 flush_interval_s: float = FLUSH_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                 flusher: bool = True, on_final: Callable[[dict[str, Any]], None] | None = None):
        self.store = store
        # called with the task's view once its final state is written (the audit log appends the outcome of
        # the request that started it); its failure is logged, never the task's
        self._on_final = on_final
        self._init_retention(retention_days, retention_count)
        # Finished records without pending cleanups never change again: read once, kept here (up to the
        # retention count), so listing and the busy check only read the files of open tasks.
        self._final: dict[str, dict[str, Any]] = {}
        self._final_lock = threading.Lock()
        self._init_progress(flush_interval_s, clock, flusher)
        self._done_cv = threading.Condition()  # notified when a task of this process ends (wait())
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="task")
        self._events: dict[str, threading.Event] = {}
        self._events_lock = threading.Lock()
        self._cleanups: dict[str, CleanupFn] = {"file": self._cleanup_file}
        self._lock_dir = Path(data_dir) / ".locks"
        private_dirs(self._lock_dir)
        self._init_retry()

    # -- registration ---------------------------------------------------------------------------------
    def register_cleanup(self, kind: str, fn: CleanupFn) -> None:
        """Modules say how to remove the partial output they register (e.g. a half-written volume)."""
        self._cleanups[kind] = fn

    @staticmethod
    def _cleanup_file(spec: dict[str, Any]) -> None:
        try:
            os.unlink(spec["path"])
        except FileNotFoundError:
            pass

    def _event(self, task_id: str) -> threading.Event:
        event = self._events.get(task_id)  # the common case (progress of a running task): no new Event
        if event is not None:
            return event
        with self._events_lock:
            return self._events.setdefault(task_id, threading.Event())

    # -- submitting -----------------------------------------------------------------------------------
    def _new_doc(self, kind: str, resource: dict[str, Any], params: dict[str, Any] | None,
                 created_by: str | None, request_id: str | None, message: str | None,
                 state: str = "pending") -> dict[str, Any]:
        now = rfc3339()
        return {"id": str(uuid.uuid4()), "kind": kind, "state": state, "progress": 0,
                "message": message or ("queued" if state == "pending" else "running"),
                "resource": resource, "params": params or {}, "result": None, "error": None,
                "created_at": now, "started_at": now if state == "running" else None, "finished_at": None,
                "created_by": created_by, "request_id": request_id, "owner": this_process(),
                "cancel_requested": False, "cleanup": []}

    def _put(self, doc: dict[str, Any], exclusive: bool) -> None:
        """Save a new task; with exclusive=True, a second task on a resource with an active one is a 409."""
        if not exclusive:
            self.store.put("task", doc["id"], doc=doc)
            return
        resource = doc["resource"]
        key = "-".join(str(resource.get(k) or "") for k in RESOURCE_KEYS)
        with private_lock(self._lock_dir / f"{RESOURCE_LOCK_PREFIX}{uuid.uuid5(uuid.NAMESPACE_URL, key)}.lock",
                          30) as lock:
            try:
                busy = self.active_on(resource)
                if busy:
                    raise Conflict(f"{resource['kind']} '{resource.get('name')}' is busy with task {busy['id']} "
                                   f"({busy['kind']}, {busy['state']}); wait for it or cancel it",
                                   code="ResourceBusy", details={"task": busy["id"], "task_kind": busy["kind"]})
                self.store.put("task", doc["id"], doc=doc)
            finally:
                # The lock guards this check and write only: its file goes with it, removed while held (the
                # next taker makes a new one: jvp/store/locks.py), so `.locks/` does not keep one file per
                # resource ever worked on.
                lock.remove()

    def prune_resource_locks(self) -> int:
        """Remove the resource lock files nobody holds (versions before kept one per resource ever locked):
        each taken without waiting and removed while held, so one in use is left alone. Returns how many."""
        return remove_free(self._lock_dir,
                           lambda name: name.startswith(RESOURCE_LOCK_PREFIX) and name.endswith(".lock"))

    def submit(self, kind: str, resource: dict[str, Any], work: Callable[[TaskHandle], dict | None], *,
               params: dict[str, Any] | None = None, created_by: str | None = None,
               request_id: str | None = None, exclusive: bool = True, message: str | None = None,
               cleanup: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Create a task and run `work(handle)` in the background; `work` returns the task's result.
        With exclusive=True, a second task on the same resource while one is active is a 409.

        `cleanup`: outputs the work will make, registered in the new record itself (as add_cleanup would,
        without a write of its own): the work may start making them at once. Each must be safe to remove
        before it exists (a removal of something not there is a no-op). A task cancelled before its work
        started drops them without running them (nothing of them was made); a crash runs them, as for any
        registered cleanup (the record cannot say whether the work started: `running` is written late)."""
        doc = self._new_doc(kind, resource, params, created_by, request_id, message)
        if cleanup:
            doc["cleanup"] = list(cleanup)
        self._put(doc, exclusive)
        self._maybe_prune()
        self._event(doc["id"])
        self._pool.submit(self._run, doc["id"], work)
        return self.view(doc)

    def run_inline(self, kind: str, resource: dict[str, Any], work: Callable[[TaskHandle], dict | None], *,
                   params: dict[str, Any] | None = None, created_by: str | None = None,
                   request_id: str | None = None, message: str | None = None) -> dict[str, Any]:
        """Run `work(handle)` in the calling thread as a running task and return its result.

        For work bound to its request (an upload reads the request body): it is listed, shows progress and
        can be cancelled like any task, and what it registered with add_cleanup is removed when it fails,
        is cancelled, or its process dies. Errors reach the caller: a cancellation as TaskCancelled (409)."""
        doc = self._new_doc(kind, resource, params, created_by, request_id, message, state="running")
        self._put(doc, exclusive=True)
        self._maybe_prune()
        self._event(doc["id"])
        result, exc = self._execute(doc["id"], work)
        if isinstance(exc, TaskCancelled):
            raise Conflict(f"task {doc['id']} ({kind}) was cancelled; its partial output was removed",
                           code="TaskCancelled", details={"task": doc["id"]})
        if exc is not None:
            raise exc
        return result

    def active_on(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        """The pending or running task on a resource, if any (a dead owner's task is interrupted first).
        Reads only the files of open tasks (see _docs)."""
        for doc in self._docs()[0]:
            r = doc.get("resource") or {}
            if doc["state"] in ACTIVE and all(r.get(k) == resource.get(k) for k in RESOURCE_KEYS):
                doc = self._reap_if_dead(doc)
                if doc["state"] in ACTIVE:
                    return doc
        return None

    def _run(self, task_id: str, work: Callable[[TaskHandle], dict | None]) -> None:
        def start(handle: TaskHandle) -> dict | None:
            try:
                self._claim(task_id)
            except TaskCancelled:
                # cancelled while queued: the work never ran, so the outputs registered with the new record
                # (submit's `cleanup`) were never made; dropped, not removed (a volume of that name made by
                # someone else meanwhile is not ours)
                self._patch(task_id, {"cleanup": []})
                raise
            return work(handle)
        self._execute(task_id, start)

    def _claim(self, task_id: str) -> None:
        """pending -> running, for a task this process's pool picked up. Checked on the record (still pending,
        no cancel asked), then handed to the flusher thread, which writes it within RUNNING_WRITE_S (as its
        own durable write, or within the task's own next write if that comes first): the task's thread goes
        on with the work meanwhile instead of waiting for the write (a YAML dump, its read-back check and an
        fsync: 2-3 ms of a linked-clone create-vm, whose final write then carries it). This process
        shows `running` at once; another sees it when the write lands (at most RUNNING_WRITE_S later). Should the
        machine crash before that, the record comes back as `pending`, which recovery treats exactly as `running`
        (its owner is gone: failed, interrupted, its cleanups run), and the running state has no cleanups yet:
        nothing is lost. A cancel another process asks for between the check and the write is seen at the first poll
        (CANCEL_POLL_INTERVAL_S), as one just after it."""
        doc = self.store.get("task", task_id)
        if doc is None or doc["state"] != "pending":
            raise _NotPending()
        if doc.get("cancel_requested") or self._event(task_id).is_set():
            raise TaskCancelled()
        live = self._live[task_id]
        with live.lock:
            live.pending.update({"state": "running", "started_at": rfc3339(), "message": "running"})
            live.due = self._clock() + RUNNING_WRITE_S
        with self._live_cv:
            self._start_flusher()
            self._live_cv.notify()

    def _execute(self, task_id: str, work: Callable[[TaskHandle], dict | None]
                 ) -> tuple[dict | None, BaseException | None]:
        """Run work to a final state; returns (result, None) or (None, the exception that ended it)."""
        # the cancel flag was read (under the record's lock) as the task was claimed or created: the file is
        # polled again CANCEL_POLL_INTERVAL_S from now, not at the first check (an in-process cancel is
        # seen at once through the event either way)
        handle = TaskHandle(self, task_id, clock=self._clock, _started=self._clock(), _last_poll=time.monotonic())
        with self._live_cv:
            self._live[task_id] = _Live(last_write=self._clock())
        try:
            result = work(handle) or {}
            # work may leave a final word (e.g. create-vm's fallback to emulation) in result["message"]
            self._finish(task_id, "succeeded", result=result, progress=100.0, message=result.get("message"),
                         kept=self._live[task_id].keep)
            return result, None
        except _NotPending:
            return None, None
        except TaskCancelled as exc:
            self._run_cleanups(task_id)
            self._finish(task_id, "cancelled", message="cancelled")
            return None, exc
        except JvpError as exc:
            self._run_cleanups(task_id)
            self._finish(task_id, "failed", error={**exc.to_dict(), "reason": None}, message=exc.message)
            return None, exc
        except Exception as exc:  # noqa: BLE001 - a task's bug must become a failed task, not a lost one
            log.exception("task %s failed unexpectedly", task_id)
            self._run_cleanups(task_id)
            self._finish(task_id, "failed", message="internal error",
                         error={"code": "InternalError", "message": f"internal error in task {task_id}: "
                                f"{type(exc).__name__}; the server log has the details", "details": {},
                                "reason": None})
            return None, exc
        finally:
            with self._live_cv:
                self._live.pop(task_id, None)
            with self._events_lock:
                self._events.pop(task_id, None)
            with self._done_cv:
                self._done_cv.notify_all()

    def close(self) -> None:
        self._closed.set()
        with self._live_cv:
            self._live_cv.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
