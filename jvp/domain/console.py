"""Console access: where a running domain's consoles are (VNC endpoint, serial device, the route to them), the
grant a one-time console token stands for, and get-vm-console's answer."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from marshmallow import fields

from jvp.domain.base import ResponseSchema
from jvp.errors import PreconditionFailed

CONSOLE_TYPES = ("vnc", "serial")
STREAMABLE_CHARDEVS = ("pty", "unix")  # what libvirt's console API can stream (qemuDomainOpenConsole)


# -- where a running domain's consoles are (read by jvp/hypervisor/console.py) ----------------------
@dataclass(frozen=True)
class VncEndpoint:
    kind: str                 # "tcp" | "socket" | "none"
    address: str | None = None
    port: int | None = None
    socket: str | None = None
    password: bool = False    # a VNC password is set (the client is asked for it by the VNC server)


@dataclass(frozen=True)
class SerialDevice:
    element: str              # "console" | "serial"
    type: str                 # chardev type: pty, unix, file, tcp, ...
    path: str | None

    @property
    def streamable(self) -> bool:
        return self.type in STREAMABLE_CHARDEVS


@dataclass(frozen=True)
class VncRoute:
    via: str                  # "tcp" (connect directly) | "unix" (socket path here) | "ssh" (tunnel)
    host: str | None = None   # tcp: where to connect; ssh: the destination as seen from the node
    port: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class LiveConsoles:
    """What get-vm-console and the websocket need to know about a domain, from one live XML read."""
    state: str
    active: bool
    vnc: VncEndpoint | None
    serial: SerialDevice | None
    uuid: str | None = None   # the domain's UUID (to find the same domain through another connection)
    stream: bool = True       # False on libvirt's test driver: it has no VNC server and no console stream


def not_available(vm: str, node: str, why: str, **details: object) -> PreconditionFailed:
    return PreconditionFailed(f"no console for vm '{vm}' on node '{node}': {why}", code="ConsoleNotAvailable",
                              details={"vm": vm, "node": node, **details})


# -- console tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleGrant:
    """What a console token allows: one console of one VM, for whoever asked (token name and role)."""
    node: str
    vm: str
    type: str
    role: str
    token_name: str | None
    expires_at: str

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "ConsoleGrant":
        return cls(node=doc["node"], vm=doc["vm"], type=doc["type"], role=doc.get("role") or "operator",
                   token_name=doc.get("token_name"), expires_at=doc["expires_at"])


class ConsoleTicketResponse(ResponseSchema):
    token = fields.String(required=True, metadata={
        "description": "one-time console token: valid for one websocket, until expires_at"})
    ws_url = fields.String(required=True, metadata={
        "description": "path and query of the websocket, relative to the server's URL (ws:// for http, "
                       "wss:// for https)"})
    expires_at = fields.String(required=True, metadata={"description": "RFC 3339; the websocket must be opened "
                                                                       "before this time"})
    node = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(CONSOLE_TYPES)})
