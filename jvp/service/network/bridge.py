"""Host bridges of the local node, through netlink (SPEC 2.6).

Only the node whose libvirtd runs on this machine has them here: netlink reaches this machine's kernel and
nothing else, and a remote node needs nothing but its libvirt URI (no shell). Every other node answers
`NotSupportedOnRemoteNode` (422: a precondition of the node, not a bad request).

Safety: an interface that carries an address (IPv6 link-local aside) or a default route is *protected*:
enslaving it moves its traffic to the bridge and can cut the host's own connection (the SSH session doing
it). create-bridge refuses it, and delete-bridge refuses a bridge that carries one, unless `force` is true.
Bridges made here live in the kernel only: they do not survive a reboot of the host unless the host's own
network configuration declares them too.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from jvp.domain.bridge import BridgeView, HostInterfaceView
from jvp.domain.network import DomainAttachment, NetworkView
from jvp.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from jvp.hostnet import HostNetwork, uri_is_this_machine
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.network import rules as rules
from jvp.service.node import NodeService

# Kinds of link that can join a bridge (None: a NIC without link info, i.e. a physical/virtio one).
ENSLAVABLE = {None, "veth", "dummy", "bond", "vlan", "team"}


class NotSupportedOnRemoteNode(PreconditionFailed):
    code = "NotSupportedOnRemoteNode"


def _bad(code: str, field: str, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details={"field_errors": {field: [message]}, **details})


class BridgeService:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, hostnet: HostNetwork):
        self.nodes = nodes
        self.gateway = gateway
        self.hostnet = hostnet

    def _require_here(self, node: str, action: str) -> None:
        rec = self.nodes.record(node)
        if rec.is_local and uri_is_this_machine(rec.uri):
            return
        where = (f"the local node's URI {rec.uri} is not this machine's libvirtd" if rec.is_local
                 else f"node '{node}' is reached through libvirt ({rec.uri})")
        raise NotSupportedOnRemoteNode(
            f"{action} is not available on node '{node}': {where}. Host bridges are managed through netlink on "
            "the machine JVP runs on (the node 'local' with a qemu:///system URI); configure bridges on other "
            "hosts in their own network configuration, then use them with bridge-mode networks",
            details={"node": node, "uri": rec.uri})

    @staticmethod
    def _protection(link: dict[str, Any], default_links: set[str]) -> str | None:
        """Why enslaving/removing this link could cut the host off, or None."""
        if link["name"] in default_links:
            return f"'{link['name']}' carries the host's default route"
        addrs = [a for a in link["addresses"] if not ipaddress.ip_interface(a).is_link_local]
        if addrs:
            return f"'{link['name']}' carries the address(es) {', '.join(addrs)}"
        return None

    def _usage(self, node: str) -> tuple[list[NetworkView], list[DomainAttachment]]:
        return self.gateway.list_networks(node), self.gateway.network_attachments(node)

    def _view(self, node: str, link: dict[str, Any], links: list[dict[str, Any]], nets: list[NetworkView],
              attachments: list[DomainAttachment]) -> BridgeView:
        network = next((n.name for n in nets if n.bridge == link["name"]), None)
        vms = sorted(a.name or "" for a in attachments
                     if link["name"] in a.bridges or (network and network in a.networks))
        return BridgeView(name=link["name"], node=node, state=link["state"], mtu=link["mtu"], mac=link["mac"],
                          stp=link["stp"], addresses=link["addresses"],
                          interfaces=sorted(lk["name"] for lk in links if lk["master"] == link["name"]),
                          network=network, vms=vms)

    # -- reading ------------------------------------------------------------------------------------
    def list(self, node: str) -> list[BridgeView]:
        self._require_here(node, "list-bridges")
        links = self.hostnet.links()
        nets, attachments = self._usage(node)
        return [self._view(node, lk, links, nets, attachments) for lk in links if lk["kind"] == "bridge"]

    def describe(self, node: str, name: str) -> BridgeView:
        links = self.hostnet.links()
        link = next((lk for lk in links if lk["name"] == name and lk["kind"] == "bridge"), None)
        if link is None:
            raise NotFound(f"bridge '{name}' not found on node '{node}'", code="BridgeNotFound",
                           details={"bridge": name, "node": node})
        nets, attachments = self._usage(node)
        return self._view(node, link, links, nets, attachments)

    def available_interfaces(self, node: str) -> list[HostInterfaceView]:
        """Interfaces that could join a bridge: no master yet, of an enslavable kind, not loopback."""
        self._require_here(node, "list-available-interfaces")
        default_links = self.hostnet.default_route_links()
        out = []
        for lk in self.hostnet.links():
            if lk["loopback"] or lk["kind"] not in ENSLAVABLE or lk["master"]:
                continue
            reason = self._protection(lk, default_links)
            out.append(HostInterfaceView(name=lk["name"], kind=lk["kind"] or "physical", mac=lk["mac"],
                                         state=lk["state"], mtu=lk["mtu"], addresses=lk["addresses"],
                                         default_route=lk["name"] in default_links, protected=reason is not None,
                                         reason=reason))
        return out

    # -- changing -----------------------------------------------------------------------------------
    def create(self, node: str, name: str, interfaces: list[str], stp: bool = False,
               force: bool = False) -> BridgeView:
        rules.validate_ifname(name, field="name")
        for iface in interfaces:
            rules.validate_ifname(iface, field="interfaces", code="InvalidInterface")
        if len(set(interfaces)) != len(interfaces) or name in interfaces:
            raise _bad("InvalidInterface", "interfaces", "list each interface once, and not the bridge itself")
        self._require_here(node, "create-bridge")
        self.nodes.ensure_available(node)
        links = {lk["name"]: lk for lk in self.hostnet.links()}
        if name in links:
            kind = links[name]["kind"]
            what = "a bridge" if kind == "bridge" else f"an interface ({kind or 'physical'})"
            raise Conflict(f"{what} named '{name}' already exists on node '{node}'; choose another name",
                           code="BridgeExists", details={"bridge": name, "node": node,
                                                         "field_errors": {"name": ["Exists."]}})
        nets, _ = self._usage(node)
        owner = next((n.name for n in nets if n.bridge == name), None)
        if owner:
            raise Conflict(f"libvirt network '{owner}' on node '{node}' names bridge '{name}' (it creates it when it "
                           "starts); choose another name", code="BridgeInUse",
                           details={"bridge": name, "network": owner})
        default_links = self.hostnet.default_route_links()
        for iface in interfaces:
            self._check_member(node, iface, links.get(iface), default_links, force)
        self.hostnet.create_bridge(name, interfaces, stp)
        return self.describe(node, name)

    def _check_member(self, node: str, iface: str, link: dict | None, default_links: set[str],
                      force: bool) -> None:
        if link is None:
            raise NotFound(f"interface '{iface}' not found on node '{node}'; see list-available-interfaces",
                           code="InterfaceNotFound", details={"interface": iface, "node": node})
        if link["loopback"] or link["kind"] not in ENSLAVABLE:
            raise _bad("InvalidInterface", "interfaces", f"interface '{iface}' ({link['kind'] or 'loopback'}) "
                       "cannot join a bridge; use a physical NIC, veth, bond or VLAN", interface=iface)
        if link["master"]:
            raise Conflict(f"interface '{iface}' already belongs to '{link['master']}'; remove it there first",
                           code="InterfaceInUse", details={"interface": iface, "master": link["master"]})
        reason = self._protection(link, default_links)
        if reason and not force:
            raise Conflict(f"{reason}: enslaving it to a bridge would cut the host's own traffic on it (your "
                           "SSH session, perhaps). Move the address to the bridge from a console, or pass "
                           "force=true if you know what you are doing", code="InterfaceProtected",
                           details={"interface": iface, "reason": reason})

    def delete(self, node: str, name: str, force: bool = False) -> None:
        rules.validate_ifname(name, field="name")
        self._require_here(node, "delete-bridge")
        bridge = self.describe(node, name)
        if bridge.network:
            raise Conflict(f"bridge '{name}' belongs to libvirt network '{bridge.network}'; delete or stop the "
                           "network instead", code="BridgeInUse",
                           details={"bridge": name, "network": bridge.network, "vms": bridge.vms})
        if bridge.vms:
            raise Conflict(f"bridge '{name}' is used by VMs ({', '.join(bridge.vms)}); detach their NICs "
                           "first", code="BridgeInUse", details={"bridge": name, "vms": bridge.vms})
        link = next(lk for lk in self.hostnet.links() if lk["name"] == name)
        reason = self._protection(link, self.hostnet.default_route_links())
        if reason and not force:
            raise Conflict(f"{reason}: deleting it would cut the host's own traffic on it; pass force=true "
                           "to delete it anyway", code="InterfaceProtected",
                           details={"interface": name, "reason": reason})
        self.hostnet.delete_bridge(name)
