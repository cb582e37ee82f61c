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
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from jvp.domain.task import ACTIVE
from jvp.errors import Conflict, JvpError, not_found
from jvp.store import MetadataStore, private_dirs, private_lock
from jvp.service.task.cleanup import CleanupDeferred, DeferredCleanups
from jvp.service.task.owner import owner_alive, this_process
from jvp.service.task.progress import FLUSH_INTERVAL_S, TaskProgress, _Live
from jvp.service.task.retention import TaskRetention
from jvp.store.store import MetadataCorrupt
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)

NOTE_INTERVAL_S = 0.05  # bare figures (no message, not forced) are noted in memory at most this often
CANCEL_POLL_INTERVAL_S = 0.5
# pending -> running reaches the record this late at most (by the flusher thread), or sooner with the task's own
# first write (a linked-clone create-vm, its cleanups in the new record, often ends sooner: its final write
# carries it)
RUNNING_WRITE_S = 0.05
RESOURCE_KEYS = ("kind", "node", "pool", "name")


class TaskCancelled(Exception):
    """Raised inside task work by handle.check_cancelled() once cancellation was asked for."""


@dataclass
class TaskHandle:
    """What task work sees: progress, cancellation and cleanup registration."""
    service: "TaskService"
    id: str
    _last_poll: float = 0.0
    _last_note: float | None = None
    clock: Callable[[], float] | None = None  # the service's clock (tests); None: time.monotonic
    _started: float = 0.0
    _rate_since: float | None = None   # the ETA's rate is measured from here (default: the task's start)...
    _rate_base: int = 0                # ...over the bytes done beyond this count

    def restart_rate(self, bytes_done: int = 0) -> None:
        """Measure the ETA's rate afresh from now, over the bytes done beyond `bytes_done`: at the start of a
        phase whose byte count starts again (streaming to the node after a download), or when a transfer
        resumes with bytes fetched before (they took none of this run's time)."""
        self._rate_since = (self.clock or time.monotonic)()
        self._rate_base = max(0, int(bytes_done))

    def progress(self, percent: float | None, message: str | None = None, *, bytes_done: int | None = None,
                 bytes_total: int | None = None, force: bool = False) -> None:
        """Record progress in memory (the record follows within FLUSH_INTERVAL_S) and check for cancellation.
        A call with a message, or `force`, is always noted; bare figures at most every NOTE_INTERVAL_S (a
        stream calls this per block: the next block notes newer figures anyway)."""
        now = (self.clock or time.monotonic)()
        if (message is None and not force and self._last_note is not None
                and now - self._last_note < NOTE_INTERVAL_S):
            return
        self._last_note = now
        fields: dict[str, Any] = {"progress": None if percent is None else round(max(0.0, min(percent, 100.0)), 1)}
        if message is not None:
            fields["message"] = message
        if bytes_done is not None:
            fields["bytes_done"] = int(bytes_done)
            if bytes_total:
                fields["bytes_total"] = int(bytes_total)
                elapsed = now - (self._started if self._rate_since is None else self._rate_since)
                moved = bytes_done - self._rate_base
                if moved > 0 and elapsed > 1:
                    fields["eta_s"] = round(elapsed * max(0, bytes_total - bytes_done) / moved, 1)
                else:
                    fields["eta_s"] = None  # not measurable yet in this phase: no stale figure
        self.service._note_progress(self.id, fields)
        self.check_cancelled()

    def cancelled(self) -> bool:
        if self.service._event(self.id).is_set():
            return True
        now = time.monotonic()
        if now - self._last_poll < CANCEL_POLL_INTERVAL_S:
            return False
        self._last_poll = now
        doc = self.service.store.get("task", self.id)
        return bool(doc and doc.get("cancel_requested"))

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise TaskCancelled()

    def add_cleanup(self, *specs: dict[str, Any]) -> None:
        """Record partial output to remove if the task fails, is cancelled, or its process dies. Written at
        once (one write for all the specs given)."""
        self.service._update(self.id, lambda d: {**d, "cleanup": [*d.get("cleanup", []), *specs]})

    def keep_on_success(self, *specs: dict[str, Any]) -> None:
        """The outputs are complete, but stay partial until the task succeeds: they leave the cleanup list in
        the write of the final state (no write of their own). A failure or cancellation before that removes
        them; so does the recovery after a crash before it (the task then never succeeded)."""
        self.service._keep_on_success(self.id, specs)

    def drop_cleanup(self, *specs: dict[str, Any]) -> None:
        """The outputs are complete (or renamed into place, or not ours): no longer partial. Written at once
        (one write for all the specs given): a crash after this must not remove them."""
        self.service._update(self.id, lambda d: {**d, "cleanup": [c for c in d.get("cleanup", [])
                                                                   if c not in specs]})


CleanupFn = Callable[[dict[str, Any]], None]


class _NotPending(Exception):
    """The task was claimed or finished elsewhere before a worker thread picked it up."""


class TaskService(TaskProgress, TaskRetention, DeferredCleanups):
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

    def _reap_if_dead(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A pending or running task whose owner process is gone (a gunicorn worker that died or was
        replaced while the others live) is interrupted now, as start-up recovery would do, so it neither
        blocks its resource nor shows as running until the next restart."""
        if doc["state"] not in ACTIVE or owner_alive(doc.get("owner")):
            return doc
        self._interrupt(doc["id"], doc["kind"])
        return self.store.get("task", doc["id"]) or doc

    @staticmethod
    def view(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("schema_version", "owner", "cleanup", "params")}

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
        with private_lock(self._lock_dir / f"task-resource-{uuid.uuid5(uuid.NAMESPACE_URL, key)}.lock", 30):
            busy = self.active_on(resource)
            if busy:
                raise Conflict(f"{resource['kind']} '{resource.get('name')}' is busy with task {busy['id']} "
                               f"({busy['kind']}, {busy['state']}); wait for it or cancel it",
                               code="ResourceBusy", details={"task": busy["id"], "task_kind": busy["kind"]})
            self.store.put("task", doc["id"], doc=doc)

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

    def _finish(self, task_id: str, state: str, kept: list[dict[str, Any]] | None = None, **fields: Any) -> None:
        """The final state, in one write (with the progress not written yet, and without the cleanups of
        `kept`: outputs a succeeded task keeps). `on_final` sees the final record just before it is written
        (under the record's lock): whoever reads the task as ended also finds what the hook wrote (the audit
        log's outcome line). The hook may answer a callable that waits until what it wrote is durable (the
        audit line's fsync, running meanwhile): the final record's new file replaces the old one only once it
        has returned, so the two fsyncs overlap and the record never says ended before the hook's line is on
        disk. Should the write then fail, the fallback below calls it again with the state actually recorded
        (the audit log keeps the newest outcome of a task)."""
        msg = fields.pop("message", None)
        syncs: list[Callable[[], Any]] = []

        def final(new: dict[str, Any]) -> dict[str, Any]:
            if self._on_final is not None:
                try:
                    synced = self._on_final(self.view(new))
                    if callable(synced):
                        syncs.append(synced)
                except Exception:  # noqa: BLE001 - a hook's failure is logged; the task still ends
                    log.exception("task %s: the final-state hook failed", task_id)
            return new

        def settle() -> None:  # the hook's writes are durable before the final record replaces the old one
            while syncs:
                try:
                    syncs.pop(0)()
                except Exception:  # noqa: BLE001 - as a failed hook: logged, the task still ends
                    log.exception("task %s: the final-state hook's write failed", task_id)
        before = settle if self._on_final is not None else None
        try:
            doc = self._update(task_id, lambda d: final({
                **d, "state": state, "finished_at": rfc3339(), "eta_s": None,
                **({"message": msg} if msg else {"message": state}), **fields,
                **({"cleanup": [c for c in d.get("cleanup", []) if c not in kept]} if kept else {})}),
                before_replace=before)
        except JvpError as exc:
            if exc.code != "MetadataInvalid":
                raise
            # The outcome holds something the store refuses (text that would not read back): the task still
            # ends, failed, with a record that can be read, instead of staying "running" for good.
            log.error("task %s: its outcome (%s) cannot be recorded: %s", task_id, state, exc.message)
            doc = self._update(task_id, lambda d: final({
                **d, "state": "failed", "finished_at": rfc3339(), "eta_s": None, "result": None,
                "message": "internal error: the task's outcome could not be recorded",
                "error": {"code": "InternalError", "message": f"task {task_id} ended ({state}) but its outcome "
                          "could not be recorded; the server log has the details", "details": {},
                          "reason": None}}), before_replace=before)
        finally:
            settle()  # nothing was written (the record is gone, or a failure): still waited for, never lost
        if doc and doc.get("cleanup"):  # deferred cleanups: retried once the task is final
            self._schedule_retry()

    def _run_cleanups(self, task_id: str) -> int:
        """Run the task's cleanups (newest first); returns how many were deferred (kept for a retry)."""
        doc = self.store.get("task", task_id) or {}
        kept = []
        for spec in reversed(doc.get("cleanup", [])):
            fn = self._cleanups.get(spec.get("type"))
            if fn is None:
                log.error("task %s: no cleanup handler for %s", task_id, spec)
                continue
            try:
                fn(spec)
            except CleanupDeferred as exc:
                log.info("task %s: cleanup %s deferred: %s", task_id, spec, exc)
                kept.append(spec)
            except Exception:  # noqa: BLE001 - one failed cleanup must not stop the others
                log.exception("task %s: cleanup %s failed", task_id, spec)
        self._patch(task_id, {"cleanup": list(reversed(kept))})
        return len(kept)

    # -- reading, cancelling, recovering --------------------------------------------------------------
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

    def _interrupt(self, task_id: str, kind: str) -> bool:
        """Claim a dead process's open task, remove its partial output and mark it failed/interrupted.
        False when it is not ours to take (finished meanwhile, or another process claimed it first)."""
        claimed = []

        def claim(d: dict | None) -> dict | None:
            if not d or d["state"] not in ACTIVE or owner_alive(d.get("owner")):
                return None
            claimed.append(True)
            return {**d, "owner": this_process()}  # this process now owns the cleanup
        self.store.update("task", task_id, fn=claim)
        if not claimed:
            return False
        deferred = self._run_cleanups(task_id)
        self._finish(task_id, "failed", message="interrupted: the JVP process running it stopped",
                     error={"code": "TaskInterrupted", "reason": "interrupted", "details": {},
                            "message": "the JVP process that ran this task stopped before it finished; "
                                       + ("its partial output is removed as soon as the node releases it"
                                          if deferred else "its partial output was removed")})
        log.warning("task %s (%s) was interrupted: its process stopped; marked failed", task_id, kind)
        return True

    def recover(self) -> list[str]:
        """At start-up: mark the tasks of dead processes failed/interrupted and remove their partial
        output, retry deferred cleanups, and prune finished tasks beyond the retention."""
        recovered = [doc["id"] for doc in self._docs()[0]
                     if doc["state"] in ACTIVE and not owner_alive(doc.get("owner"))
                     and self._interrupt(doc["id"], doc["kind"])]
        # Cleanups a previous process deferred and did not live to retry.
        if self.retry_cleanups():
            self._schedule_retry()
        self.prune()
        return recovered

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

    def close(self) -> None:
        self._closed.set()
        with self._live_cv:
            self._live_cv.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
