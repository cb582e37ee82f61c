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
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import libvirt

from jvp.hypervisor.connection import ConnectionPool, NodeConnection

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


class GatewayBase:
    def __init__(self, connections: ConnectionPool, locate: Locate) -> None:
        self._connections = connections
        self._locate = locate

    # -- the one place a node's connection is used ---------------------------------------------------
    def connection(self, node: str) -> NodeConnection:
        name, uri = self._locate(node)
        return self._connections.get(name, uri)

    def _call(self, node: str, fn: Callable[[Conn], T], *, retry: bool, kind: str | None,
              obj: str | None = None, action: str | None = None) -> T:
        return self.connection(node).call_mapped(fn, retry=retry, kind=kind, obj=obj, action=action)

    def _read(self, node: str, fn: Callable[[Conn], T], *, kind: str | None, obj: str | None = None,
              action: str | None = None) -> T:
        """A read: retried once on a fresh connection when the connection dropped under it."""
        return self._call(node, fn, retry=True, kind=kind, obj=obj, action=action)

    def _write(self, node: str, fn: Callable[[Conn], T], *, kind: str | None, obj: str | None = None,
               action: str | None = None) -> T:
        """A change: never retried (it may have happened before the connection dropped)."""
        return self._call(node, fn, retry=False, kind=kind, obj=obj, action=action)

    # -- connections ---------------------------------------------------------------------------------
    def reconnect(self, node: str, uri: str) -> None:
        """Use `uri` for `node` from now on (a node's URI changed): the old connection is closed."""
        self._connections.get(node, uri)

    def forget(self, node: str) -> None:
        self._connections.forget(node)

    def close(self) -> None:
        self._connections.close_all()

    def run_raw(self, node: str, fn: Callable[[Conn], Any]) -> Any:
        """fn(conn) on the node's raw connection: for tests and diagnostics only. No service may use it
        (tests/unit/test_layers.py checks)."""
        return self._call(node, fn, retry=False, kind=None)
