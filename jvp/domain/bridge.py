"""Host bridges and the interfaces that can join them (the local node only, through netlink)."""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import ResponseSchema, envelopes


@dataclass
class BridgeView:
    """A host bridge as describe-bridge answers it (from netlink, with the libvirt network and VMs on it)."""
    name: str
    node: str
    state: str                      # operational state: up, down, unknown...
    mtu: int | None
    mac: str | None
    stp: bool | None
    addresses: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)   # enslaved interfaces
    network: str | None = None      # the libvirt network that owns or wraps it
    vms: list[str] = field(default_factory=list)


@dataclass
class HostInterfaceView:
    """An interface that could join a bridge (list-available-interfaces)."""
    name: str
    kind: str                       # physical, veth, dummy, bond, vlan, team
    mac: str | None
    state: str
    mtu: int | None
    addresses: list[str]
    default_route: bool
    protected: bool
    reason: str | None


class BridgeSchema(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "operational state: up, down, unknown..."})
    mtu = fields.Integer(allow_none=True)
    mac = fields.String(allow_none=True)
    stp = fields.Boolean(allow_none=True)
    interfaces = fields.List(fields.String(), required=True, metadata={"description": "enslaved interfaces"})
    addresses = fields.List(fields.String(), required=True)
    network = fields.String(allow_none=True, metadata={
        "description": "the libvirt network that owns (nat/route/isolated/open) or wraps (bridge mode) it"})
    vms = fields.List(fields.String(), required=True, metadata={
        "description": "VMs with a NIC on this bridge, directly or through its libvirt network"})


BridgeResponse, BridgeListResponse = envelopes(BridgeSchema, "bridge", "bridges")


class HostInterfaceSchema(ResponseSchema):
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "physical, veth, dummy, bond, vlan, team"})
    mac = fields.String(allow_none=True)
    state = fields.String(required=True)
    mtu = fields.Integer(allow_none=True)
    addresses = fields.List(fields.String(), required=True)
    default_route = fields.Boolean(required=True)
    protected = fields.Boolean(required=True, metadata={
        "description": "carries an address or the default route: joining a bridge would cut the host's own "
                       "traffic on it, so create-bridge refuses it unless `force`"})
    reason = fields.String(allow_none=True)


class HostInterfaceListResponse(ResponseSchema):
    node = fields.String(required=True)
    interfaces = fields.List(fields.Nested(HostInterfaceSchema), required=True)
