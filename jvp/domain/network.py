"""Network: a libvirt virtual network (SPEC 2.6), its static DHCP hosts, leases and attachable sources."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import ResponseSchema

MODES = ("nat", "route", "isolated", "open", "bridge")


@dataclass(frozen=True)
class DhcpHost:
    mac: str | None  # None: a reservation by name and address only (made outside JVP)
    ip: str
    hostname: str | None = None


@dataclass(frozen=True)
class NetworkSpec:
    """A validated create-network request, ready for the XML builder (all checks already passed)."""
    name: str
    mode: str
    bridge: str
    ipv4: ipaddress.IPv4Interface | None = None
    dhcp_start: ipaddress.IPv4Address | None = None
    dhcp_end: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Interface | None = None
    domain: str | None = None


# -- views (built by jvp/hypervisor/network.py, passed up by the gateway, dumped by the schemas below) -----
@dataclass(frozen=True)
class IpBlock:
    """One <ip> of a network: the host side's address, its prefix and the first DHCP range."""
    address: str
    prefix: int
    dhcp_start: str | None = None
    dhcp_end: str | None = None


@dataclass
class NetworkView:
    """One network as describe-network answers it. The hypervisor fills the fields read from libvirt; the
    service adds `node`, `vm_count` and `vms`. `dhcp` and `subnets` serve the service's checks only (the
    schema does not answer them)."""
    name: str
    uuid: str | None
    mode: str
    bridge: str | None
    state: str                      # active | inactive
    autostart: bool
    persistent: bool
    ipv4: IpBlock | None
    ipv6: IpBlock | None
    domain: str | None
    hosts: list[DhcpHost] = field(default_factory=list)   # static IPv4 DHCP reservations
    dhcp: bool = False              # the IPv4 block serves DHCP
    subnets: list[str] = field(default_factory=list)      # every subnet held: its <ip>s and static <route>s
    node: str | None = None
    vm_count: int = 0
    vms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NetworkLease:
    mac: str | None
    ip: str
    prefix: int | None
    type: str                       # ipv4 | ipv6
    hostname: str | None
    client_id: str | None
    expires_at: str | None          # RFC 3339; None: never expires


@dataclass
class DomainAttachment:
    """A defined or running domain with the networks and bridges its NICs name (live and next-boot config)."""
    name: str | None
    active: bool
    networks: set[str] = field(default_factory=set)
    bridges: set[str] = field(default_factory=set)


@dataclass
class NodeInterface:
    """A node interface as libvirt's interface API reports it (addresses only with a netcf backend)."""
    name: str | None
    type: str | None                # ethernet | bridge | bond | vlan ...
    active: bool
    mac: str | None
    addresses: list[str] = field(default_factory=list)   # address/prefix
    members: list[str] = field(default_factory=list)     # a bridge's enslaved interfaces


@dataclass(frozen=True)
class PhysicalNic:
    """A NIC on a bus (a macvtap candidate)."""
    name: str | None
    mac: str | None
    link_state: str | None
    speed_mbps: int | None


@dataclass(frozen=True)
class SourceBridge:
    name: str
    active: bool | None
    network: str | None             # the libvirt network that owns or (bridge mode) wraps it


@dataclass
class NetworkSources:
    """What a VM NIC can attach to on one node (list-network-sources)."""
    node: str
    networks: list[NetworkView]     # answered as name, mode, state, bridge
    bridges: list[SourceBridge]
    bridges_source: str             # libvirt-interfaces | libvirt-networks
    interfaces: list[PhysicalNic]


class NetworkIpSchema(ResponseSchema):
    address = fields.String(required=True, metadata={"description": "the host side's address"})
    prefix = fields.Integer(required=True)
    dhcp_start = fields.String(allow_none=True)
    dhcp_end = fields.String(allow_none=True)


class NetworkDhcpHostSchema(ResponseSchema):
    mac = fields.String(allow_none=True)
    ip = fields.String(required=True)
    hostname = fields.String(allow_none=True)


class NetworkSchema(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    uuid = fields.String(required=True)
    mode = fields.String(required=True, metadata={
        "description": "nat, route, isolated, open or bridge (other libvirt forward modes are shown as is)"})
    bridge = fields.String(allow_none=True)
    state = fields.String(required=True, metadata={"description": "active or inactive"})
    autostart = fields.Boolean(required=True)
    persistent = fields.Boolean(required=True)
    ipv4 = fields.Nested(NetworkIpSchema, allow_none=True)
    ipv6 = fields.Nested(NetworkIpSchema, allow_none=True)
    domain = fields.String(allow_none=True)
    hosts = fields.List(fields.Nested(NetworkDhcpHostSchema), required=True,
                        metadata={"description": "static IPv4 DHCP reservations"})
    vm_count = fields.Integer(required=True, metadata={
        "description": "defined VMs (running or not) with a NIC on this network or on its bridge"})
    vms = fields.List(fields.String(), required=True)


class NetworkResponse(ResponseSchema):
    network = fields.Nested(NetworkSchema, required=True)


class NetworkListResponse(ResponseSchema):
    networks = fields.List(fields.Nested(NetworkSchema), required=True)


class NetworkLeaseSchema(ResponseSchema):
    mac = fields.String(allow_none=True)
    ip = fields.String(required=True)
    prefix = fields.Integer(allow_none=True)
    type = fields.String(required=True, metadata={"description": "ipv4 or ipv6"})
    hostname = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True, metadata={"description": "RFC 3339; null: never expires"})


class NetworkLeaseListResponse(ResponseSchema):
    node = fields.String(required=True)
    network = fields.String(required=True)
    leases = fields.List(fields.Nested(NetworkLeaseSchema), required=True)


class SourceNetworkSchema(ResponseSchema):
    name = fields.String(required=True)
    mode = fields.String(required=True)
    state = fields.String(required=True)
    bridge = fields.String(allow_none=True)


class SourceBridgeSchema(ResponseSchema):
    name = fields.String(required=True)
    active = fields.Boolean(allow_none=True)
    network = fields.String(allow_none=True, metadata={
        "description": "libvirt network that owns or (bridge mode) wraps it"})


class SourceNicSchema(ResponseSchema):
    name = fields.String(required=True)
    mac = fields.String(allow_none=True)
    link_state = fields.String(allow_none=True)
    speed_mbps = fields.Integer(allow_none=True)


class NetworkSourcesSchema(ResponseSchema):
    node = fields.String(required=True)
    networks = fields.List(fields.Nested(SourceNetworkSchema), required=True)
    bridges = fields.List(fields.Nested(SourceBridgeSchema), required=True)
    bridges_source = fields.String(required=True, metadata={
        "description": "libvirt-interfaces (the node's interface API) or libvirt-networks (the bridges of "
                       "the node's libvirt networks only, when the node has no interface backend)"})
    interfaces = fields.List(fields.Nested(SourceNicSchema), required=True, metadata={
        "description": "physical NICs (libvirt node devices with a bus parent), for macvtap (direct) NICs"})


class NetworkSourcesResponse(ResponseSchema):
    sources = fields.Nested(NetworkSourcesSchema, required=True)
