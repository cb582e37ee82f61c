"""Network: a libvirt virtual network (SPEC 2.6), its static DHCP hosts, leases and attachable sources."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import PROBLEMS_DOC, Problem, ResponseSchema, answer_schema, envelopes, shown

MODES = ("nat", "route", "isolated", "open", "bridge")


@dataclass(frozen=True)
class DhcpHost:
    mac: str | None  # None: a reservation by name and address only (made outside JVP), or an IPv6 host
    ip: str
    hostname: str | None = None
    id: str | None = shown(None, doc="an IPv6 host's DHCPv6 client id (DUID)")


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
_PREFIX = ("as libvirt derives it (virSocketAddrGetIPPrefix): the `prefix` attribute, else the `netmask`'s "
           "bits, else the classful prefix of an IPv4 address (class A /8, B /16, C /24) or 64 for IPv6; null "
           "when libvirt cannot derive one either")


@dataclass(frozen=True)
class DhcpRange:
    start: str | None
    end: str | None


@dataclass(frozen=True)
class IpBlock:
    """One <ip> of a network: the host side's address, its prefix (derived as libvirt derives it, see
    jvp/hypervisor/network_view.py:libvirt_prefix), every DHCP range and static host. `dhcp_start`/`dhcp_end` are
    the first range; the summaries `ipv4`/`ipv6` answer the fields up to them, `ips` every field."""
    address: str = shown(doc="the host side's address")
    prefix: int | None = shown(required=True, doc=_PREFIX)   # None: libvirt derives none either (class D/E)
    dhcp_start: str | None = shown(None, doc="start of the block's first DHCP range")
    dhcp_end: str | None = shown(None, doc="end of the block's first DHCP range")
    family: str = shown("ipv4", doc="ipv4 or ipv6")
    index: int = field(default=0)   # position among the network's <ip> elements (libvirt's update index)
    prefix_source: str = shown("prefix", doc="where the prefix comes from: prefix, netmask, classful (IPv4 "
                                             "without either) or default (IPv6 without a prefix: 64)")
    netmask: str | None = shown(None, doc="the netmask as written, if any")
    dhcp: bool = shown(False, doc="the block has a <dhcp> element")
    ranges: tuple[DhcpRange, ...] = shown((), doc="every DHCP range of the block")
    hosts: tuple[DhcpHost, ...] = shown((), doc="the block's static DHCP hosts (IPv6 hosts name an id or a "
                                                "name, no MAC)")
    tftp_root: str | None = None
    bootp_file: str | None = None
    bootp_server: str | None = None

    def interface(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
        """The host side's address with the block's prefix (its subnet is `.network`), None without one."""
        if not self.address or self.prefix is None:
            return None
        try:
            return ipaddress.ip_interface(f"{self.address}/{self.prefix}")
        except ValueError:
            return None


@dataclass(kw_only=True)
class NetworkView:
    """One network as describe-network answers it. The hypervisor fills the fields read from libvirt; the
    service adds `node`, `vm_count` and `vms`. `dhcp` and `subnets` serve the service's checks only (the
    schema does not answer them). `ipv4`/`ipv6` are the first block of each family (a summary); `ips` has
    every block in libvirt's order; `hosts` every block's static hosts."""
    name: str
    node: str | None = shown(None, required=True, nullable=False)
    uuid: str | None = shown(required=True, nullable=False)
    mode: str = shown(doc="nat, route, isolated, open or bridge (other libvirt forward modes are shown as is)")
    bridge: str | None
    state: str = shown(doc="active or inactive")
    autostart: bool
    persistent: bool
    ipv4: IpBlock | None = shown(doc="the first IPv4 block (summary; `ips` has every block)")
    ipv6: IpBlock | None = shown(doc="the first IPv6 block (summary; `ips` has every block)")
    domain: str | None
    hosts: list[DhcpHost] = shown(factory=list, doc="the static DHCP hosts of every block, IPv4 and IPv6 "
                                                    "(`ips[].hosts` says which block holds each)")
    dhcp: bool = False              # the first IPv4 block serves DHCP
    subnets: list[str] = field(default_factory=list)      # every subnet held: its <ip>s and static <route>s
    vm_count: int = shown(0, doc="defined VMs (running or not) with a NIC on this network or on its bridge")
    vms: list[str] = field(default_factory=list)
    ips: list[IpBlock] = shown(factory=list, doc="every <ip> block, IPv4 and IPv6, in libvirt's order")
    forward_mode: str | None = shown(None, doc="libvirt's forward mode as written (nat, route, open, bridge, "
                                               "private, vepa, passthrough, hostdev; null: no <forward>, an "
                                               "isolated network; `mode` is nat for a <forward> without a mode)")
    forward_dev: str | None = None
    forward_interfaces: list[str] = shown(factory=list, doc="the devices of the forward pool "
                                                            "(<forward><interface dev=>)")
    mtu: int | None = None
    problems: list[Problem] = shown(factory=list, doc=PROBLEMS_DOC)


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


NetworkDhcpHostSchema = answer_schema(DhcpHost, "NetworkDhcpHostSchema")
NetworkDhcpRangeSchema = answer_schema(DhcpRange, "NetworkDhcpRangeSchema")
# every field of a block (`ips`); the summaries `ipv4`/`ipv6` answer the fields up to the first range only
NetworkIpBlockSchema = answer_schema(IpBlock, "NetworkIpBlockSchema", exclude=("index",))
NetworkIpSchema = answer_schema(IpBlock, "NetworkIpSchema", upto="dhcp_end")
NetworkSchema = answer_schema(
    NetworkView, "NetworkSchema", exclude=("dhcp", "subnets"),
    ipv4=fields.Nested(NetworkIpSchema, allow_none=True, metadata={
        "description": "the first IPv4 block (summary; `ips` has every block)"}),
    ipv6=fields.Nested(NetworkIpSchema, allow_none=True, metadata={
        "description": "the first IPv6 block (summary; `ips` has every block)"}))


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
