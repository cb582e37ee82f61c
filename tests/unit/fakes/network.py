"""Fakes for the network and bridge services: the node gateway's network operations over in-memory networks,
and the node service's record/ensure_available (no libvirt, no patched module paths)."""
from __future__ import annotations

import dataclasses
import ipaddress

from jvp.domain.network import (DhcpHost, DomainAttachment, IpBlock, NetworkLease, NetworkSpec, NetworkView,
                                NodeInterface, PhysicalNic)
from jvp.domain.node import NodeRecord
from jvp.errors import JvpError, NotFound


class FakeNodes:
    """The node service's record and ensure_available for one node."""

    def __init__(self, uri: str = "qemu:///system", name: str = "local"):
        self.rec = NodeRecord(name=name, uri=uri)

    def record(self, name: str) -> NodeRecord:
        return self.rec

    def ensure_available(self, name: str) -> NodeRecord:
        return self.rec


def net_view(name: str, *, mode: str = "nat", bridge: str | None = None, state: str = "active",
             ipv4: str | None = None, dhcp: bool = False, hosts: list[DhcpHost] | None = None) -> NetworkView:
    """A network view as jvp.hypervisor.network_view.network_view makes it."""
    iface = ipaddress.IPv4Interface(ipv4) if ipv4 else None
    block = IpBlock(address=str(iface.ip), prefix=iface.network.prefixlen, dhcp=dhcp,
                    hosts=tuple(hosts or ())) if iface else None
    return NetworkView(name=name, uuid=f"uuid-{name}", mode=mode, bridge=bridge, state=state, autostart=True,
                       persistent=True, ipv4=block, ipv6=None, domain=None, hosts=list(hosts or []), dhcp=dhcp,
                       subnets=[str(iface.network)] if iface else [], ips=[block] if block else [])


class FakeNetworkGateway:
    """The network operations of NodeGateway over a dict of network views; `calls` records the changes."""

    def __init__(self, nets: list[NetworkView] = (), attachments: list[DomainAttachment] = (),
                 interfaces: list[NodeInterface] | None = None, nics: list[PhysicalNic] = ()):
        self.nets = {n.name: dataclasses.replace(n, hosts=list(n.hosts)) for n in nets}
        self.attachments = list(attachments)
        self.interfaces = interfaces
        self.nics = list(nics)
        self.calls: list[tuple] = []
        self.checked_attachments: bool | None = None  # `check` of the last network_attachments call

    def _get(self, node: str, name: str) -> NetworkView:
        if name not in self.nets:
            raise NotFound(f"network '{name}' not found on node '{node}'", code="NetworkNotFound")
        return self.nets[name]

    def list_networks(self, node: str) -> list[NetworkView]:
        return [dataclasses.replace(v, hosts=list(v.hosts)) for _, v in sorted(self.nets.items())]

    def describe_network(self, node: str, name: str) -> NetworkView:
        v = self._get(node, name)
        return dataclasses.replace(v, hosts=list(v.hosts))

    def network_attachments(self, node: str, networks: list[str] | None = None,
                            bridges: list[str] | None = None, *, check: bool = False) -> list[DomainAttachment]:
        self.checked_attachments = check
        if networks is None and bridges is None:
            return list(self.attachments)
        return [a for a in self.attachments if a.networks & set(networks or ()) or a.bridges & set(bridges or ())]

    def network_leases(self, node: str, name: str) -> list[NetworkLease]:
        self._get(node, name)
        return []

    def network_config_hosts(self, node: str, name: str) -> list[DhcpHost]:
        return list(self._get(node, name).hosts)

    def node_interfaces(self, node: str) -> list[NodeInterface] | None:
        return self.interfaces

    def physical_nics(self, node: str) -> list[PhysicalNic]:
        return list(self.nics)

    def create_network(self, node: str, spec: NetworkSpec, autostart: bool) -> None:
        if spec.name in self.nets:
            raise JvpError("exists", code="NetworkExists", status=409)
        self.calls.append(("create", spec, autostart))
        self.nets[spec.name] = net_view(spec.name, mode=spec.mode, bridge=spec.bridge,
                                        ipv4=str(spec.ipv4) if spec.ipv4 else None,
                                        dhcp=spec.dhcp_start is not None)

    def start_network(self, node: str, name: str) -> None:
        self.calls.append(("start", name))
        self._get(node, name).state = "active"

    def stop_network(self, node: str, name: str) -> None:
        self.calls.append(("stop", name))
        self._get(node, name).state = "inactive"

    def delete_network(self, node: str, name: str) -> None:
        self.calls.append(("delete", name))
        del self.nets[name]

    def set_network_autostart(self, node: str, name: str, autostart: bool) -> None:
        self.calls.append(("autostart", name, autostart))
        self._get(node, name).autostart = autostart

    def add_network_host(self, node: str, name: str, host: DhcpHost, block: int) -> None:
        self.calls.append(("add-host", name, host, block))
        self._get(node, name).hosts.append(host)

    def remove_network_host(self, node: str, name: str, host: DhcpHost, block: int) -> None:
        self.calls.append(("remove-host", name, host, block))
        hosts = self._get(node, name).hosts
        hosts[:] = [h for h in hosts if (h.mac, h.ip) != (host.mac, host.ip)]
