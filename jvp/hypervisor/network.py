"""libvirt networks: read their XML, build it for each mode, define/start/stop, static DHCP hosts, leases,
which domains use which network, and what a VM NIC can attach to. Everything goes through the node's libvirt
connection, so remote nodes answer alike.
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone

import libvirt
from lxml import etree

from jvp.domain.base import Problem
from jvp.domain.network import (DhcpHost, DhcpRange, DomainAttachment, IpBlock, NetworkLease, NetworkSpec,
                                NetworkView, NodeInterface, PhysicalNic)
from jvp.errors import Conflict, JvpError, already_exists
from jvp.hypervisor import support
from jvp.hypervisor.errors import libvirt_details
from jvp.hypervisor.listing import views_of
from jvp.hypervisor.ref_index import INDEX
from jvp.hypervisor.xml import parse, text, to_string
from jvp.hypervisor.xml.network import DhcpHost as HostElement
from jvp.hypervisor.xml.network import Ip, Network, Route

# libvirt's own check at start (bridge_driver.c, networkCheckRouteCollision): the node routes this subnet.
_IN_USE = re.compile(r"already in use by interface (\S+)")


# -- reading ------------------------------------------------------------------------------------------
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


def _view(net: libvirt.virNetwork) -> NetworkView:
    active, autostart, persistent = bool(net.isActive()), bool(net.autostart()), bool(net.isPersistent())
    xml = net.XMLDesc(0)
    try:
        return network_view(parse(xml), active=active, autostart=autostart, persistent=persistent)
    except (etree.LxmlError, ValueError) as exc:
        # One network's unreadable document degrades its row; the listing and the other rows stand.
        return unreadable_view(net.name(), net.UUIDString(), active=active, autostart=autostart,
                               persistent=persistent, error=str(exc) or type(exc).__name__)


def list_networks(conn: libvirt.virConnect) -> list[NetworkView]:
    return sorted(views_of(conn.listAllNetworks(0), _view), key=lambda v: v.name)


def describe(conn: libvirt.virConnect, name: str) -> NetworkView:
    return _view(conn.networkLookupByName(name))


def config_hosts(conn: libvirt.virConnect, name: str) -> list[DhcpHost]:
    """Reservations of the persistent config and of the live network together (they can differ)."""
    net = conn.networkLookupByName(name)
    views = [_view(net)]
    if net.isPersistent() and net.isActive():
        try:
            inactive = net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        except libvirt.libvirtError as exc:
            # Drivers without the flag (the test driver) keep one definition: the live XML says it all.
            if not support.lacks("network_inactive_xml", exc):
                raise
        else:
            views.append(network_view(parse(inactive), active=False, autostart=False, persistent=True))
    seen, out = set(), []
    for v in views:
        for h in v.hosts:
            key = (h.mac, h.ip, h.id)
            if key not in seen:
                seen.add(key)
                out.append(h)
    return out


# -- building ------------------------------------------------------------------------------------------
def build_network_xml(spec: NetworkSpec) -> str:
    """The network XML for one mode: nat/route/open forward through the host, isolated has no <forward>,
    bridge wraps an existing host bridge (no addresses: the LAN behind the bridge owns them)."""
    net = Network.new(name=spec.name)
    if spec.mode != "isolated":
        net.forward_mode = spec.mode
    net.bridge = spec.bridge
    if spec.mode == "bridge":
        return to_string(net.el)
    # STP on with no forwarding delay: loops are caught, guests get their link at once (libvirt's default).
    net.bridge_stp, net.bridge_delay = "on", "0"
    if spec.domain:
        net.domain, net.domain_local_only = spec.domain, "yes"
    if spec.ipv4 is not None:
        ip = net.ips.add(Ip.new(address=str(spec.ipv4.ip), prefix=spec.ipv4.network.prefixlen))
        if spec.dhcp_start is not None:
            ip.dhcp_start, ip.dhcp_end = str(spec.dhcp_start), str(spec.dhcp_end)
    if spec.ipv6 is not None:
        net.ips.add(Ip.new(family="ipv6", address=str(spec.ipv6.ip), prefix=spec.ipv6.network.prefixlen))
    return to_string(net.el)


def host_xml(host: DhcpHost) -> str:
    return to_string(HostElement.new(mac=host.mac, id=host.id, name=host.hostname, ip=host.ip).el).strip()


# -- changing ------------------------------------------------------------------------------------------
def _subnet_in_use(exc: libvirt.libvirtError, node: str, name: str) -> JvpError | None:
    match = _IN_USE.search(exc.get_error_message() or "")
    if not match:
        return None
    return Conflict(f"network '{name}' on node '{node}' cannot start: its subnet is already routed on the node "
                    f"through interface {match.group(1)}; choose another subnet",
                    code="SubnetInUseOnHost", details={"interface": match.group(1), "network": name,
                                                       "node": node, **libvirt_details(exc)})


def define_and_start(conn: libvirt.virConnect, xml: str, *, autostart: bool, node: str, name: str) -> None:
    """Define, set autostart, start; a failure at any step removes what was made. A define refused
    because a network of that name exists by now (defined by someone else since the caller's check: virsh,
    another controller) is NetworkExists, and that network is left alone."""
    try:
        net = conn.networkDefineXML(xml)
    except libvirt.libvirtError as exc:
        try:
            conn.networkLookupByName(name)
        except libvirt.libvirtError:
            raise exc from None
        raise already_exists("network", name, node, code="NetworkExists", **libvirt_details(exc)) from exc
    try:
        net.setAutostart(1 if autostart else 0)
        net.create()
    except libvirt.libvirtError as exc:
        _remove(net)
        mapped = _subnet_in_use(exc, node, name)
        if mapped:
            raise mapped from exc
        raise
    except BaseException:
        _remove(net)
        raise


def _remove(net: libvirt.virNetwork) -> None:
    """Best effort: the error that made us undo is what the caller needs to see, not a second one."""
    try:
        if net.isActive():
            net.destroy()
    except libvirt.libvirtError:
        pass
    try:
        if net.isPersistent():
            net.undefine()
    except libvirt.libvirtError:
        pass


def start(conn: libvirt.virConnect, name: str, node: str) -> None:
    try:
        conn.networkLookupByName(name).create()
    except libvirt.libvirtError as exc:
        mapped = _subnet_in_use(exc, node, name)
        if mapped:
            raise mapped from exc
        raise


def stop(conn: libvirt.virConnect, name: str) -> None:
    conn.networkLookupByName(name).destroy()


def delete(conn: libvirt.virConnect, name: str) -> None:
    """Stop (when active) and undefine (when persistent); a transient network is gone once stopped."""
    net = conn.networkLookupByName(name)
    if net.isActive():
        net.destroy()
    if net.isPersistent():
        net.undefine()


def set_autostart(conn: libvirt.virConnect, name: str, autostart: bool) -> None:
    conn.networkLookupByName(name).setAutostart(1 if autostart else 0)


def update_host(conn: libvirt.virConnect, name: str, host: DhcpHost, *, add: bool, block: int) -> None:
    """Add or delete a static DHCP host of the `block`-th <ip> element with virNetworkUpdate: live and
    persistent config when the network runs (dnsmasq's hosts file is rewritten and dnsmasq reloaded), the
    config alone when it does not. The index is always given: libvirt's -1 means "the first <ip> with a DHCP
    range or host", the wrong block of a network with several."""
    net = conn.networkLookupByName(name)
    flags = 0
    if net.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    if net.isPersistent():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    command = libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST if add else libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE
    net.update(command, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, block, host_xml(host), flags)


def leases(conn: libvirt.virConnect, name: str) -> list[NetworkLease]:
    out = []
    for lease in conn.networkLookupByName(name).DHCPLeases(None, 0):
        expiry = lease.get("expirytime")
        out.append(NetworkLease(
            mac=lease.get("mac"),
            ip=lease.get("ipaddr"),
            prefix=lease.get("prefix"),
            type="ipv6" if lease.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV6 else "ipv4",
            hostname=lease.get("hostname"),
            client_id=lease.get("clientid"),
            expires_at=datetime.fromtimestamp(expiry, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if expiry else None,
        ))
    return sorted(out, key=lambda x: (x.type, ipaddress.ip_address(x.ip)))


# -- who uses what -------------------------------------------------------------------------------------
def domain_attachments(conn: libvirt.virConnect, networks: list[str] | None = None,
                       bridges: list[str] | None = None) -> list[DomainAttachment]:
    """Every defined or running domain with the networks and bridges its NICs name; only those on one of
    `networks` or `bridges` when either is given. From the connection's reference index
    (hypervisor/ref_index.py), which reads a domain's XML again only when it changed.

    A running persistent domain counts with its live and its next-boot config: a NIC hot-plugged only live,
    or added to the config only, still counts."""
    if networks is None and bridges is None:
        refs = INDEX.domains(conn)
    else:
        refs = INDEX.using_networks(conn, networks or (), bridges or ())
    return [DomainAttachment(name=r.name, active=r.active, networks=set(r.networks), bridges=set(r.bridges))
            for r in refs]


# -- what a NIC can attach to --------------------------------------------------------------------------
def host_interfaces(conn: libvirt.virConnect) -> list[NodeInterface] | None:
    """The node's interfaces through libvirt's interface API (netcf or udev backend), None when the node
    has no interface backend. Addresses appear only where the backend reports them (netcf does, udev not)."""
    try:
        ifaces = conn.listAllInterfaces(0)
    except libvirt.libvirtError as exc:
        if support.lacks("host_interfaces", exc):
            return None
        raise
    out = []
    for iface in ifaces:
        root = parse(iface.XMLDesc(0))
        addresses = [f"{ip.get('address')}/{ip.get('prefix') or (64 if proto.get('family') == 'ipv6' else 32)}"
                     for proto in root.findall("protocol") for ip in proto.findall("ip") if ip.get("address")]
        out.append(NodeInterface(name=root.get("name"), type=root.get("type"), active=bool(iface.isActive()),
                                 mac=text(root, "mac/@address"), addresses=addresses,
                                 members=[m.get("name") for m in root.findall("bridge/interface")]))
    return out


def physical_nics(conn: libvirt.virConnect) -> list[PhysicalNic]:
    """NICs on a bus (their node device's parent is a PCI/USB device, not `computer`): macvtap candidates."""
    out = []
    for dev in conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET):
        root = parse(dev.XMLDesc(0))
        if text(root, "parent") in (None, "computer"):
            continue
        link = root.find("capability[@type='net']/link")
        speed = link.get("speed") if link is not None else None
        out.append(PhysicalNic(name=text(root, "capability[@type='net']/interface"),
                               mac=text(root, "capability[@type='net']/address"),
                               link_state=link.get("state") if link is not None else None,
                               # the kernel reports -1 (4294967295) when the speed is unknown
                               speed_mbps=int(speed) if speed and int(speed) < 0xFFFFFFFF else None))
    return sorted(out, key=lambda n: n.name or "")
