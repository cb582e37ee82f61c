"""Network: a libvirt virtual network (SPEC 2.6), its static DHCP hosts, leases and attachable sources."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import ResponseSchema, answer_schema, envelopes, shown

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
    address: str = shown(doc="the host side's address")
    prefix: int
    dhcp_start: str | None = None
    dhcp_end: str | None = None


@dataclass(kw_only=True)
class NetworkView:
    """One network as describe-network answers it. The hypervisor fills the fields read from libvirt; the
    service adds `node`, `vm_count` and `vms`. `dhcp` and `subnets` serve the service's checks only (the
    schema does not answer them)."""
    name: str
    node: str | None = shown(None, required=True, nullable=False)
    uuid: str | None = shown(required=True, nullable=False)
    mode: str = shown(doc="nat, route, isolated, open or bridge (other libvirt forward modes are shown as is)")
    bridge: str | None
    state: str = shown(doc="active or inactive")
    autostart: bool
    persistent: bool
    ipv4: IpBlock | None
    ipv6: IpBlock | None
    domain: str | None
    hosts: list[DhcpHost] = shown(factory=list, doc="static IPv4 DHCP reservations")
    dhcp: bool = False              # the IPv4 block serves DHCP
    subnets: list[str] = field(default_factory=list)      # every subnet held: its <ip>s and static <route>s
    vm_count: int = shown(0, doc="defined VMs (running or not) with a NIC on this network or on its bridge")
    vms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NetworkLease:
    mac: str | None
    ip: str
    prefix: int | None
    type: str = shown(doc="ipv4 or ipv6")
    hostname: str | None
    client_id: str | None
    expires_at: str | None = shown(doc="RFC 3339; null: never expires")


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
    name: str | None = shown(required=True, nullable=False)
    mac: str | None
    link_state: str | None
    speed_mbps: int | None


@dataclass(frozen=True)
class SourceBridge:
    name: str
    active: bool | None
    network: str | None = shown(doc="libvirt network that owns or (bridge mode) wraps it")


@dataclass
class NetworkSources:
    """What a VM NIC can attach to on one node (list-network-sources)."""
    node: str
    networks: list[NetworkView]     # answered as name, mode, state, bridge
    bridges: list[SourceBridge]
    bridges_source: str             # libvirt-interfaces | libvirt-networks
    interfaces: list[PhysicalNic]


NetworkIpSchema = answer_schema(IpBlock, "NetworkIpSchema")
NetworkDhcpHostSchema = answer_schema(DhcpHost, "NetworkDhcpHostSchema")
NetworkSchema = answer_schema(NetworkView, "NetworkSchema", exclude=("dhcp", "subnets"))


NetworkResponse, NetworkListResponse = envelopes(NetworkSchema, "network", "networks")


NetworkLeaseSchema = answer_schema(NetworkLease, "NetworkLeaseSchema")


class NetworkLeaseListResponse(ResponseSchema):
    node = fields.String(required=True)
    network = fields.String(required=True)
    leases = fields.List(fields.Nested(NetworkLeaseSchema), required=True)


class SourceNetworkSchema(ResponseSchema):
    name = fields.String(required=True)
    mode = fields.String(required=True)
    state = fields.String(required=True)
    bridge = fields.String(allow_none=True)


SourceBridgeSchema = answer_schema(SourceBridge, "SourceBridgeSchema")
SourceNicSchema = answer_schema(PhysicalNic, "SourceNicSchema")


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
