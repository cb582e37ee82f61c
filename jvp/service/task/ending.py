"""How a task ends: its final state, in one write (`_finish`, with the final-state hook); its partial output
removed by the cleanup handlers when it failed or was cancelled (`_run_cleanups`); and the end of a task whose
process died, found when a live worker reads it (`_reap_if_dead`) or at start-up (`recover`): claimed, cleaned
up and marked failed with reason `interrupted`."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from jvp.domain.task import ACTIVE
from jvp.errors import JvpError
from jvp.service.task.cleanup import CleanupDeferred
from jvp.service.task.owner import owner_alive, this_process
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)


class TaskEnding:
    """Mixed into TaskService (which provides store, _on_final and _cleanups, and through its other mixins
    _docs and view (reading.py), _update, _patch, retry_cleanups, _schedule_retry and prune)."""
    store: Any
    _on_final: Callable[[dict[str, Any]], Any] | None
    _cleanups: dict[str, Callable[[dict[str, Any]], None]]

    def _reap_if_dead(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A pending or running task whose owner process is gone (a gunicorn worker that died or was
        replaced while the others live) is interrupted now, as start-up recovery would do, so it neither
        blocks its resource nor shows as running until the next restart."""
        if doc["state"] not in ACTIVE or owner_alive(doc.get("owner")):
            return doc
        self._interrupt(doc["id"], doc["kind"])
        return self.store.get("task", doc["id"]) or doc

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
