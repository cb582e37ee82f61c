"""The gateway's core: one place that turns "run this on node N" into a libvirt call on N's shared connection,
with the retry policy and the error context (which resource, which action) of the operation.

Every typed operation of the gateway (the mixins in this package) is a method that names its resource kind
and its policy once:

    def vm_state(self, node: str, name: str) -> str:
        return self._read(node, lambda c: domain.state(c, name), kind="vm", obj=name)

`_read` retries once on a fresh connection when the connection dropped under the call (safe for reads);
`_write` never retries (a write may have happened). libvirt errors leave as JvpErrors through the one table
in jvp/hypervisor/errors.py. Services never see a libvirt connection, a libvirt object or an lxml element.

The gateway does not know where nodes are: `locate(node)` (given by the composition root, backed by the node
directory in the metadata store) answers the node's (name, uri) or raises NodeNotFound.

The gateway also keeps the nodes' health (`health`, jvp/hypervisor/health.py): a call that finds a node
unreachable marks it dead, a call that succeeds marks it alive, and `fan_out` (the one way a listing runs
over several nodes) skips known-dead nodes, runs the others in parallel on a bounded pool and marks the
nodes it gave up waiting for (NodeTimeout). A node whose driver runs inside this process (libvirt's test
driver, `test:///`) is called in the caller's thread instead: it never waits on I/O, so a pool thread could
overlap nothing and only adds the hand-off and the GIL's contention between threads (10 such nodes listed
through the pool cost about twice the same calls one after the other).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Sequence, TypeVar

import libvirt

from jvp.errors import JvpError
from jvp.hypervisor import ref_index
from jvp.hypervisor.connection import ConnectionPool, NodeConnection
from jvp.hypervisor.errors import map_libvirt_error
from jvp.hypervisor.health import NodeHealth
from jvp.hypervisor.host_cache import HOST_FACTS
from jvp.hypervisor.listing_memo import LISTING

T = TypeVar("T")
Locate = Callable[[str], tuple[str, str]]
Conn = libvirt.virConnect


@contextmanager
def translated(error: type[Exception], answer: Callable[[Any], Exception]) -> Iterator[None]:
    """Within the block, an `error` of the hypervisor layer is raised as `answer(exc)` (a JvpError with the
    node's context), chained to it."""
    try:
        yield
    except error as exc:
        raise answer(exc) from exc


# What makes a node "dead" for the health memory: it does not answer (not: it refused an operation).
DEAD_CODES = frozenset({"NodeUnreachable", "NodeTimeout"})
FAN_OUT_WORKERS = 16


@dataclass
class NodeResult(Generic[T]):
    """One node's share of a fan-out: its value, or the listing error entry {node, code, message}."""
    node: str
    value: T | None = None
    error: dict[str, str] | None = None


class GatewayBase:
    def __init__(self, connections: ConnectionPool, locate: Locate) -> None:
        self._connections = connections
        self._locate = locate
        self._fan_out_pool = ThreadPoolExecutor(max_workers=FAN_OUT_WORKERS, thread_name_prefix="node-fan-out")
        connections.health.probe = self._health_probe  # probe through the node's record, not a stale URI

    @property
    def health(self) -> NodeHealth:
        return self._connections.health

    # -- the one place a node's connection is used ---------------------------------------------------
    def connection(self, node: str) -> NodeConnection:
        name, uri = self._locate(node)
        return self._connections.get(name, uri)

    def _call(self, node: str, fn: Callable[[Conn], T], *, retry: bool, kind: str | None,
              obj: str | None = None, action: str | None = None) -> T:
        nc = self.connection(node)
        try:
            result = nc.call(fn, retry=retry)
        except libvirt.libvirtError as exc:
            # the node answered (with an error about the operation): it is alive; a dropped connection
            # never gets here (NodeConnection.call raises NodeUnreachable for it)
            self.health.mark_alive(nc.node)
            raise map_libvirt_error(exc, node=nc.node, kind=kind, name=obj, action=action) from exc
        except JvpError as exc:  # from the connection itself: cannot open, timed out, dropped
            if exc.code in DEAD_CODES:
                self.health.mark_dead(nc.node, exc.code, exc.message)
            raise
        self.health.mark_alive(nc.node)
        return result

    def _health_probe(self, node: str) -> None:
        """The health memory's probe: a cheap read through the node's current record (a node deleted
        meanwhile, by this worker or another, is forgotten rather than probed forever)."""
        try:
            self.connection(node)
        except JvpError as exc:
            if exc.code == "NodeNotFound":
                self.health.forget(node)
                return
            raise
        self._read(node, lambda c: c.getLibVersion(), kind="node", obj=node)

    # -- several nodes at once -----------------------------------------------------------------------
    def fan_out(self, nodes: Sequence[str], fn: Callable[[str], T], timeout_s: float, *,
                skip_dead: bool = True, what: str = "answer") -> list[NodeResult[T]]:
        """fn(node) for every node, in parallel on a bounded pool, waited for together at most timeout_s;
        results in the order of `nodes`. A node known dead is not called (skip_dead; a listing addressed
        to one node passes False and tries it), its error entry comes at once. A node that does not answer
        in time gets NodeTimeout and is marked dead (its call goes on in the background; its success
        would mark it alive). Other JvpErrors become error entries; anything else propagates."""
        results = [NodeResult(n) for n in nodes]
        futures, inline = {}, []
        for r in results:
            dead = self.health.dead(r.node) if skip_dead else None
            if dead is not None:
                r.error = dead.listing_error(self.health.interval_s)
            elif self._in_process(r.node):
                inline.append(r)
            else:
                futures[r.node] = self._fan_out_pool.submit(fn, r.node)
        deadline = time.monotonic() + timeout_s  # one bound for all nodes, not one per node
        for r in inline:  # while the pool's nodes answer (their I/O overlaps this)
            try:
                r.value = fn(r.node)
            except JvpError as exc:
                r.error = {"node": r.node, "code": exc.code, "message": exc.message}
        for r in results:
            fut = futures.get(r.node)
            if fut is None:
                continue
            try:
                r.value = fut.result(timeout=max(deadline - time.monotonic(), 0.01))
            except FutureTimeout:
                message = f"node '{r.node}' did not {what} within {timeout_s:g}s"
                self.health.mark_dead(r.node, "NodeTimeout", message)
                r.error = {"node": r.node, "code": "NodeTimeout", "message": message}
            except JvpError as exc:
                r.error = {"node": r.node, "code": exc.code, "message": exc.message}
        return results

    def _in_process(self, node: str) -> bool:
        """Whether the node's driver runs inside this process (`test:///`: no daemon, no I/O to wait on)."""
        try:
            return self._locate(node)[1].startswith("test:///")
        except JvpError:
            return False  # the pool's call reports it

    def _read(self, node: str, fn: Callable[[Conn], T], *, kind: str | None, obj: str | None = None,
              action: str | None = None) -> T:
        """A read: retried once on a fresh connection when the connection dropped under it."""
        return self._call(node, fn, retry=True, kind=kind, obj=obj, action=action)

    def _check(self, node: str, fn: Callable[[Conn], T], *, kind: str | None, obj: str | None = None,
               action: str | None = None) -> T:
        """A read that guards a change (who else uses this disk, network or MAC): a read whose usage answers
        come from the reference index made exact (hypervisor/ref_index.py `exact`), so a domain another client
        defined or undefined a moment ago counts even before its event arrives."""
        def exactly(conn: Conn) -> T:
            with ref_index.exact():
                return fn(conn)
        return self._read(node, exactly, kind=kind, obj=obj, action=action)

    def _write(self, node: str, fn: Callable[[Conn], T], *, kind: str | None, obj: str | None = None,
               action: str | None = None) -> T:
        """A change: never retried (it may have happened before the connection dropped). Whatever it changed,
        the node's kept VM counts (hypervisor/host_cache.py), transient domains and network names
        (hypervisor/listing_memo.py) are read again at the next listing, without waiting for libvirt's event."""
        def change(conn: Conn) -> T:
            try:
                return fn(conn)
            finally:
                HOST_FACTS.changed(conn)
                LISTING.changed(conn)
        return self._call(node, change, retry=False, kind=kind, obj=obj, action=action)

    # -- connections ---------------------------------------------------------------------------------
    def reconnect(self, node: str, uri: str) -> None:
        """Use `uri` for `node` from now on (a node's URI changed): the old connection is closed."""
        self._connections.get(node, uri)

    def forget(self, node: str) -> None:
        self._connections.forget(node)

    def close(self) -> None:
        self._fan_out_pool.shutdown(wait=False, cancel_futures=True)
        self._connections.close_all()

    def run_raw(self, node: str, fn: Callable[[Conn], Any]) -> Any:
        """fn(conn) on the node's raw connection: for tests and diagnostics only. No service may use it
        (tests/unit/test_layers.py checks). It may change anything: counted as a change (see _write)."""
        return self._write(node, fn, kind=None)
