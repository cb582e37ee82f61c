"""libvirt networks: list and describe them (their XML read by network_view.py), build it for each mode,
define/start/stop, static DHCP hosts, leases and which domains use which network. What a VM NIC can attach to
besides a network (host interfaces, physical NICs) is in host_nics.py. Everything goes through the node's
libvirt connection, so remote nodes answer alike.
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone

import libvirt
from lxml import etree

from jvp.domain.network import DhcpHost, DomainAttachment, NetworkLease, NetworkSpec, NetworkView
from jvp.errors import Conflict, JvpError, already_exists
from jvp.hypervisor import support
from jvp.hypervisor.errors import libvirt_details
from jvp.hypervisor.listing import views_of
from jvp.hypervisor.network_view import network_view, unreadable_view
from jvp.hypervisor.ref_index import INDEX
from jvp.hypervisor.xml import parse, to_string
from jvp.hypervisor.xml.network import DhcpHost as HostElement
from jvp.hypervisor.xml.network import Ip, Network

# libvirt's own check at start (bridge_driver.c, networkCheckRouteCollision): the node routes this subnet.
_IN_USE = re.compile(r"already in use by interface (\S+)")


# -- reading ------------------------------------------------------------------------------------------
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
