"""Connections to nodes: one shared libvirt connection per node, used by every thread.

libvirt connections are thread-safe. Each one gets libvirt keepalive (so a dead peer is noticed) and a close
callback; both need libvirt's default event loop, which runs in one daemon thread per process. A connection
found dead is reopened on the next use; a read-only call that fails because the connection dropped under it
is retried once on a fresh connection.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Callable, TypeVar

import libvirt

from jvp.errors import InvalidInput, JvpError, NodeUnreachable
from jvp.hypervisor.errors import is_connection_error, libvirt_details, map_libvirt_error
from jvp.hypervisor.health import NodeHealth

log = logging.getLogger(__name__)
T = TypeVar("T")

KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
REOPEN_BACKOFF_S = 1.0

_loop_lock = threading.Lock()
_loop_started = False

# The event loop pauses this long after each iteration. libvirt's client switches its watch on a connection's
# socket off and on around every RPC call (the calling thread does the call's I/O itself), and each switch
# wakes the loop's thread whenever that thread is inside poll(): two wake-ups per call, each a return to
# Python that must take the interpreter lock back from the threads doing the work. Paused in time.sleep, the
# loop is not inside poll(), the switches wake nobody, and whatever arrived meanwhile (events, keepalive
# answers, console data) is served at the next iteration. Measured on this host (qemu:///system, client CPU
# per call, interleaved): getLibVersion 78 -> 59 us, XMLDesc 99 -> 66 us, XMLDesc from 10 threads at once
# 146 -> 54 us (wall 167 -> 84 us per call), getAllDomainStats from 10 threads 206 -> 67 us. The same holds
# for volume streams, which used to get the pause alone: a blocking virStreamRecv/Send switches the watch
# too, and without the pause the loop's thread read much of a download off the socket itself (55,000
# context switches per 2 GiB against 23,000 with it; README: Storage pools and volumes, Speed). The cost: an
# event, a keepalive answer or a console's bytes wait at most LOOP_PAUSE_S longer; an idle loop blocks in
# poll() as before (its next timer is the keepalive), so the pause costs no CPU when nothing happens.
LOOP_PAUSE_S = 0.001
_iterations = 0  # loop iterations so far (tests: RPC calls no longer wake the loop)


def _silence_libvirt(_ctx, _err) -> None:
    """libvirt prints every error to stderr by default; JVP reports them itself."""


def start_event_loop() -> None:
    """Register libvirt's default event implementation and run it in a daemon thread (once per process).

    Must run before the first connection is opened, in the process that uses it (after gunicorn's fork)."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.registerErrorHandler(_silence_libvirt, None)
        libvirt.virEventRegisterDefaultImpl()

        threading.Thread(target=run_loop, args=(libvirt.virEventRunDefaultImpl, time.sleep),
                         name="libvirt-events", daemon=True).start()
        _loop_started = True


def run_loop(run_once: Callable[[], object], sleep: Callable[[float], object],
             until: Callable[[], bool] = lambda: False) -> None:
    """The event loop's thread: one iteration of libvirt's loop, then LOOP_PAUSE_S asleep (see there); an
    iteration that raises is logged and the loop goes on after half a second. `until` ends it (tests)."""
    global _iterations
    while not until():
        try:
            run_once()
        except Exception:  # noqa: BLE001 - the loop must survive anything
            log.exception("libvirt event loop iteration failed")
            sleep(0.5)
        _iterations += 1
        sleep(LOOP_PAUSE_S)


Opener = Callable[[str], libvirt.virConnect]


def open_libvirt(uri: str) -> libvirt.virConnect:
    """The real opener: libvirt's connection to `uri`, with the event loop it needs running first."""
    start_event_loop()
    return libvirt.open(uri)


def open_test_driver_only(uri: str) -> libvirt.virConnect:
    """The opener of `jvp serve --demo` (settings.demo): libvirt's test driver and nothing else, so a demo
    (and the fuzz gate, tests/fuzz) cannot reach this machine's libvirtd or any remote host, whatever URI
    create-node or modify-node is given. Refused before libvirt sees the URI."""
    if not uri.startswith("test:///"):
        raise InvalidInput(f"the demo only reaches libvirt's test driver (test:///...), not {uri!r}",
                           code="InvalidUri", details={"field_errors": {"uri": ["Only test:/// in the demo."]}})
    return open_libvirt(uri)


class NodeConnection:
    """The shared connection to one node.

    Opening runs in a thread of its own, outside the lock: a caller waits for it at most `open_timeout_s`
    and then gets NodeUnreachable, while the open goes on in the background (one per node at a time) and is
    used by whoever comes next once it succeeds. A node that accepts TCP but never answers therefore costs
    each caller at most the timeout, and never blocks callers of other nodes or of this one beyond it."""

    def __init__(self, node: str, uri: str, open_timeout_s: float | None = None, opener: Opener = open_libvirt):
        self.node = node
        self.uri = uri
        self.open_timeout_s = open_timeout_s
        self._opener = opener  # tests give a fake; everything else opens through libvirt
        self._conn: libvirt.virConnect | None = None
        self._dead = False
        # libvirt calls self._closed when the connection drops (EOF, keepalive timeout, error): with that
        # callback registered, get() trusts _dead instead of asking isAlive() on every call
        self._watched = False
        self._lock = threading.Lock()
        self._opening: Future | None = None
        self._generation = 0  # bumped by close(): an open that finishes after it is discarded
        self._last_failure: tuple[float, JvpError] | None = None
        self.last_error: str | None = None

    # -- opening ------------------------------------------------------------------------------------
    def _error_text(self, exc: libvirt.libvirtError) -> str:
        text = exc.get_error_message() or str(exc)
        if self.uri.startswith("test://") and self.uri != "test:///default":
            # The test driver's parse error quotes the file's content after its first line: keep only
            # "<file>:<line>: <problem>", never what the file holds.
            text = text.splitlines()[0] if text else text
        return text

    def _open(self) -> tuple[libvirt.virConnect, bool]:
        """The new connection, and whether its close callback is registered."""
        try:
            conn = self._opener(self.uri)
        except libvirt.libvirtError as exc:
            text = self._error_text(exc)
            details = libvirt_details(exc)
            details["libvirt_error"]["message"] = text
            raise NodeUnreachable(f"cannot connect to node '{self.node}' at {self.uri}: {text}",
                                  details={"node": self.node, "uri": self.uri, **details}) from exc
        if conn is None:  # pragma: no cover - old bindings returned None instead of raising
            raise NodeUnreachable(f"cannot connect to node '{self.node}' at {self.uri}",
                                  details={"node": self.node, "uri": self.uri})
        try:
            conn.setKeepAlive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
        except libvirt.libvirtError:
            pass  # local drivers (test:///) have no keepalive; nothing to watch there
        try:
            conn.registerCloseCallback(self._closed, None)
        except libvirt.libvirtError:
            return conn, False
        return conn, True

    def _run_open(self, fut: Future, generation: int) -> None:
        """In the opening thread: open, then install the connection (unless close() came meanwhile)."""
        try:
            conn, watched = self._open()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            with self._lock:
                self._opening = None
                if isinstance(exc, JvpError):
                    self._last_failure = (time.monotonic(), exc)
                    self.last_error = exc.message
            fut.set_exception(exc)
            return
        with self._lock:
            self._opening = None
            stale = generation != self._generation
            if not stale:
                self._conn, self._dead, self._last_failure, self.last_error = conn, False, None, None
                self._watched = watched
        if stale:
            self._close_quietly(conn)
            fut.set_exception(NodeUnreachable(f"the connection to node '{self.node}' was closed while it "
                                              "was being opened; try again",
                                              details={"node": self.node, "uri": self.uri}))
            return
        fut.set_result(conn)

    def _closed(self, _conn, reason, _opaque) -> None:
        log.warning("connection to node %s closed (reason %s)", self.node, reason)
        self._dead = True

    def get(self) -> libvirt.virConnect:
        """The live connection, reopened if it died. Raises NodeUnreachable (also when opening takes
        longer than open_timeout_s).

        Whether it died: the close callback's mark when libvirt took the callback (it calls it whenever the
        client closes: EOF, a keepalive timeout, a socket error, in the event loop or in a calling thread),
        else isAlive(). isAlive() is a check of the client's own state that answers what the callback
        reports, but it is a call into libvirt: it lets go of the interpreter lock, which under concurrent
        requests hands the lock to another thread and back (a context switch or two per request per node).
        A connection that dies between the mark and a call makes that call fail as a connection error:
        call() marks it dead and retries reads once on a new connection, as before."""
        with self._lock:
            conn = self._conn
            if conn is not None and not self._dead:
                if self._watched:
                    return conn
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
            if conn is not None:
                self._discard(conn)
            fut = self._opening
            if fut is None:
                if self._last_failure and time.monotonic() - self._last_failure[0] < REOPEN_BACKOFF_S:
                    raise self._last_failure[1]
                fut = self._opening = Future()
                threading.Thread(target=self._run_open, args=(fut, self._generation), daemon=True,
                                 name=f"libvirt-open-{self.node}").start()
        try:
            return fut.result(timeout=self.open_timeout_s)
        except FutureTimeout:
            err = NodeUnreachable(f"cannot connect to node '{self.node}' at {self.uri}: no answer within "
                                  f"{self.open_timeout_s:g}s (the node accepts connections but libvirt does "
                                  "not respond)",
                                  details={"node": self.node, "uri": self.uri, "timeout_s": self.open_timeout_s})
            self.last_error = err.message
            raise err from None

    def current(self) -> libvirt.virConnect | None:
        """The open connection when it is alive, else None: never opens one, never waits (whether it died:
        as get() tells it; isAlive is a check of the client's own state, no call to the node)."""
        conn = self._conn
        if conn is None or self._dead:
            return None
        if self._watched:
            return conn
        try:
            return conn if conn.isAlive() else None
        except libvirt.libvirtError:
            return None

    @staticmethod
    def _close_quietly(conn: libvirt.virConnect) -> None:
        try:
            conn.unregisterCloseCallback()
        except libvirt.libvirtError:
            pass
        try:
            conn.close()
        except libvirt.libvirtError:
            pass

    def _discard(self, conn: libvirt.virConnect) -> None:
        self._conn = None
        self._close_quietly(conn)

    def mark_dead(self, conn: libvirt.virConnect) -> None:
        with self._lock:
            if self._conn is conn:
                self._discard(conn)

    # -- using --------------------------------------------------------------------------------------
    def call(self, fn: Callable[[libvirt.virConnect], T], *, retry: bool = False) -> T:
        """Run fn(conn). A connection-level failure marks the connection dead and becomes NodeUnreachable;
        with retry=True (for calls that are safe to repeat) it is tried once more on a fresh connection."""
        conn = self.get()
        try:
            return fn(conn)
        except libvirt.libvirtError as exc:
            if not is_connection_error(exc, conn):
                raise
            self.mark_dead(conn)
            if retry:
                log.info("connection to node %s dropped; retrying once on a new connection", self.node)
                self._last_failure = None
                conn = self.get()
                try:
                    return fn(conn)
                except libvirt.libvirtError as exc2:
                    if is_connection_error(exc2, conn):
                        self.mark_dead(conn)
                        raise self._unreachable(exc2) from exc2
                    raise
            raise self._unreachable(exc) from exc

    def call_mapped(self, fn: Callable[[libvirt.virConnect], T], *, retry: bool = False,
                    kind: str | None = None, obj: str | None = None, action: str | None = None) -> T:
        """call(), with libvirt errors turned into JvpErrors naming the resource (the one error table), so
        that services never handle libvirt exceptions themselves."""
        try:
            return self.call(fn, retry=retry)
        except libvirt.libvirtError as exc:
            raise map_libvirt_error(exc, node=self.node, kind=kind, name=obj, action=action) from exc

    def _unreachable(self, exc: libvirt.libvirtError) -> NodeUnreachable:
        self.last_error = exc.get_error_message()
        return NodeUnreachable(f"lost the connection to node '{self.node}' ({self.uri}): "
                               f"{exc.get_error_message()}",
                               details={"node": self.node, "uri": self.uri, **libvirt_details(exc)})

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            if self._conn is not None:
                self._discard(self._conn)


class ConnectionPool:
    """Every node's NodeConnection, keyed by node name; replaced when a node's URI changes. `health` is the
    memory of the nodes that do not answer (jvp/hypervisor/health.py), probed every `probe_interval_s`."""

    def __init__(self, open_timeout_s: float | None = None, opener: Opener = open_libvirt,
                 probe_interval_s: float = 5.0) -> None:
        self.opener = opener
        self._conns: dict[str, NodeConnection] = {}
        self._lock = threading.Lock()
        self.open_timeout_s = open_timeout_s  # the setting node_timeout_s: bound on opening a connection
        self.health = NodeHealth(self._probe, interval_s=probe_interval_s, timeout_s=open_timeout_s or 5.0)

    def _probe(self, node: str) -> None:
        """The health probe: one cheap read on the node's connection (reopened if it died)."""
        with self._lock:
            nc = self._conns.get(node)
        if nc is None:  # forgotten meanwhile: nothing to watch
            self.health.forget(node)
            return
        nc.call(lambda c: c.getLibVersion(), retry=True)

    def get(self, node: str, uri: str) -> NodeConnection:
        with self._lock:
            nc = self._conns.get(node)
            if nc is None or nc.uri != uri:
                if nc is not None:
                    nc.close()
                    self.health.forget(node)  # a new URI starts with a clean slate
                nc = self._conns[node] = NodeConnection(node, uri, self.open_timeout_s, self.opener)
            return nc

    def peek(self, node: str, uri: str) -> NodeConnection | None:
        """The node's NodeConnection when one exists for `uri`; nothing is created or replaced."""
        with self._lock:
            nc = self._conns.get(node)
        return nc if nc is not None and nc.uri == uri else None

    def forget(self, node: str) -> None:
        with self._lock:
            nc = self._conns.pop(node, None)
        self.health.forget(node)
        if nc is not None:
            nc.close()

    def close_all(self) -> None:
        self.health.close()
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for nc in conns:
            nc.close()
