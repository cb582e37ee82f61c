"""Node health memory: which nodes are known dead, and the background probe that finds them back.

A node is marked dead when a call to it fails because the node does not answer: its connection cannot be
opened (refused, or no answer within `node_timeout_s`: NodeUnreachable), the connection dropped, or an
all-node listing gave up waiting for it (NodeTimeout). All-node listings skip a dead node and show it in
their `errors` at once, with the code it was marked with, instead of waiting on it again.

One daemon thread probes the dead nodes every `interval_s` (a cheap read on the node's connection, each in
a thread of its own, waited for at most `timeout_s`; a probe still running is not started again, so a node
hung mid-call costs one thread, not one per round). A probe that answers marks the node alive; so does any
other call to that node that succeeds (an explicit describe-node or action on it still tries once, bounded
as every call is, and refreshes the memory either way).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadNode:
    node: str
    code: str  # NodeUnreachable or NodeTimeout: the code the listing's `errors` show for it
    message: str  # the failure that marked it
    since: float  # time.monotonic() of the first failure

    def listing_error(self, interval_s: float) -> dict[str, str]:
        """The entry an all-node listing shows for it without calling it."""
        age = time.monotonic() - self.since
        return {"node": self.node, "code": self.code,
                "message": f"{self.message} (node marked unreachable {age:.0f}s ago and skipped; "
                           f"probed every {interval_s:g}s, listed again once it answers)"}


class NodeHealth:
    """The dead nodes of one process and their prober. `probe(node)` returns when the node answered and
    raises otherwise; `exists(node)` says whether the node is still to be watched (not forgotten)."""

    def __init__(self, probe: Callable[[str], object], interval_s: float = 5.0, timeout_s: float = 5.0):
        self.probe = probe  # the gateway replaces it with one that goes through the node's record
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._dead: dict[str, DeadNode] = {}
        self._inflight: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the memory ----------------------------------------------------------------------------------
    def dead(self, node: str) -> DeadNode | None:
        return self._dead.get(node)

    def dead_nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._dead)

    def mark_dead(self, node: str, code: str, message: str) -> None:
        with self._lock:
            old = self._dead.get(node)
            if old is None:
                log.warning("node %s marked unreachable (%s): %s", node, code, message)
            # the first failure's code stays (a listing shows a stable code while the node stays dead)
            self._dead[node] = DeadNode(node, old.code if old else code, message,
                                        old.since if old else time.monotonic())
            self._start()

    def mark_alive(self, node: str) -> None:
        if node not in self._dead:  # the common case: no lock taken
            return
        with self._lock:
            if self._dead.pop(node, None) is not None:
                log.info("node %s answers again", node)

    def forget(self, node: str) -> None:
        """A node deleted or given a new URI: its memory goes (the next call starts afresh)."""
        with self._lock:
            self._dead.pop(node, None)

    # -- the prober ----------------------------------------------------------------------------------
    def _start(self) -> None:  # under self._lock
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="node-health", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.probe_now()
            except Exception:  # noqa: BLE001 - the prober must survive anything
                log.exception("node health probe round failed")

    def probe_now(self, wait: bool = True) -> None:
        """Probe every dead node once (the prober's round; tests call it directly). Each probe runs in a
        thread of its own and is waited for at most timeout_s (together, not one after another)."""
        started = []
        with self._lock:
            for node in self._dead:
                t = self._inflight.get(node)
                if t is not None and t.is_alive():
                    continue  # the last probe of this node has not returned: do not pile up threads
                t = threading.Thread(target=self._probe_one, args=(node,), name=f"node-probe-{node}",
                                     daemon=True)
                self._inflight[node] = t
                started.append(t)
        for t in started:
            t.start()
        if wait:
            deadline = time.monotonic() + self.timeout_s
            for t in started:
                t.join(max(deadline - time.monotonic(), 0))

    def _probe_one(self, node: str) -> None:
        try:
            self.probe(node)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the node dead
            with self._lock:
                old = self._dead.get(node)
                if old is not None:
                    self._dead[node] = DeadNode(node, old.code, getattr(exc, "message", None) or str(exc),
                                                old.since)
            return
        self.mark_alive(node)

    def close(self) -> None:
        self._stop.set()
