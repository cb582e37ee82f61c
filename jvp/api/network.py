"""Network actions (SPEC 2.6): libvirt networks, static DHCP hosts, leases, attachable sources."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import NodeRef, OkResponse, Ref, RequestSchema, Text
from jvp.domain.network import (MODES, NetworkLeaseListResponse, NetworkListResponse, NetworkResponse,
                                NetworkSourcesResponse)

TAG = "network"
_ADDR = dict(min_length=1, max_length=64)
NOT_FOUND = ("NodeNotFound", "NodeUnreachable", "NetworkNotFound")


class NetworkNodeRequest(RequestSchema):
    node = NodeRef()


class NetworkRequest(RequestSchema):
    node = NodeRef()
    name = Ref()


class CreateNetworkRequest(NetworkRequest):
    mode = fields.String(load_default="nat", validate=validate.OneOf(MODES), metadata={
        "description": "nat (NAT to the host's uplinks), route (routed, no NAT), isolated (guests and host only), "
                       "open (no firewall rules from libvirt), bridge (an existing host bridge)"})
    bridge = Text(min_length=1, max_length=64, metadata={
        "description": "bridge device: generated (jvpbrN) when omitted; for mode bridge, the host bridge to use"})
    ipv4_cidr = Text(metadata={"description": "host side's address with prefix, e.g. 198.18.10.1/24"},
                              **_ADDR)
    dhcp = fields.Boolean(metadata={"description": "serve IPv4 DHCP (default: true when ipv4_cidr is given)"})
    dhcp_start = Text(metadata={"description": "default: upper half of the subnet"}, **_ADDR)
    dhcp_end = Text(**_ADDR)
    ipv6_cidr = Text(metadata={"description": "host side's IPv6 address, a /64 (SLAAC)"}, **_ADDR)
    domain = Text(min_length=1, max_length=253, metadata={
        "description": "DNS domain served by the network's dnsmasq (answered locally, never forwarded)"})
    autostart = fields.Boolean(load_default=True)


class ModifyNetworkRequest(RequestSchema):
    node = NodeRef()
    name = Ref()
    autostart = fields.Boolean(required=True)


class NetworkHostRequest(RequestSchema):
    node = NodeRef()
    name = Ref(metadata={"description": "the network"})
    mac = Text(required=True, min_length=1, max_length=32)
    ip = Text(required=True, **_ADDR)
    hostname = Text(min_length=1, max_length=63)


class RemoveNetworkHostRequest(RequestSchema):
    node = NodeRef()
    name = Ref(metadata={"description": "the network"})
    ip = Text(required=True, metadata={"description": "the reserved address"}, **_ADDR)
    mac = Text(min_length=1, max_length=32, metadata={
        "description": "narrows the match; leave it out for a reservation that has no MAC"})
    hostname = Text(min_length=1, max_length=63)


@registry.action("list-networks", request=NetworkNodeRequest, response=NetworkListResponse, role=Role.VIEWER, tag=TAG,
                 errors=("NodeNotFound", "NodeUnreachable"))
def list_networks(ctx, req):
    """Every libvirt network of the node with mode, subnets, DHCP range, static hosts and VM count."""
    return {"networks": ctx.services.networks.list(req["node"])}


@registry.action("describe-network", request=NetworkRequest, response=NetworkResponse, role=Role.VIEWER,
                 tag=TAG, errors=NOT_FOUND)
def describe_network(ctx, req):
    """One network: mode, bridge, state, autostart, IPv4/IPv6 with DHCP range, static hosts, VMs."""
    return {"network": ctx.services.networks.describe(req["node"], req["name"])}


@registry.action("create-network", request=CreateNetworkRequest, response=NetworkResponse, role=Role.ADMIN,
                 tag=TAG, errors=("NodeNotFound", "NodeUnreachable", "NodeInMaintenance", "NetworkExists",
                                  "InvalidCidr", "CidrRequired", "InvalidDhcpRange", "InvalidNetworkOption",
                                  "InvalidBridgeName", "InvalidDomain", "BridgeInUse", "HostBridgeMissing",
                                  "SubnetOverlap", "SubnetInUseOnHost"))
def create_network(ctx, req):
    """Define and start a network; refuses a subnet overlapping another network or the host's, or a bridge in use."""
    return {"network": ctx.services.networks.create(
        req["node"], req["name"], mode=req["mode"], bridge=req.get("bridge"), ipv4_cidr=req.get("ipv4_cidr"),
        dhcp=req.get("dhcp"), dhcp_start=req.get("dhcp_start"), dhcp_end=req.get("dhcp_end"),
        ipv6_cidr=req.get("ipv6_cidr"), domain=req.get("domain"), autostart=req["autostart"])}


@registry.action("delete-network", request=NetworkRequest, response=OkResponse, role=Role.ADMIN, tag=TAG,
                 errors=NOT_FOUND + ("NetworkInUse",))
def delete_network(ctx, req):
    """Stop and undefine a network; refused while any defined VM (running or not) has a NIC on it."""
    ctx.services.networks.delete(req["node"], req["name"])
    return {"ok": True}


@registry.action("start-network", request=NetworkRequest, response=NetworkResponse, role=Role.ADMIN, tag=TAG,
                 errors=NOT_FOUND + ("NetworkActive", "SubnetInUseOnHost"))
def start_network(ctx, req):
    """Start an inactive network."""
    return {"network": ctx.services.networks.start(req["node"], req["name"])}


@registry.action("stop-network", request=NetworkRequest, response=NetworkResponse, role=Role.ADMIN, tag=TAG,
                 errors=NOT_FOUND + ("NetworkInactive", "NetworkInUse"))
def stop_network(ctx, req):
    """Stop a network; refused while running VMs use it."""
    return {"network": ctx.services.networks.stop(req["node"], req["name"])}


@registry.action("modify-network", request=ModifyNetworkRequest, response=NetworkResponse, role=Role.ADMIN,
                 tag=TAG, errors=NOT_FOUND)
def modify_network(ctx, req):
    """Change whether the network starts with the host."""
    return {"network": ctx.services.networks.modify(req["node"], req["name"], autostart=req["autostart"])}


@registry.action("list-network-leases", request=NetworkRequest, response=NetworkLeaseListResponse,
                 role=Role.VIEWER, tag=TAG, errors=NOT_FOUND + ("NotSupported",))
def list_network_leases(ctx, req):
    """DHCP leases handed out by the network's dnsmasq: MAC, IP, hostname, expiry."""
    return {"node": req["node"], "network": req["name"],
            "leases": ctx.services.networks.leases(req["node"], req["name"])}


@registry.action("add-network-host", request=NetworkHostRequest, response=NetworkResponse, role=Role.ADMIN,
                 tag=TAG, errors=NOT_FOUND + ("InvalidMac", "InvalidIp", "InvalidHostname", "HostIpOutsideSubnet",
                                              "HostIpTaken", "HostMacTaken", "HostnameTaken", "DhcpNotEnabled"))
def add_network_host(ctx, req):
    """Reserve an IPv4 address for a MAC, live (dnsmasq reloaded) and in the persistent config."""
    return {"network": ctx.services.networks.add_host(req["node"], req["name"], req["mac"], req["ip"],
                                                      req.get("hostname"))}


@registry.action("remove-network-host", request=RemoveNetworkHostRequest, response=NetworkResponse,
                 role=Role.ADMIN, tag=TAG,
                 errors=NOT_FOUND + ("InvalidMac", "InvalidIp", "NetworkHostNotFound", "NetworkHostAmbiguous"))
def remove_network_host(ctx, req):
    """Drop the static DHCP reservation of an address (narrowed by mac/hostname when given), live and in the
    persistent config."""
    return {"network": ctx.services.networks.remove_host(req["node"], req["name"], req["ip"], mac=req.get("mac"),
                                                         hostname=req.get("hostname"))}


@registry.action("list-network-sources", request=NetworkNodeRequest, response=NetworkSourcesResponse, role=Role.VIEWER,
                 tag=TAG, errors=("NodeNotFound", "NodeUnreachable"))
def list_network_sources(ctx, req):
    """What a VM NIC can attach to on the node: networks, host bridges, physical NICs (macvtap)."""
    return {"sources": ctx.services.networks.sources(req["node"])}
