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
from typing import Callable, TypeVar

import libvirt

from jvp.errors import JvpError, NodeUnreachable
from jvp.hypervisor.errors import is_connection_error, libvirt_details

log = logging.getLogger(__name__)
T = TypeVar("T")

KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
REOPEN_BACKOFF_S = 1.0

_loop_lock = threading.Lock()
_loop_started = False


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

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # noqa: BLE001 - the loop must survive anything
                    log.exception("libvirt event loop iteration failed")
                    time.sleep(0.5)

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


class NodeConnection:
    """The shared connection to one node."""

    def __init__(self, node: str, uri: str):
        self.node = node
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._dead = False
        self._lock = threading.Lock()
        self._last_failure: tuple[float, JvpError] | None = None
        self.last_error: str | None = None

    # -- opening ------------------------------------------------------------------------------------
    def _open(self) -> libvirt.virConnect:
        start_event_loop()
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise NodeUnreachable(f"cannot connect to node '{self.node}' at {self.uri}: "
                                  f"{exc.get_error_message()}",
                                  details={"node": self.node, "uri": self.uri, **libvirt_details(exc)}) from exc
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
            pass
        return conn

    def _closed(self, _conn, reason, _opaque) -> None:
        log.warning("connection to node %s closed (reason %s)", self.node, reason)
        self._dead = True

    def get(self) -> libvirt.virConnect:
        """The live connection, reopened if it died. Raises NodeUnreachable."""
        with self._lock:
            conn = self._conn
            if conn is not None and not self._dead:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
            if conn is not None:
                self._discard(conn)
            if self._last_failure and time.monotonic() - self._last_failure[0] < REOPEN_BACKOFF_S:
                raise self._last_failure[1]
            try:
                self._conn = self._open()
            except JvpError as exc:
                self._last_failure = (time.monotonic(), exc)
                self.last_error = exc.message
                raise
            self._dead = False
            self._last_failure = None
            self.last_error = None
            return self._conn

    def _discard(self, conn: libvirt.virConnect) -> None:
        self._conn = None
        try:
            conn.unregisterCloseCallback()
        except libvirt.libvirtError:
            pass
        try:
            conn.close()
        except libvirt.libvirtError:
            pass

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

    def _unreachable(self, exc: libvirt.libvirtError) -> NodeUnreachable:
        self.last_error = exc.get_error_message()
        return NodeUnreachable(f"lost the connection to node '{self.node}' ({self.uri}): "
                               f"{exc.get_error_message()}",
                               details={"node": self.node, "uri": self.uri, **libvirt_details(exc)})

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._discard(self._conn)


class ConnectionPool:
    """Every node's NodeConnection, keyed by node name; replaced when a node's URI changes."""

    def __init__(self) -> None:
        self._conns: dict[str, NodeConnection] = {}
        self._lock = threading.Lock()

    def get(self, node: str, uri: str) -> NodeConnection:
        with self._lock:
            nc = self._conns.get(node)
            if nc is None or nc.uri != uri:
                if nc is not None:
                    nc.close()
                nc = self._conns[node] = NodeConnection(node, uri)
            return nc

    def forget(self, node: str) -> None:
        with self._lock:
            nc = self._conns.pop(node, None)
        if nc is not None:
            nc.close()

    def close_all(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for nc in conns:
            nc.close()
