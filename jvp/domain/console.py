"""Console access: the grant a one-time console token stands for, and get-vm-console's answer."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from marshmallow import fields

from jvp.domain.base import ResponseSchema

CONSOLE_TYPES = ("vnc", "serial")


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
