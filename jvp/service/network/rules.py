"""The checks a network request must pass before libvirt sees anything (pure functions, no I/O).

Choices (also in the README):
- `ipv4_cidr` is the host side's address with its prefix (198.18.10.1/24); the prefix is 8..30 and the
  address is neither the network nor the broadcast address. IPv6 networks are /64 (what SLAAC needs) and
  get router advertisements, no DHCPv6 range.
- Default DHCP range: the upper half of the subnet's usable addresses (198.18.10.128-198.18.10.254 in a
  /24), so the lower half stays free for fixed addresses and reservations. When the host address falls in
  that half, the range is the longer side of it.
- Static reservations are IPv4 only: inside the subnet, not the network, broadcast or host address.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable, TypeVar

from jvp.domain.network import DhcpHost, IpBlock
from jvp.errors import Conflict, InvalidInput

IPV4_PREFIX = (8, 30)
IPV6_PREFIX = 64
IfaceT = TypeVar("IfaceT", ipaddress.IPv4Interface, ipaddress.IPv6Interface)
IFNAMSIZ = 15  # Linux interface names: at most 15 bytes (IFNAMSIZ 16 with the NUL)
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network


def _bad(code: str, field: str, message: str, **details) -> InvalidInput:
    return InvalidInput(message, code=code, details={"field_errors": {field: [message]}, **details})


def parse_ipv4_cidr(value: str, field: str = "ipv4_cidr") -> ipaddress.IPv4Interface:
    iface = _interface(ipaddress.IPv4Interface, value, field, "IPv4", "198.18.10.1/24")
    net = iface.network
    if "/" not in value:
        raise _bad("InvalidCidr", field, f"{field} {value!r} needs a prefix length, e.g. {value}/24")
    if not IPV4_PREFIX[0] <= net.prefixlen <= IPV4_PREFIX[1]:
        raise _bad("InvalidCidr", field, f"{field} {value!r}: the prefix must be between /{IPV4_PREFIX[0]} "
                   f"and /{IPV4_PREFIX[1]}")
    if iface.ip in (net.network_address, net.broadcast_address):
        raise _bad("InvalidCidr", field, f"{field} {value!r} is the subnet's network or broadcast address; "
                   f"give the host side's address, e.g. {net.network_address + 1}/{net.prefixlen}")
    return _routable(iface, value, field, "; choose a private or routable subnet")


def parse_ipv6_cidr(value: str, field: str = "ipv6_cidr") -> ipaddress.IPv6Interface:
    iface = _interface(ipaddress.IPv6Interface, value, field, "IPv6", "fd00:198:18::1/64")
    net = iface.network
    if "/" not in value or net.prefixlen != IPV6_PREFIX:
        raise _bad("InvalidCidr", field, f"{field} {value!r}: IPv6 networks are /{IPV6_PREFIX} (guests "
                   "configure themselves from router advertisements, which need a /64)")
    if iface.ip == net.network_address:
        raise _bad("InvalidCidr", field, f"{field} {value!r} is the subnet-router anycast address; give the "
                   f"host side's address, e.g. {net.network_address + 1}/{IPV6_PREFIX}")
    return _routable(iface, value, field)


def _interface(kind: Callable[[str], IfaceT], value: str, field: str, family: str, example: str) -> IfaceT:
    try:
        return kind(value.strip())
    except ValueError:
        raise _bad("InvalidCidr", field, f"{field} {value!r} is not an {family} address with a prefix, "
                   f"e.g. {example}") from None


def _routable(iface: IfaceT, value: str, field: str, advice: str = "") -> IfaceT:
    net = iface.network
    if net.is_loopback or net.is_multicast or net.is_link_local or net.is_unspecified or net.is_reserved:
        raise _bad("InvalidCidr", field, f"{field} {value!r} is a loopback, link-local, multicast or reserved "
                   f"range{advice}")
    return iface


def default_dhcp_range(iface: ipaddress.IPv4Interface) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """The upper half of the usable addresses, minus the host address (see the module docstring)."""
    net = iface.network
    first, last = net.network_address + 1, net.broadcast_address - 1
    start = max(first, net.network_address + net.num_addresses // 2)
    gw = iface.ip
    if not start <= gw <= last:
        return start, last
    below, above = (start, gw - 1), (gw + 1, last)
    sides = [s for s in (above, below) if s[0] <= s[1]]
    if sides:
        return max(sides, key=lambda s: int(s[1]) - int(s[0]))
    # A /30 whose host address is the only one in the upper half: use the other usable address.
    return (first, first) if gw != first else (last, last)


def _ipv4(value: str, field: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value.strip())
    except ValueError:
        raise _bad("InvalidDhcpRange", field, f"{field} {value!r} is not an IPv4 address") from None


def dhcp_range(iface: ipaddress.IPv4Interface, start: str | None, end: str | None
               ) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """The requested range checked against the subnet, or the default range when neither end is given."""
    if start is None and end is None:
        return default_dhcp_range(iface)
    if start is None or end is None:
        missing = "dhcp_start" if start is None else "dhcp_end"
        raise _bad("InvalidDhcpRange", missing, "give both dhcp_start and dhcp_end, or neither for the "
                   f"default range {'-'.join(map(str, default_dhcp_range(iface)))}")
    lo, hi = _ipv4(start, "dhcp_start"), _ipv4(end, "dhcp_end")
    net = iface.network
    for field, addr in (("dhcp_start", lo), ("dhcp_end", hi)):
        if addr not in net:
            raise _bad("InvalidDhcpRange", field, f"{field} {addr} is outside the subnet {net}")
        if addr in (net.network_address, net.broadcast_address):
            raise _bad("InvalidDhcpRange", field, f"{field} {addr} is the network or broadcast address of {net}")
    if lo > hi:
        raise _bad("InvalidDhcpRange", "dhcp_end", f"the DHCP range is reversed: dhcp_start {lo} comes after "
                   f"dhcp_end {hi}")
    if lo <= iface.ip <= hi:
        raise _bad("InvalidDhcpRange", "dhcp_start", f"the DHCP range {lo}-{hi} contains the host address "
                   f"{iface.ip}; DHCP would hand the gateway's address to a guest")
    return lo, hi


def ip_subnets(values: Iterable[str]) -> list[Subnet]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def find_overlap(subnets: Iterable[Subnet], claims: Iterable[tuple[str, Subnet]]) -> tuple[str, Subnet,
                                                                                          Subnet] | None:
    """The first (owner, their subnet, our subnet) among claims that overlaps one of ours."""
    ours = list(subnets)
    for owner, theirs in claims:
        for mine in ours:
            if mine.version == theirs.version and mine.overlaps(theirs):
                return owner, theirs, mine
    return None


def validate_ifname(name: str, field: str = "bridge", code: str = "InvalidBridgeName") -> str:
    if not _IFNAME.match(name or "") or name in (".", ".."):
        raise _bad(code, field, f"{field} {name!r} is not a valid interface name: 1-{IFNAMSIZ} characters, "
                   "letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def validate_domain(domain: str) -> str:
    labels = domain.rstrip(".").split(".")
    if len(domain) > 253 or not all(_LABEL.match(lbl) for lbl in labels):
        raise _bad("InvalidDomain", "domain", f"domain {domain!r} is not a DNS name (labels of letters, "
                   "digits and '-', separated by dots)")
    return domain.rstrip(".")


def normalize_mac(mac: str) -> str:
    value = (mac or "").strip().lower().replace("-", ":")
    if not _MAC.match(value):
        raise _bad("InvalidMac", "mac", f"mac {mac!r} is not a MAC address like 52:54:00:12:34:56")
    if int(value[:2], 16) & 1:
        raise _bad("InvalidMac", "mac", f"mac {mac!r} is a multicast address; a NIC needs a unicast one "
                   "(first byte even, e.g. 52:54:00:...)")
    if value == "00:00:00:00:00:00":
        raise _bad("InvalidMac", "mac", "mac 00:00:00:00:00:00 is not a usable address")
    return value


def validate_hostname(hostname: str) -> str:
    if not _LABEL.match(hostname or ""):
        raise _bad("InvalidHostname", "hostname", f"hostname {hostname!r} must be one DNS label: 1-63 "
                   "letters, digits or '-', not starting or ending with '-'")
    return hostname


def parse_ip(ip: str, field: str = "ip") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(ip.strip())
    except ValueError:
        raise _bad("InvalidIp", field, f"{field} {ip!r} is not an IP address") from None


def same_ip(text_: str | None, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address as libvirt wrote it is `addr`: both sides parsed, never compared as text."""
    try:
        return text_ is not None and ipaddress.ip_address(text_.strip()) == addr
    except ValueError:
        return False


def validate_reservation(iface: ipaddress.IPv4Interface, ip: str) -> ipaddress.IPv4Address:
    """A static host's address: IPv4, inside the subnet, not its network, broadcast or host address."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        raise _bad("InvalidIp", "ip", f"ip {ip!r} is not an IP address") from None
    net = iface.network
    if addr.version != 4:
        raise _bad("InvalidIp", "ip", f"ip {ip!r}: static reservations are IPv4 (IPv6 guests use SLAAC)")
    if addr not in net:
        raise _bad("HostIpOutsideSubnet", "ip", f"ip {addr} is outside the network's subnet {net}",
                   subnet=str(net))
    if addr in (net.network_address, net.broadcast_address, iface.ip):
        raise _bad("HostIpOutsideSubnet", "ip", f"ip {addr} is the network, broadcast or host address of "
                   f"{net}; choose a guest address", subnet=str(net))
    return addr


def containing_block(blocks: Iterable[IpBlock], addr: ipaddress.IPv4Address | ipaddress.IPv6Address
                     ) -> IpBlock | None:
    """The first <ip> block whose subnet (address with the prefix libvirt derives) holds `addr`."""
    for b in blocks:
        iface = b.interface()
        if iface is not None and iface.version == addr.version and addr in iface.network:
            return b
    return None


def block_of_host(blocks: Iterable[IpBlock], host: DhcpHost,
                  addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> IpBlock | None:
    """The block that lists `host` (same address, MAC and id), else the block whose subnet holds `addr`."""
    blocks = list(blocks)
    for b in blocks:
        if any(same_ip(h.ip, addr) and h.mac == host.mac and h.id == host.id for h in b.hosts):
            return b
    return containing_block(blocks, addr)


def check_reservation_free(network: str, hosts: Iterable[DhcpHost], mac: str, ip: str) -> None:
    for h in hosts:
        if h.ip == ip:
            raise Conflict(f"ip {ip} is already reserved on network '{network}' for {h.mac}; remove that "
                           "reservation first", code="HostIpTaken",
                           details={"network": network, "ip": ip, "mac": h.mac,
                                    "field_errors": {"ip": ["Already reserved."]}})
        if (h.mac or "").lower() == mac:
            raise Conflict(f"mac {mac} already has a reservation on network '{network}' ({h.ip}); "
                           "remove it first", code="HostMacTaken",
                           details={"network": network, "mac": mac, "ip": h.ip,
                                    "field_errors": {"mac": ["Already reserved."]}})
