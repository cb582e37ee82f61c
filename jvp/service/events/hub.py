"""The events stream's hub (README: Events): one per worker process. It gathers what happens, as JSON-ready
messages, and hands each to the open streams whose filter wants it.

Sources:
- `vm`: libvirt's domain events of every node, on this process's own connection to each node (the gateway's
  follow_vm_events; hypervisor/events.py). A watcher round every NODE_ROUND_S makes sure every node that
  answers is followed (a new node, a connection reopened after the node came back).
- `node`: the same round compares the node list and this process's health memory with the last round's:
  added, removed, unreachable, reachable.
- `task`, `audit`: files any worker writes under the data dir, polled every `poll_interval_s`
  (sources.py): task progress and state changes, audit entries.
The watcher thread runs only while streams are open; the first stream takes a baseline (nothing older is
reported), so a client fetches the current state once after `hello` and follows changes from there.

Rules: every role may follow `vm`, `task` and `node` messages (what list-vms, list-tasks and list-nodes show
a viewer); `audit` messages only the roles that may read the audit log (list-audit-events: admin). A stream
asks for kinds and nodes; a kind its role may not read is refused (403), an unknown node is 404.

Each stream has a bounded queue: a client that reads nothing while QUEUE_SIZE messages pile up is closed
(it reconnects and fetches afresh) rather than growing the server's memory. At most `max_streams` streams per
process (503 EventStreamLimitReached beyond); each holds one thread of its own (jvp/server/__init__.py).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from jvp.domain.event import KINDS, VmEvent
from jvp.domain.principal import Principal, Role
from jvp.errors import Forbidden, InvalidInput, JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.audit import AuditLog
from jvp.service.events.sources import AuditFollower, TaskFollower
from jvp.service.node import NodeService
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
QUEUE_SIZE = 2000
NODE_ROUND_S = 2.0
# The role each kind of message needs: the role of the listing that shows the same things (the composition
# root passes the roles those actions declare: list-vms, list-tasks, list-nodes, list-audit-events).
KIND_ROLES = {"vm": Role.VIEWER, "task": Role.VIEWER, "node": Role.VIEWER, "audit": Role.ADMIN}


class StreamClosed(Exception):
    """The stream's queue overflowed, or the server is stopping: `reason` says which."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


CLOSE_OVERFLOW = (4429, "EventQueueOverflow: the client read too slowly; reconnect and fetch afresh")
CLOSE_SHUTDOWN = (1001, "the server is stopping; reconnect")


@dataclass(eq=False)
class Stream:
    principal: Principal
    kinds: frozenset[str]
    nodes: frozenset[str] | None
    queue: "queue.Queue[dict[str, Any] | StreamClosed]" = field(default_factory=lambda: queue.Queue(QUEUE_SIZE))
    closed: StreamClosed | None = None

    def wants(self, msg: dict[str, Any]) -> bool:
        return msg["type"] in self.kinds and (self.nodes is None or msg.get("node") in self.nodes)

    def put(self, msg: dict[str, Any]) -> None:
        if self.closed is not None:
            return
        try:
            self.queue.put_nowait(msg)
        except queue.Full:
            self.end(*CLOSE_OVERFLOW)

    def end(self, code: int, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = StreamClosed(code, reason)
        while True:  # make room for the closing word; the client refetches anyway
            try:
                self.queue.put_nowait(self.closed)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    pass

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next message, None after `timeout` (time for a heartbeat); StreamClosed when it ended."""
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, StreamClosed):
            raise item
        return item


class EventHub:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, store: MetadataStore, audit: AuditLog, *,
                 max_streams: int, poll_interval_s: float, node_round_s: float = NODE_ROUND_S,
                 node_timeout_s: float = 5.0, kind_roles: dict[str, Role] | None = None):
        self.nodes = nodes
        self.kind_roles = {**KIND_ROLES, **(kind_roles or {})}
        self.gateway = gateway
        self.max_streams = max_streams
        self.poll_interval_s = poll_interval_s
        self.node_round_s = node_round_s
        self.node_timeout_s = node_timeout_s
        self._tasks = TaskFollower(store)
        self._audit = AuditFollower(audit)
        self._slots = threading.BoundedSemaphore(max_streams)
        self._streams: list[Stream] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._key = f"events-hub-{id(self)}"
        self._known_nodes: set[str] | None = None
        self._dead: set[str] = set()
        self._next_node_round = 0.0

    # -- opening and closing streams ------------------------------------------------------------------------
    def check(self, principal: Principal, kinds: list[str] | None, nodes: list[str] | None
              ) -> tuple[frozenset[str], frozenset[str] | None]:
        """The kinds and nodes a stream of this caller follows: all it may read when it names none; a kind
        it may not read is 403, an unknown kind 400, an unknown node 404."""
        unknown = [k for k in kinds or () if k not in KINDS]
        if unknown:
            raise InvalidInput(f"unknown event kind(s) {', '.join(map(repr, unknown))}: use "
                               f"{', '.join(KINDS)}", code="ValidationFailed",
                               details={"field_errors": {"kinds": [f"Must be one of: {', '.join(KINDS)}."]}})
        allowed = {k for k in KINDS if principal.role >= self.kind_roles[k]}
        if kinds:
            refused = [k for k in kinds if k not in allowed]
            if refused:
                need = max(self.kind_roles[k] for k in refused)
                raise Forbidden(f"{', '.join(refused)} events need the {need} role; token '{principal.name}' "
                                f"has {principal.role}", code="Forbidden",
                                details={"required_role": str(need), "role": str(principal.role)})
            chosen = frozenset(kinds)
        else:
            chosen = frozenset(allowed)
        if nodes:
            for node in nodes:
                self.nodes.record(node)  # 404 NodeNotFound
        return chosen, frozenset(nodes) if nodes else None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of this process's stream threads, for the stream's whole life (503 when none is free)."""
        if not self._slots.acquire(blocking=False):
            raise JvpError(f"this server process already serves {self.max_streams} event streams "
                           "(events.max_streams); close one, or retry later (the UI polls meanwhile)",
                           code="EventStreamLimitReached", status=503, details={"max_streams": self.max_streams})
        try:
            yield
        finally:
            self._slots.release()

    def open(self, principal: Principal, kinds: frozenset[str], nodes: frozenset[str] | None) -> Stream:
        stream = Stream(principal, kinds, nodes)
        with self._lock:
            if self._stopping:
                stream.end(*CLOSE_SHUTDOWN)
                return stream
            first = not self._streams
            self._streams.append(stream)
            if first:
                self._baseline()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events-watch", daemon=True)
                self._thread.start()
            self._wake.notify_all()
        return stream

    def close_stream(self, stream: Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def close(self) -> None:
        """The process stops: every stream ends with 1001 (its client reconnects to another worker)."""
        with self._lock:
            self._stopping = True
            streams = list(self._streams)
            self._wake.notify_all()
        for stream in streams:
            stream.end(*CLOSE_SHUTDOWN)

    # -- publishing -------------------------------------------------------------------------------------------
    def publish(self, msg: dict[str, Any]) -> None:
        """Hand a message to every open stream that wants it (never blocks: libvirt's event thread calls it)."""
        msg.setdefault("time", rfc3339())
        with self._lock:
            streams = [s for s in self._streams if s.wants(msg)]
        for stream in streams:
            stream.put(msg)

    def _on_vm_event(self, ev: VmEvent) -> None:
        msg: dict[str, Any] = {"type": "vm", "time": rfc3339(), "node": ev.node, "name": ev.name, "uuid": ev.uuid,
                               "event": ev.event}
        if ev.reason:
            msg["reason"] = ev.reason
        if ev.device:
            msg["device"] = ev.device
        self.publish(msg)

    # -- the watcher ------------------------------------------------------------------------------------------
    def _baseline(self) -> None:  # under self._lock, when the first stream opens
        try:
            self._tasks.baseline()
            self._audit.baseline()
        except Exception:  # noqa: BLE001 - the stream still carries libvirt's events
            log.exception("events: cannot read the task records or the audit log")
        self._next_node_round = 0.0
        self._known_nodes = None
        self._dead = set()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._streams and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    self._thread = None
                    return
            try:
                self.round()
            except Exception:  # noqa: BLE001 - the watcher must survive anything
                log.exception("events: watcher round failed")
            time.sleep(self.poll_interval_s)

    def round(self) -> None:
        """One watcher round (tests call it directly): tasks and audit entries, and every NODE_ROUND_S the
        nodes (followed for libvirt's events, and their list and health compared)."""
        with self._lock:
            kinds = set().union(*(s.kinds for s in self._streams)) if self._streams else set()
        if "task" in kinds:
            for msg in self._tasks.poll():
                self.publish(msg)
        else:
            self._tasks.poll()  # stays current, so a later stream does not get stale changes
        if "audit" in kinds:
            for msg in self._audit.poll():
                self.publish(msg)
        else:
            self._audit.poll()
        if time.monotonic() >= self._next_node_round:
            self._next_node_round = time.monotonic() + self.node_round_s
            self._node_round()

    def _node_round(self) -> None:
        names = self.nodes.names()
        current = set(names)
        known, self._known_nodes = self._known_nodes, current
        if known is not None:
            for node in sorted(current - known):
                self.publish({"type": "node", "node": node, "event": "added"})
            for node in sorted(known - current):
                self.publish({"type": "node", "node": node, "event": "removed"})
        dead = set(self.gateway.health.dead_nodes()) & current
        if known is not None:
            for node in sorted(dead - self._dead):
                gone = self.gateway.health.dead(node)
                self.publish({"type": "node", "node": node, "event": "unreachable",
                              **({"code": gone.code, "message": gone.message} if gone else {})})
            for node in sorted((self._dead & current) - dead):
                self.publish({"type": "node", "node": node, "event": "reachable"})
        self._dead = dead
        # Follow every node that answers: a no-op for connections already followed.
        self.gateway.fan_out(names, lambda n: self.gateway.follow_vm_events(n, self._key, self._on_vm_event),
                             self.node_timeout_s, what="answer the events follower")
