"""A libvirt network's XML read into its view: the prefix libvirt derives for each <ip> and <route>, every
<ip> block with its DHCP ranges and static hosts, the mode, the subnets the network claims on its node, and the
row of a network whose XML cannot be read. Pure functions of the document; network.py asks libvirt for it.
"""
from __future__ import annotations

import ipaddress

from lxml import etree

from jvp.domain.base import Problem
from jvp.domain.network import DhcpHost, DhcpRange, IpBlock, NetworkView
from jvp.hypervisor.xml.network import DhcpHost as HostElement
from jvp.hypervisor.xml.network import Ip, Network, Route


def _netmask_bits(netmask: str) -> int | None:
    """The prefix of a contiguous netmask (libvirt's virSocketAddrGetNumNetmaskBits), None when not one."""
    try:
        mask = ipaddress.ip_address(netmask.strip())
    except ValueError:
        return None
    bits, width = int(mask), mask.max_prefixlen
    ones = width - (~bits & ((1 << width) - 1)).bit_length()
    return ones if bits == ((1 << width) - 1) ^ ((1 << (width - ones)) - 1) else None


def libvirt_prefix(address: str | None, prefix: str | None, netmask: str | None) -> tuple[int | None, str]:
    """The prefix libvirt derives for an <ip> or <route> (virSocketAddrGetIPPrefix in
    src/util/virsocketaddr.c), with where it came from:
    - a `prefix` attribute above 0 is the prefix ("prefix");
    - else a valid `netmask` gives its number of bits ("netmask"; a non-contiguous one: None);
    - else an IPv4 address gives its natural (classful) prefix: 0.0.0.0 -> 0, class A (first bit 0) -> 8,
      class B (10) -> 16, class C (110) -> 24, class D/E -> None (libvirt refuses it) ("classful");
    - else an IPv6 address gives 64, the wildcard :: 0 ("default");
    - no address at all: 0 (a default route's destination)."""
    if prefix is not None and prefix.strip():
        try:
            value = int(prefix.strip())
        except ValueError:
            return None, "prefix"
        if value > 0:
            return value, "prefix"
    if netmask is not None and netmask.strip():
        return _netmask_bits(netmask), "netmask"
    try:
        addr = ipaddress.ip_address((address or "").strip()) if address else None
    except ValueError:
        return None, "default"
    if addr is None:
        return 0, "default"
    if addr.version == 6:
        return (0 if int(addr) == 0 else 64), "default"
    if int(addr) == 0:
        return 0, "classful"
    octet = int(addr) >> 24
    if octet & 0x80 == 0:
        return 8, "classful"
    if octet & 0xC0 == 0x80:
        return 16, "classful"
    if octet & 0xE0 == 0xC0:
        return 24, "classful"
    return None, "classful"


def _prefix_of(el: Ip | Route) -> int | None:
    return libvirt_prefix(el.address, el.prefix, el.netmask)[0]


def _family(ip: Ip) -> str:
    return ip.family or ("ipv6" if ":" in (ip.address or "") else "ipv4")


def _host(h: HostElement) -> DhcpHost:
    return DhcpHost(mac=(h.mac or "").lower() or None, ip=h.ip, hostname=h.name, id=h.id)


def _ip_block(ip: Ip, index: int = 0) -> IpBlock:
    prefix, source = libvirt_prefix(ip.address, ip.prefix, ip.netmask)
    return IpBlock(address=ip.address or "", prefix=prefix, dhcp_start=ip.dhcp_start, dhcp_end=ip.dhcp_end,
                   family=_family(ip), index=index, prefix_source=source, netmask=ip.netmask,
                   dhcp=ip.dhcp.exists(), ranges=tuple(DhcpRange(start=r.start, end=r.end) for r in ip.ranges),
                   hosts=tuple(_host(h) for h in ip.hosts if h.ip), tftp_root=ip.tftp_root,
                   bootp_file=ip.bootp_file, bootp_server=ip.bootp_server)


def block_subnet(blk: IpBlock) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The subnet an <ip> block holds (its address with the derived prefix), None when it has none."""
    iface = blk.interface()
    return iface.network if iface is not None else None


def network_mode(root: etree._Element) -> str:
    net = Network(root)
    return net.forward_mode or ("nat" if net.forward.exists() else "isolated")


def claimed_subnets(root: etree._Element) -> list[str]:
    """Every subnet a network holds on its node: its own <ip> subnets (every block, with the prefix libvirt
    derives) and the static <route>s through it (a default route, prefix 0, claims no subnet)."""
    net = Network(root)
    out = []
    for i, ip in enumerate(net.ips):
        subnet = block_subnet(_ip_block(ip, i)) if ip.address else None
        if subnet is not None:
            out.append(str(subnet))
    for route in net.routes:
        prefix = _prefix_of(route)
        if route.address and prefix:
            try:
                out.append(str(ipaddress.ip_network(f"{route.address}/{prefix}", strict=False)))
            except ValueError:
                continue
    return out


def _problems(name: str, blocks: list[IpBlock]) -> list[Problem]:
    out = []
    for b in blocks:
        if b.address and b.prefix is None:
            out.append(Problem(code="NetworkXmlUnreadable",
                               message=f"network '{name}': the prefix of <ip address='{b.address}'> cannot be "
                                       "derived (a bad prefix or netmask, or a class D/E address)"))
        elif b.address and block_subnet(b) is None:
            out.append(Problem(code="NetworkXmlUnreadable",
                               message=f"network '{name}': <ip address='{b.address}'> is not an IP address"))
    return out


def network_view(root: etree._Element, *, active: bool, autostart: bool, persistent: bool) -> NetworkView:
    """The SPEC 2.6 fields of one network from its XML (vm_count/vms/node are added by the service)."""
    net = Network(root)
    blocks = [_ip_block(ip, i) for i, ip in enumerate(net.ips)]
    ipv4 = next((b for b in blocks if b.family == "ipv4"), None)
    ipv6 = next((b for b in blocks if b.family == "ipv6"), None)
    name = net.name or ""
    mtu = net.mtu
    return NetworkView(
        name=name,
        uuid=net.uuid,
        mode=network_mode(root),
        bridge=net.bridge,
        state="active" if active else "inactive",
        autostart=bool(autostart),
        persistent=bool(persistent),
        ipv4=ipv4 if ipv4 is not None and ipv4.address else None,
        ipv6=ipv6 if ipv6 is not None and ipv6.address else None,
        domain=net.domain,
        hosts=[h for b in blocks for h in b.hosts],
        dhcp=ipv4 is not None and ipv4.dhcp,
        subnets=claimed_subnets(root),
        ips=blocks,
        forward_mode=net.forward_mode if net.forward.exists() else None,
        forward_dev=net.forward_dev,
        forward_interfaces=[i.dev for i in net.forward_interfaces if i.dev],
        mtu=int(mtu) if mtu and mtu.isdigit() else None,
        problems=_problems(name, blocks),
    )


def unreadable_view(name: str, uuid: str | None, *, active: bool, autostart: bool, persistent: bool,
                    error: str) -> NetworkView:
    """The row of a network whose XML cannot be read: what libvirt's object calls tell, and the problem."""
    return NetworkView(name=name, uuid=uuid, mode="unknown", bridge=None,
                       state="active" if active else "inactive", autostart=autostart, persistent=persistent,
                       ipv4=None, ipv6=None, domain=None,
                       problems=[Problem(code="NetworkXmlUnreadable",
                                         message=f"network '{name}': its XML cannot be read ({error})")])
