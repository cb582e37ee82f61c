"""Task retention: finished task records older than task_retention_days, or beyond the newest
task_retention_count finished ones, are deleted at start-up (`recover`) and then at most every
PRUNE_INTERVAL_S, in the background, when a task is submitted. Open tasks and finished ones whose cleanups
are still pending are kept."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from jvp.domain.task import ACTIVE
from jvp.service.task.cleanup import _epoch

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 600.0  # finished tasks beyond the retention are pruned at most this often (on submit)


class TaskRetention:
    """Mixed into TaskService (which provides store, _docs, _final and _final_lock)."""
    store: Any
    _final: dict[str, dict[str, Any]]
    _final_lock: threading.Lock

    def _init_retention(self, retention_days: float, retention_count: int) -> None:
        self.retention_s = retention_days * 86400
        self.retention_count = retention_count
        self._next_prune = time.monotonic() + PRUNE_INTERVAL_S

    def prune(self) -> int:
        """Delete finished task records older than the retention age or beyond the newest retention_count
        finished ones. Open tasks and finished ones whose cleanups are still pending are kept."""
        finished = [d for d in self._docs()[0] if d["state"] not in ACTIVE and not d.get("cleanup")]
        finished.sort(key=lambda d: d.get("finished_at") or d["created_at"], reverse=True)
        cutoff = time.time() - self.retention_s
        drop = [d["id"] for i, d in enumerate(finished)
                if i >= self.retention_count or _epoch(d.get("finished_at") or d["created_at"]) < cutoff]
        for task_id in drop:
            self.store.delete("task", task_id)
            with self._final_lock:
                self._final.pop(task_id, None)
        if drop:
            log.info("pruned %d finished task records (retention: %g days, %d tasks)", len(drop),
                     self.retention_s / 86400, self.retention_count)
        return len(drop)

    def _maybe_prune(self) -> None:
        """Prune in the background when the last prune is PRUNE_INTERVAL_S old (checked on submit)."""
        now = time.monotonic()
        with self._final_lock:
            if now < self._next_prune:
                return
            self._next_prune = now + PRUNE_INTERVAL_S

        def run() -> None:
            try:
                self.prune()
            except Exception:  # noqa: BLE001 - pruning is housekeeping; the next interval tries again
                log.exception("pruning finished tasks failed")
        threading.Thread(target=run, name="task-prune", daemon=True).start()
