"""Network: a libvirt virtual network (SPEC 2.6), its static DHCP hosts, leases and attachable sources."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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
