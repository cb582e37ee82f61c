"""What the VM module reads about networking: a network's subnets (static IP checks), the node's host
interfaces (bridge and macvtap NICs), and a VM's IPs from DHCP leases and the guest agent."""
from __future__ import annotations

import functools
import ipaddress
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable

import libvirt

from jvp.hypervisor import support
from jvp.hypervisor.xml import parse, text

_NOT_REACHABLE = ("127.", "169.254.", "fe80:", "FE80:")
_NO_AGENT = (libvirt.VIR_ERR_AGENT_UNRESPONSIVE, libvirt.VIR_ERR_AGENT_UNSYNCED,
             libvirt.VIR_ERR_OPERATION_INVALID,
             libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_ERR_INTERNAL_ERROR)


def network_info(conn: libvirt.virConnect, name: str) -> dict[str, Any]:
    """{name, active, bridge, ipv4: [IPv4Interface of the host side]} of a libvirt network."""
    net = conn.networkLookupByName(name)
    root = parse(net.XMLDesc(0))
    subnets, ranges = [], []
    for ip in root.findall("ip"):
        if ip.get("family", "ipv4") != "ipv4" or not ip.get("address"):
            continue
        prefix = ip.get("prefix") or ip.get("netmask")
        subnets.append(ipaddress.IPv4Interface(f"{ip.get('address')}/{prefix or 24}"))
        ranges += [(ipaddress.IPv4Address(r.get("start")), ipaddress.IPv4Address(r.get("end")))
                   for r in ip.findall("dhcp/range") if r.get("start") and r.get("end")]
    return {"name": name, "active": bool(net.isActive()), "bridge": text(root, "bridge/@name"),
            "ipv4": subnets, "dhcp_ranges": ranges}


def host_interfaces(conn: libvirt.virConnect) -> set[str]:
    """Names of the node's network interfaces (physical NICs and bridges) from libvirt's node devices."""
    names = set()
    for dev in conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET):
        iface = text(parse(dev.XMLDesc(0)), "capability[@type='net']/interface")
        if iface:
            names.add(iface)
    try:
        names |= {i.name() for i in conn.listAllInterfaces(0)}
    except libvirt.libvirtError as exc:
        if not support.lacks("host_interfaces", exc):
            raise
    # bridges of the node's libvirt networks exist whenever the network is active
    for net in conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE):
        try:
            names.add(net.bridgeName())
        except libvirt.libvirtError:
            pass
    return names


def _addresses(ifaces: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for info in (ifaces or {}).values():
        mac = (info.get("hwaddr") or "").lower()
        if not mac or mac == "00:00:00:00:00:00":
            continue
        for a in info.get("addrs") or []:
            addr = (a.get("addr") or "").split("%")[0]
            # loopback and link-local (fe80::, 169.254/16) say nothing about how to reach the VM; string
            # tests, not ipaddress objects: this runs for every VM of a listing
            if not addr or addr.startswith(_NOT_REACHABLE) or addr == "::1":
                continue
            out.setdefault(mac, [])
            if addr not in out[mac]:
                out[mac].append(addr)
    return out


# Connections whose driver answered that it has no DHCP lease listing (the test driver): a driver's answer for
# the life of the connection, so a listing does not ask (and fail) again on every call.
_NO_LEASES: "weakref.WeakKeyDictionary[libvirt.virConnect, bool]" = weakref.WeakKeyDictionary()
_no_leases_lock = threading.Lock()  # request threads and the fan-out pool read and fill it


def leases_by_mac(conn: libvirt.virConnect, networks: set[str]) -> dict[str, list[str]] | None:
    """MAC -> IPs from the DHCP leases of the named networks (one call per network, not per VM);
    None when the driver cannot list leases (the caller falls back to per-domain lookups)."""
    try:
        with _no_leases_lock:
            if conn in _NO_LEASES:
                return None
    except TypeError:  # a connection that cannot be weakly referenced (tests' fakes): asked every time
        pass
    out: dict[str, list[str]] = {}
    for name in sorted(networks):
        try:
            leases = conn.networkLookupByName(name).DHCPLeases()
        except libvirt.libvirtError as exc:
            if support.lacks("network_leases", exc):
                try:
                    with _no_leases_lock:
                        _NO_LEASES[conn] = True
                except TypeError:
                    pass
                return None
            if exc.get_error_code() in (libvirt.VIR_ERR_NO_NETWORK, libvirt.VIR_ERR_OPERATION_INVALID):
                continue  # gone or inactive: no leases to show
            raise
        for lease in leases:
            mac = (lease.get("mac") or "").lower()
            if mac and lease.get("ipaddr"):
                out.setdefault(mac, []).append(lease["ipaddr"])
    return out


@dataclass
class CrashMemo:
    """What test_driver_would_crash learnt during one listing: whether the connection is the test driver's,
    and which networks have no IP block (each read once per listing, not once per domain)."""
    test_driver: bool | None = None
    ipless: dict[str, bool] = field(default_factory=dict)


@functools.lru_cache(maxsize=256)
def ipless(network_xml: str) -> bool:
    """Whether a network document has no IP block (a pure function of the text: kept per document, so a
    describe-vm does not parse the same network's XML every time)."""
    return not any(ip.get("address") for ip in parse(network_xml).findall("ip"))


_TEST_DRIVER: "weakref.WeakKeyDictionary[libvirt.virConnect, bool]" = weakref.WeakKeyDictionary()
_test_driver_lock = threading.Lock()


def is_test_driver(conn: libvirt.virConnect) -> bool:
    """Whether the connection is libvirt's test driver: its URI, read once per connection object (a
    connection's URI never changes; a reopened one is a new object)."""
    try:
        with _test_driver_lock:
            known = _TEST_DRIVER.get(conn)
    except TypeError:  # cannot be weakly referenced: asked each time
        return conn.getURI().startswith("test:")
    if known is None:
        known = conn.getURI().startswith("test:")
        with _test_driver_lock:
            _TEST_DRIVER[conn] = known
    return known


def test_driver_would_crash(dom: libvirt.virDomain, nic_networks: Iterable[str] | None = None,
                            memo: CrashMemo | None = None) -> bool:
    """True when asking libvirt's test driver for this domain's interface addresses would kill the process.

    The test driver (libvirt 9.x and earlier; `virsh -c test:///... domifaddr` shows it too) answers
    virDomainInterfaceAddresses, whatever the source (lease, agent, arp), with a made-up address taken from
    the first IP block of each `type='network'` NIC's network; when that network exists but has no IP block at
    all (an isolated or bridge-mode network without <ip>), it dereferences a NULL pointer: SIGSEGV, the
    request never answers and every test:/// node of the process is reloaded from its file. A NIC on a
    missing network is no danger (the driver answers NO_NETWORK).

    The rule JVP applies (README, "The test driver"): on a test:/// connection, no address lookup at all for
    a domain that has such a NIC (its NICs show no IPs, as a guest without a DHCP lease would). Only the
    test driver is checked: the URI is read from the connection object (no call to the node), and real
    drivers never take this path.

    `nic_networks`: the networks of the domain's `type='network'` NICs when the caller has read its XML
    already (else it is read here); `memo`: shared by the calls of one listing."""
    memo = CrashMemo() if memo is None else memo
    conn = dom.connect()
    if memo.test_driver is None:
        memo.test_driver = is_test_driver(conn)
    if not memo.test_driver:
        return False
    if nic_networks is None:
        nic_networks = [source.get("network") for source in
                        parse(dom.XMLDesc(0)).findall("devices/interface[@type='network']/source")]
    known = memo.ipless
    for name in nic_networks:
        if not name:
            continue
        if name not in known:
            try:
                xml = conn.networkLookupByName(name).XMLDesc(0)
            except libvirt.libvirtError:
                continue  # gone: the driver reports NO_NETWORK for it instead of crashing (not remembered)
            known[name] = ipless(xml)
        if known[name]:
            return True
    return False


def domain_ips(dom: libvirt.virDomain, *, agent: bool, nic_networks: Iterable[str] | None = None,
               memo: CrashMemo | None = None) -> tuple[dict[str, list[str]], bool | None]:
    """MAC -> IPs from the leases of the VM's networks, merged with the guest agent's view when asked.
    Returns (ips, agent answered: True/False, None when not asked). On the test driver, a domain whose
    lookup would crash the process (test_driver_would_crash, given `nic_networks` and `memo` when the
    caller has them) gets no IPs and no agent answer."""
    ips: dict[str, list[str]] = {}
    if test_driver_would_crash(dom, nic_networks, memo):
        return ips, (False if agent else None)
    try:
        ips = _addresses(dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0))
    except libvirt.libvirtError as exc:
        if not support.lacks("interface_addresses", exc) and exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
            raise
    answered = None
    if agent:
        try:
            from_agent = _addresses(dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0))
            answered = True
        except libvirt.libvirtError as exc:
            if not support.lacks("interface_addresses", exc) and exc.get_error_code() not in _NO_AGENT:
                raise
            from_agent, answered = {}, False
        for mac, addrs in from_agent.items():
            ips.setdefault(mac, [])
            ips[mac] += [a for a in addrs if a not in ips[mac]]
    return ips, answered
