"""VM consoles (SPEC 2.9): one-time tokens from get-vm-console, then a websocket relayed to the VM's VNC
display or serial console.

Rules (also in the README):
- A console needs the operator role, a VM whose QEMU process runs (running or paused; otherwise 409
  InvalidState) and the device: VNC graphics with a listener, or a serial console libvirt can stream (pty or
  unix); otherwise 422 ConsoleNotAvailable. On libvirt's test driver (the demo) a serial console, or a VNC
  display without a port, is 422 ConsoleNotAvailable with details.reason "test-driver": it has no console
  stream. get-vm-console checks all of it before it hands out a token, and
  for VNC it also opens (and closes at once) the very connection the websocket will use: TCP or the unix
  socket, or the SSH tunnel of a qemu+ssh node, so that an unreachable display (502 ConsoleUnreachable), an
  unknown or changed SSH host key (422 SshHostKeyUnknown / SshHostKeyMismatch), refused SSH credentials
  (502 NodeAuthFailed) or refused forwarding come back as its JSON error, where the UI shows them. The
  websocket then fails only when things changed in the minute since (a browser sees nothing but a refused
  handshake; the console page asks get-vm-console again to show why).
- A non-ssh remote node's loopback (or unix socket) VNC is reached only when libvirt shows the node to be this
  very host (jvp/hypervisor/console.py: host UUID, host name and the same running domain, compared through
  a local connection to the same driver); never from what its URI's address looks like.
- A token is bound to node, VM and console type, and to the API token that asked: when the websocket opens,
  that API token must still exist with a role that may open consoles (a revoked token's consoles cannot be
  opened any more). A websocket that names another VM (`?node=&name=`) or another type than the token's is
  refused (403 ConsoleTokenMismatch), and the token is used up all the same: a token is tried once.
- At most `console.max_sessions` consoles per worker process at once (503 ConsoleLimitReached beyond), on
  threads of their own: API requests keep the `threads` budget whatever the consoles do.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

from jvp.domain.console import ConsoleGrant, LiveConsoles, VncRoute, not_available
from jvp.domain.principal import Principal, Role
from jvp.errors import Forbidden, JvpError, Unauthorized
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.auth import TokenService
from jvp.service.console.relay import (CLOSE_CONSOLE_ENDED, CLOSE_VM_STOPPED, Channel, ConsoleRelay, RelayResult,
                                       WebSocketLike, serial_user_input, vnc_user_input)
from jvp.service.console.tokens import ConsoleTokens
from jvp.service.node import NodeService
from jvp.service.vm.rules import state_error

log = logging.getLogger(__name__)
STOP_SETTLE_S = 3.0  # after a console ends, how long the VM may take to show as stopped (the default)


@dataclass
class ConsoleSession:
    grant: ConsoleGrant
    channel: Channel
    route: str  # how the console is reached: serial-stream, tcp, unix, ssh


@dataclass(eq=False)
class ConsoleService:
    nodes: NodeService
    gateway: NodeGateway
    tokens: ConsoleTokens
    api_tokens: TokenService
    _: KW_ONLY
    auth: bool
    idle_timeout_s: int
    max_sessions: int
    connect_timeout_s: float
    stop_settle_s: float = STOP_SETTLE_S

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_sessions)
        self._open = 0
        self._open_lock = threading.Lock()

    # -- get-vm-console ------------------------------------------------------------------------------
    def issue(self, node: str, name: str, type_: str, principal: Principal) -> dict[str, Any]:
        self.nodes.record(node)  # 404 for an unknown node before anything else
        live = self._live(node, name)
        self._check(live, node, name, type_)
        if type_ == "vnc":
            route = self.gateway.vnc_route(node, live, name)  # 422 when this host cannot reach it
            self._connect_vnc(route, node, name).close()  # and it answers now (the real error if not)
        token, grant = self.tokens.issue(node, name, type_, str(principal.role), principal.name)
        query = urlencode({"token": token, "node": node, "name": name})
        return {"token": token, "ws_url": f"/ws/{type_}?{query}", "expires_at": grant.expires_at,
                "node": node, "name": name, "type": type_}

    def _live(self, node: str, name: str) -> LiveConsoles:
        return self.gateway.live_consoles(node, name)

    @staticmethod
    def _check(live: LiveConsoles, node: str, name: str, type_: str) -> None:
        if not live.active:
            raise state_error(name, node, live.state, "running", "start it to use its console")
        if type_ == "vnc":
            if live.vnc is None:
                raise not_available(name, node, "it has no VNC display (<graphics type='vnc'>)", type="vnc")
            if live.vnc.kind == "none":
                raise not_available(name, node, "its VNC display has no listener (<listen type='none'>)",
                                    type="vnc")
        else:
            if live.serial is None:
                raise not_available(name, node, "it has no serial console (<serial> or <console>)",
                                    type="serial")
            if not live.serial.streamable:
                raise not_available(name, node, f"its serial console is a '{live.serial.type}' device; libvirt "
                                    f"streams only pty and unix consoles", type="serial")
        # libvirt's test driver (the demo) runs no QEMU: no serial stream ever, and no VNC server unless a
        # domain's <graphics> names a fixed port of something that listens (the API tier's fake RFB server)
        no_vnc_server = type_ == "vnc" and live.vnc is not None and live.vnc.kind == "tcp" and live.vnc.port is None
        if not live.stream and (type_ == "serial" or no_vnc_server):
            what = "its serial console cannot be relayed" if type_ == "serial" else \
                "no VNC server runs behind its display (libvirt reports no port)"
            raise not_available(name, node, f"the node runs libvirt's test driver (the demo), which has no console "
                                f"stream: {what}; consoles need a real hypervisor node (qemu:///system)",
                                type=type_, reason="test-driver")

    # -- the websocket -------------------------------------------------------------------------------
    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of this process's console threads, held for the whole session (503 when none is free)."""
        if not self._slots.acquire(blocking=False):
            raise JvpError(f"this server process already relays {self.max_sessions} consoles "
                           "(console.max_sessions); close one or try again later", code="ConsoleLimitReached",
                           status=503, details={"max_sessions": self.max_sessions})
        with self._open_lock:
            self._open += 1
        try:
            yield
        finally:
            with self._open_lock:
                self._open -= 1
            self._slots.release()

    @property
    def open_sessions(self) -> int:
        return self._open

    def redeem(self, token: str | None, type_: str, node: str | None = None, name: str | None = None
               ) -> ConsoleGrant:
        grant = self.tokens.redeem(token)
        if grant.type != type_:
            raise Forbidden(f"this token opens the {grant.type} console of vm '{grant.vm}', not a {type_} "
                            f"console (the token is now used up)", code="ConsoleTokenMismatch",
                            details={"token_type": grant.type, "requested_type": type_})
        if (node is not None and node != grant.node) or (name is not None and name != grant.vm):
            raise Forbidden(f"this token is for vm '{grant.vm}' on node '{grant.node}', not for "
                            f"'{name or grant.vm}' on '{node or grant.node}' (the token is now used up)",
                            code="ConsoleTokenMismatch", details={"token_vm": grant.vm, "token_node": grant.node})
        self._check_issuer(grant)
        return grant

    def _check_issuer(self, grant: ConsoleGrant) -> None:
        """The console belongs to whoever asked for it: their API token must still allow consoles."""
        if Role.parse(grant.role) < Role.OPERATOR:
            raise Forbidden("consoles need the operator role", code="Forbidden")
        if not self.auth:
            return
        info = self.api_tokens.info(grant.token_name) if grant.token_name else None
        if info is None:
            raise Unauthorized(f"the API token '{grant.token_name}' that asked for this console was revoked",
                               code="InvalidToken")
        if Role.parse(info["role"]) < Role.OPERATOR:
            raise Forbidden(f"the API token '{grant.token_name}' no longer has a role that may open consoles",
                            code="Forbidden")

    def open(self, grant: ConsoleGrant) -> ConsoleSession:
        node, name = grant.node, grant.vm
        self.nodes.record(node)
        live = self._live(node, name)
        self._check(live, node, name, grant.type)
        if grant.type == "serial":
            return ConsoleSession(grant, self.gateway.open_serial(node, name), "serial-stream")
        route = self.gateway.vnc_route(node, live, name)
        return ConsoleSession(grant, self._connect_vnc(route, node, name), route.via)

    def _connect_vnc(self, route: VncRoute, node: str, name: str) -> Channel:
        return self.gateway.connect_vnc(node, route, name, self.connect_timeout_s)

    def relay(self, session: ConsoleSession, ws: WebSocketLike) -> RelayResult:
        g = session.grant
        relay = ConsoleRelay(ws, session.channel, name=f"{g.node}/{g.vm}/{g.type}",
                             idle_timeout_s=self.idle_timeout_s,
                             user_input=vnc_user_input if g.type == "vnc" else serial_user_input,
                             console_ended=self._end_reason(session))
        return relay.run()

    def _end_reason(self, session: ConsoleSession) -> Callable[[], tuple[int, str, str]]:
        g = session.grant

        def reason() -> tuple[int, str, str]:
            # The console usually ends a moment before libvirt has noted that QEMU is gone: look again briefly.
            deadline = time.monotonic() + self.stop_settle_s
            while True:
                try:
                    state = self.gateway.console_vm_state(g.node, g.vm)
                except JvpError as exc:
                    return CLOSE_CONSOLE_ENDED, f"lost node '{g.node}': {exc.message}", "console"
                if state in ("stopped", "crashed", "undefined"):
                    return CLOSE_VM_STOPPED, f"vm '{g.vm}' is no longer running (now {state})", "vm"
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            if g.type == "serial":
                why = getattr(session.channel, "ended_because", None) or "the stream ended"
                return (CLOSE_CONSOLE_ENDED, f"the serial console closed on the VM's side ({why}); another client "
                        "may have taken it over", "console")
            return CLOSE_CONSOLE_ENDED, "the VNC server closed the connection", "console"
        return reason
