"""What task work sees: the TaskHandle passed to `work(handle)` (progress, cancellation, cleanup
registration) and TaskCancelled, which handle.check_cancelled() raises once cancellation was asked for."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NOTE_INTERVAL_S = 0.05  # bare figures (no message, not forced) are noted in memory at most this often
CANCEL_POLL_INTERVAL_S = 0.5


class TaskCancelled(Exception):
    """Raised inside task work by handle.check_cancelled() once cancellation was asked for."""


@dataclass
class TaskHandle:
    """What task work sees: progress, cancellation and cleanup registration."""
    service: Any  # the TaskService running the task (not imported: service.py imports this module)
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
