"""Networks (SPEC 2.6): libvirt virtual networks, their static DHCP hosts, leases and attachable sources.

Everything goes through the node's libvirt connection, so a remote node answers like the local one. The
one extra the local machine gets is its own interface addresses read through netlink for the overlap check;
other nodes offer what libvirt's interface API reports (addresses only with a netcf backend; libvirt has no
API for a node's routes). libvirt's own check at network start backs both up, but it only refuses a subnet
the node has a route for with exactly the same destination and prefix, so a partial overlap with a remote
udev-backend node's addresses is not caught (README: Overlaps).

Changes that depend on the node's current networks (create, static hosts) hold the node's metadata lock,
so two requests, even in two server processes, cannot both take the same subnet, bridge or address.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from jvp.domain.network import (DhcpHost, DomainAttachment, IpBlock, NetworkLease, NetworkSources, NetworkSpec,
                                NetworkView, SourceBridge)
from jvp.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, already_exists
from jvp.hostnet import HostNetwork, uri_is_this_machine
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.network import rules as rules
from jvp.service.node import NodeService
from jvp.store import MetadataStore

BRIDGE_PREFIX = "jvpbr"  # generated bridge names: jvpbr0, jvpbr1, ... (the lowest free number)


def _option(field_: str, message: str) -> InvalidInput:
    return InvalidInput(message, code="InvalidNetworkOption", details={"field_errors": {field_: [message]}})


@dataclass
class HostAddressing:
    """What the overlap and bridge checks know of a node's own interfaces."""
    known: bool                     # False: the node has no interface backend (nothing is known)
    names: set[str] = field(default_factory=set)
    bridges: set[str] = field(default_factory=set)
    addresses: list[tuple[str, str]] = field(default_factory=list)   # (interface, address/prefix)


@dataclass(frozen=True)
class CheckedRequest:
    """A create-network request after the checks that need nothing but the request."""
    ipv4: ipaddress.IPv4Interface | None = None
    ipv6: ipaddress.IPv6Interface | None = None
    dhcp_start: ipaddress.IPv4Address | None = None
    dhcp_end: ipaddress.IPv4Address | None = None
    domain: str | None = None


@dataclass(eq=False)
class NetworkService:
    nodes: NodeService
    gateway: NodeGateway
    store: MetadataStore
    hostnet: HostNetwork

    # -- plumbing -----------------------------------------------------------------------------------
    def on_this_machine(self, node: str) -> bool:
        rec = self.nodes.record(node)
        return rec.is_local and uri_is_this_machine(rec.uri)

    def host_interfaces(self, node: str) -> HostAddressing:
        """The node's interfaces: names, bridges and addresses, from netlink here, else from libvirt."""
        if self.on_this_machine(node):
            links = self.hostnet.links()
            return HostAddressing(known=True, names={lk["name"] for lk in links},
                                  bridges={lk["name"] for lk in links if lk["kind"] == "bridge"},
                                  addresses=[(lk["name"], a) for lk in links for a in lk["addresses"]])
        ifaces = self.gateway.node_interfaces(node)
        if ifaces is None:
            return HostAddressing(known=False)
        return HostAddressing(known=True, names={i.name for i in ifaces if i.name},
                              bridges={i.name for i in ifaces if i.type == "bridge" and i.name},
                              addresses=[(i.name or "", a) for i in ifaces for a in i.addresses])

    @staticmethod
    def users(view: NetworkView, attachments: list[DomainAttachment], running_only: bool = False) -> list[str]:
        """VMs with a NIC on the network, or plugged straight into its bridge."""
        return sorted(a.name or "" for a in attachments
                      if (a.active or not running_only)
                      and (view.name in a.networks or (view.bridge and view.bridge in a.bridges)))

    @staticmethod
    def _public(node: str, view: NetworkView, attachments: list[DomainAttachment]) -> NetworkView:
        vms = NetworkService.users(view, attachments)
        return dataclasses.replace(view, node=node, vm_count=len(vms), vms=vms)

    # -- reading ------------------------------------------------------------------------------------
    def list(self, node: str) -> list[NetworkView]:
        views = self.gateway.list_networks(node)
        attachments = self.gateway.network_attachments(node)
        return [self._public(node, v, attachments) for v in views]

    def _view(self, node: str, name: str) -> NetworkView:
        return self.gateway.describe_network(node, name)

    def _attachments(self, node: str, view: NetworkView, *, check: bool = False) -> list[DomainAttachment]:
        """The domains that can be the network's users (a NIC on it or on its bridge), not every domain;
        `check` when the answer guards a change (exact: a VM defined by another client a moment ago counts)."""
        return self.gateway.network_attachments(node, networks=[view.name],
                                                bridges=[view.bridge] if view.bridge else [], check=check)

    def describe(self, node: str, name: str) -> NetworkView:
        view = self._view(node, name)
        return self._public(node, view, self._attachments(node, view))

    def leases(self, node: str, name: str) -> list[NetworkLease]:
        return self.gateway.network_leases(node, name)

    def sources(self, node: str) -> NetworkSources:
        """What a VM NIC can attach to: libvirt networks, host bridges, physical NICs (macvtap)."""
        nets = self.gateway.list_networks(node)
        ifaces = self.gateway.node_interfaces(node)
        nics = self.gateway.physical_nics(node)
        owner = {n.bridge: n.name for n in nets if n.bridge}
        if ifaces is not None:
            bridges = [SourceBridge(name=i.name or "", active=i.active, network=owner.get(i.name or ""))
                       for i in ifaces if i.type == "bridge"]
            enslaved = {m for i in ifaces for m in i.members}
            source = "libvirt-interfaces"
        else:
            # No interface backend on the node: the bridges libvirt's networks name are all that is known.
            bridges = [SourceBridge(name=n.bridge, active=n.state == "active" if n.mode != "bridge" else None,
                                    network=owner.get(n.bridge)) for n in nets if n.bridge]
            enslaved, source = set(), "libvirt-networks"
        return NetworkSources(
            node=node,
            networks=nets,
            bridges=sorted({b.name: b for b in bridges}.values(), key=lambda b: b.name),
            bridges_source=source,
            interfaces=[n for n in nics if n.name not in enslaved],
        )

    # -- creating -----------------------------------------------------------------------------------
    def _validate(self, name: str, mode: str, bridge: str | None, ipv4_cidr: str | None, dhcp: bool | None,
                  dhcp_start: str | None, dhcp_end: str | None, ipv6_cidr: str | None,
                  domain: str | None) -> CheckedRequest:
        """Every check that needs nothing but the request."""
        if bridge is not None:
            rules.validate_ifname(bridge)
        if mode == "bridge":
            if not bridge:
                raise _option("bridge", "a bridge-mode network needs `bridge`: the name of an existing host "
                              "bridge (see list-bridges)")
            given = {"ipv4_cidr": ipv4_cidr, "ipv6_cidr": ipv6_cidr, "dhcp_start": dhcp_start,
                     "dhcp_end": dhcp_end, "domain": domain, "dhcp": dhcp or None}
            for name_, value in given.items():
                if value is not None:
                    raise _option(name_, f"a bridge-mode network has no {name_}: the LAN behind the host bridge "
                                  "provides addresses and DHCP")
            return CheckedRequest()
        if mode == "nat" and not ipv4_cidr:
            raise InvalidInput("a NAT network needs ipv4_cidr, the host side's address with its prefix "
                               "(e.g. 198.18.10.1/24)", code="CidrRequired",
                               details={"field_errors": {"ipv4_cidr": ["Required for mode nat."]}})
        if mode == "route" and not (ipv4_cidr or ipv6_cidr):
            raise InvalidInput("a routed network needs ipv4_cidr or ipv6_cidr", code="CidrRequired",
                               details={"field_errors": {"ipv4_cidr": ["Required for mode route."]}})
        ipv4 = rules.parse_ipv4_cidr(ipv4_cidr) if ipv4_cidr else None
        ipv6 = rules.parse_ipv6_cidr(ipv6_cidr) if ipv6_cidr else None
        if dhcp and ipv4 is None:
            raise _option("dhcp", "dhcp=true needs ipv4_cidr: JVP serves DHCP on the network's IPv4 subnet "
                          "(IPv6 guests configure themselves); give ipv4_cidr or drop dhcp")
        for name_, value in (("dhcp_start", dhcp_start), ("dhcp_end", dhcp_end)):
            if value is not None and ipv4 is None:
                raise _option(name_, f"{name_} needs ipv4_cidr: a DHCP range lies inside the IPv4 subnet")
            if value is not None and dhcp is False:
                raise _option(name_, f"{name_} was given with dhcp=false; drop one of them")
        start, end = rules.dhcp_range(ipv4, dhcp_start, dhcp_end) if ipv4 and dhcp is not False else (None, None)
        return CheckedRequest(ipv4=ipv4, ipv6=ipv6, dhcp_start=start, dhcp_end=end,
                              domain=rules.validate_domain(domain) if domain else None)

    def _check_bridge(self, node: str, mode: str, bridge: str, nets: list[NetworkView],
                      host: HostAddressing) -> None:
        for other in nets:
            if other.bridge == bridge:
                raise Conflict(f"bridge '{bridge}' is already used by network '{other.name}' on node '{node}'; "
                               "choose another bridge name (or leave it out to get a free one)",
                               code="BridgeInUse", details={"bridge": bridge, "network": other.name,
                                                            "field_errors": {"bridge": ["In use."]}})
        if mode == "bridge":
            if host.known and bridge not in host.bridges:
                what = "is not a bridge" if bridge in host.names else "does not exist"
                raise PreconditionFailed(f"host bridge '{bridge}' {what} on node '{node}'; create it first "
                                         "(create-bridge on the local node) or name an existing one",
                                         code="HostBridgeMissing", details={"bridge": bridge, "node": node})
        elif bridge in host.names:
            raise Conflict(f"an interface named '{bridge}' already exists on node '{node}'; libvirt must create "
                           "the bridge of a network itself: choose another name", code="BridgeInUse",
                           details={"bridge": bridge, "interface": bridge,
                                    "field_errors": {"bridge": ["In use."]}})

    @staticmethod
    def _free_bridge(nets: list[NetworkView], host: HostAddressing) -> str:
        taken = {n.bridge for n in nets} | host.names
        return next(f"{BRIDGE_PREFIX}{i}" for i in range(len(taken) + 1) if f"{BRIDGE_PREFIX}{i}" not in taken)

    @staticmethod
    def _check_overlap(node: str, subnets: list, nets: list[NetworkView], host: HostAddressing) -> None:
        claims = [(n.name, ipaddress.ip_network(s)) for n in nets for s in n.subnets]
        hit = rules.find_overlap(subnets, claims)
        if hit:
            other, theirs, mine = hit
            raise Conflict(f"subnet {mine} overlaps {theirs} of network '{other}' on node '{node}'; choose a "
                           "subnet no other network uses", code="SubnetOverlap",
                           details={"network": other, "subnet": str(mine), "other_subnet": str(theirs)})
        addrs = [(iface, ipaddress.ip_interface(a).network) for iface, a in host.addresses]
        hit = rules.find_overlap(subnets, addrs)
        if hit:
            iface, theirs, mine = hit
            raise Conflict(f"subnet {mine} overlaps {theirs} on the node's interface {iface} (node '{node}'); "
                           "guests there would shadow the host's own network: choose another subnet",
                           code="SubnetInUseOnHost",
                           details={"interface": iface, "subnet": str(mine), "other_subnet": str(theirs)})

    def create(self, node: str, name: str, mode: str = "nat", bridge: str | None = None,
               ipv4_cidr: str | None = None, dhcp: bool | None = None, dhcp_start: str | None = None,
               dhcp_end: str | None = None, ipv6_cidr: str | None = None, domain: str | None = None,
               autostart: bool = True) -> NetworkView:
        """Define and start a network after every check; a failed start removes the definition."""
        checked = self._validate(name, mode, bridge, ipv4_cidr, dhcp, dhcp_start, dhcp_end, ipv6_cidr, domain)
        self.nodes.ensure_available(node)
        with self.store.locked("node", node):
            nets = self.gateway.list_networks(node)
            if any(n.name == name for n in nets):
                raise already_exists("network", name, node, code="NetworkExists")
            host = self.host_interfaces(node)
            bridge = bridge or self._free_bridge(nets, host)
            self._check_bridge(node, mode, bridge, nets, host)
            subnets = [i.network for i in (checked.ipv4, checked.ipv6) if i is not None]
            self._check_overlap(node, subnets, nets, host)
            spec = NetworkSpec(name=name, mode=mode, bridge=bridge, ipv4=checked.ipv4, ipv6=checked.ipv6,
                               dhcp_start=checked.dhcp_start, dhcp_end=checked.dhcp_end, domain=checked.domain)
            self.gateway.create_network(node, spec, autostart)
        return self.describe(node, name)

    # -- lifecycle ----------------------------------------------------------------------------------
    def _in_use(self, node: str, view: NetworkView, verb: str, running_only: bool) -> None:
        vms = self.users(view, self._attachments(node, view, check=True), running_only=running_only)
        if vms:
            which = "running VMs" if running_only else "VMs"
            raise Conflict(f"cannot {verb} network '{view.name}' on node '{node}': {which} use it "
                           f"({', '.join(vms)}); detach their NICs or delete them first",
                           code="NetworkInUse", details={"network": view.name, "node": node, "vms": vms})

    def delete(self, node: str, name: str) -> None:
        """Refused while any defined VM (running or not) has a NIC on it: its config would dangle."""
        view = self._view(node, name)
        self._in_use(node, view, "delete", running_only=False)
        self.gateway.delete_network(node, name)

    def start(self, node: str, name: str) -> NetworkView:
        if self._view(node, name).state == "active":
            raise Conflict(f"network '{name}' on node '{node}' is already active", code="NetworkActive",
                           details={"network": name, "node": node})
        self.gateway.start_network(node, name)
        return self.describe(node, name)

    def stop(self, node: str, name: str) -> NetworkView:
        """Refused while running VMs use it (they would lose their link); stopped VMs do not block it: they
        cannot start until the network runs again, and libvirt says so."""
        view = self._view(node, name)
        if view.state != "active":
            raise Conflict(f"network '{name}' on node '{node}' is not active", code="NetworkInactive",
                           details={"network": name, "node": node})
        self._in_use(node, view, "stop", running_only=True)
        self.gateway.stop_network(node, name)
        return self.describe(node, name)

    def modify(self, node: str, name: str, autostart: bool | None = None) -> NetworkView:
        self._view(node, name)
        if autostart is not None:
            self.gateway.set_network_autostart(node, name, autostart)
        return self.describe(node, name)

    # -- static DHCP hosts --------------------------------------------------------------------------
    def _dhcp_block(self, node: str, name: str, ip: str) -> tuple[IpBlock, ipaddress.IPv4Interface]:
        """The IPv4 <ip> block a new reservation of `ip` belongs to: the one whose subnet (with the prefix
        libvirt derives) holds the address. A network with several blocks gets the host in that block, never
        in the first one by default."""
        view = self._view(node, name)
        dhcp_blocks = [b for b in view.ips if b.family == "ipv4" and b.dhcp and b.interface() is not None]
        if not dhcp_blocks:
            raise PreconditionFailed(f"network '{name}' on node '{node}' has no IPv4 DHCP service; static "
                                     "hosts need a network created with ipv4_cidr and DHCP on",
                                     code="DhcpNotEnabled", details={"network": name, "node": node})
        addr = rules.parse_ip(ip)
        block = rules.containing_block(view.ips, addr)
        if block is not None and block.family == "ipv4" and not block.dhcp:
            raise PreconditionFailed(f"the block {block.interface().network} of network '{name}' on node "
                                     f"'{node}' serves no DHCP; static hosts go into a block with DHCP on "
                                     f"({', '.join(str(b.interface().network) for b in dhcp_blocks)})",
                                     code="DhcpNotEnabled", details={"network": name, "node": node,
                                                                     "subnet": str(block.interface().network)})
        if block is None or block.family != "ipv4":
            block = dhcp_blocks[0]  # validate_reservation says why the address fits no block
        return block, block.interface()

    def add_host(self, node: str, name: str, mac: str, ip: str, hostname: str | None = None) -> NetworkView:
        """Reserve an IPv4 address in the <ip> block whose subnet holds it (see _dhcp_block)."""
        mac = rules.normalize_mac(mac)
        hostname = rules.validate_hostname(hostname) if hostname else None
        block, iface = self._dhcp_block(node, name, ip)
        addr = str(rules.validate_reservation(iface, ip))
        with self.store.locked("node", node):
            hosts = self.gateway.network_config_hosts(node, name)
            rules.check_reservation_free(name, hosts, mac, addr)
            if hostname and any(h.hostname == hostname for h in hosts):
                raise Conflict(f"hostname '{hostname}' is already reserved on network '{name}'; DNS names must "
                               "be unique", code="HostnameTaken",
                               details={"network": name, "hostname": hostname,
                                        "field_errors": {"hostname": ["Already reserved."]}})
            host = DhcpHost(mac=mac, ip=addr, hostname=hostname)
            self.gateway.add_network_host(node, name, host, block.index)
        return self.describe(node, name)

    def remove_host(self, node: str, name: str, ip: str, mac: str | None = None, hostname: str | None = None
                    ) -> NetworkView:
        """The reservation of `ip` (compared as addresses, so any spelling of it matches), narrowed by
        `mac` and `hostname` when given. `mac` may be left out: reservations made outside JVP can have
        none (a name and an address only, or an IPv6 host). It is removed from the <ip> block that holds it
        (IPv4 or IPv6; else the block whose subnet holds the address)."""
        mac = rules.normalize_mac(mac) if mac else None
        addr = rules.parse_ip(ip)
        with self.store.locked("node", node):
            hosts = self.gateway.network_config_hosts(node, name)
            found = [h for h in hosts if rules.same_ip(h.ip, addr) and (mac is None or h.mac == mac)
                     and (hostname is None or h.hostname == hostname)]
            what = " ".join(p for p in (mac, f"-> {addr}" if mac else str(addr),
                                        f"named '{hostname}'" if hostname else None) if p)
            if not found:
                raise NotFound(f"network '{name}' on node '{node}' has no static host {what}; see "
                               "describe-network", code="NetworkHostNotFound",
                               details={"network": name, "node": node, "mac": mac, "ip": str(addr)})
            if len(found) > 1:
                raise Conflict(f"network '{name}' on node '{node}' has {len(found)} static hosts {what} (its live "
                               "and persistent configurations differ); give `mac` to say which",
                               code="NetworkHostAmbiguous",
                               details={"network": name, "node": node,
                                        "hosts": [dataclasses.asdict(h) for h in found]})
            block = rules.block_of_host(self._view(node, name).ips, found[0], addr)
            # no block lists it or holds its address (it is in the persistent config only): libvirt's own pick
            self.gateway.remove_network_host(node, name, found[0], block.index if block is not None else -1)
        return self.describe(node, name)
