"""Network operations of the node gateway (see base.py for the rules every operation follows): libvirt
networks, their static DHCP hosts and leases, which domains use them, and what a VM NIC can attach to."""
from __future__ import annotations

from jvp.domain.network import (DhcpHost, DomainAttachment, NetworkLease, NetworkSpec, NetworkView, NodeInterface,
                                PhysicalNic)
from jvp.hypervisor import host_nics, network
from jvp.hypervisor.gateway.base import GatewayBase


class NetworkOps(GatewayBase):
    # -- reading ------------------------------------------------------------------------------------
    def list_networks(self, node: str) -> list[NetworkView]:
        """Every network of the node as its SPEC 2.6 view (with `subnets` and `dhcp`), sorted by name."""
        return self._read(node, lambda c: network.list_networks(c), kind="network")

    def describe_network(self, node: str, name: str) -> NetworkView:
        """One network's view; NetworkNotFound when it does not exist."""
        return self._read(node, lambda c: network.describe(c, name), kind="network", obj=name)

    def network_attachments(self, node: str, networks: list[str] | None = None,
                            bridges: list[str] | None = None, *, check: bool = False) -> list[DomainAttachment]:
        """Every domain with the networks and bridges its NICs name (live and next-boot config); only the
        domains on one of `networks` or `bridges` when either is given (from the index: cost follows them).
        `check`: the answer guards a change (delete or stop the network): exact (base.py `_check`)."""
        read = self._check if check else self._read
        return read(node, lambda c: network.domain_attachments(c, networks, bridges), kind="network")

    def network_leases(self, node: str, name: str) -> list[NetworkLease]:
        """The DHCP leases dnsmasq handed out on the network."""
        return self._read(node, lambda c: network.leases(c, name), kind="network", obj=name,
                          action="list leases of")

    def network_config_hosts(self, node: str, name: str) -> list[DhcpHost]:
        """The static DHCP hosts of the live and the persistent definition together."""
        return self._read(node, lambda c: network.config_hosts(c, name), kind="network", obj=name)

    def node_interfaces(self, node: str) -> list[NodeInterface] | None:
        """The node's interfaces through libvirt's interface API; None without an interface backend."""
        return self._read(node, lambda c: host_nics.host_interfaces(c), kind="network")

    def physical_nics(self, node: str) -> list[PhysicalNic]:
        """NICs on a bus (macvtap candidates)."""
        return self._read(node, lambda c: host_nics.physical_nics(c), kind="network")

    # -- changing -----------------------------------------------------------------------------------
    def create_network(self, node: str, spec: NetworkSpec, autostart: bool) -> None:
        """Define, set autostart and start the network of `spec`; a failed step removes what was made."""
        xml = network.build_network_xml(spec)
        self._write(node, lambda c: network.define_and_start(c, xml, autostart=autostart, node=node,
                                                             name=spec.name),
                    kind="network", obj=spec.name, action="create")

    def start_network(self, node: str, name: str) -> None:
        """Start a defined network (SubnetInUseOnHost when the node routes its subnet already)."""
        self._write(node, lambda c: network.start(c, name, node), kind="network", obj=name, action="start")

    def stop_network(self, node: str, name: str) -> None:
        """Stop (destroy) a running network."""
        self._write(node, lambda c: network.stop(c, name), kind="network", obj=name, action="stop")

    def delete_network(self, node: str, name: str) -> None:
        """Stop (when active) and undefine (when persistent) a network."""
        self._write(node, lambda c: network.delete(c, name), kind="network", obj=name, action="delete")

    def set_network_autostart(self, node: str, name: str, autostart: bool) -> None:
        """Start the network with libvirtd, or not."""
        self._write(node, lambda c: network.set_autostart(c, name, autostart), kind="network", obj=name,
                    action="modify")

    def add_network_host(self, node: str, name: str, host: DhcpHost, block: int) -> None:
        """Add a static DHCP host to the `block`-th <ip> (live and persistent config as the network has them)."""
        self._write(node, lambda c: network.update_host(c, name, host, add=True, block=block), kind="network",
                    obj=name,
                    action="add a static host to")

    def remove_network_host(self, node: str, name: str, host: DhcpHost, block: int) -> None:
        """Remove a static DHCP host of the `block`-th <ip> (live and persistent config as the network has
        them)."""
        self._write(node, lambda c: network.update_host(c, name, host, add=False, block=block), kind="network",
                    obj=name,
                    action="remove a static host from")
