"""The node gateway: one typed method per operation JVP performs on a node.

Services receive a NodeGateway in their constructor and call its methods; they never hold a libvirt
connection, a libvirt object or an lxml element. Each resource's operations live in their own module (a
mixin of GatewayBase), so the gateway reads like the service layer it serves:

    host.py      node figures, devices, reaching a URI      vm.py        domains: lifecycle, devices, XML
    storage.py   pools and volumes, streams, usage          network.py   networks, DHCP hosts, leases
    snapshot.py  domain snapshots                           console.py   VNC/serial endpoints, streams
    template.py  template pools and images               metrics.py   counters for the metrics collector
    migration.py moving a VM between nodes

Unit tests use fakes with the same method names (tests/unit/fakes/), never patched module paths.
"""
from __future__ import annotations

from jvp.hypervisor.gateway.base import GatewayBase, Locate
from jvp.hypervisor.gateway.console import ConsoleOps
from jvp.hypervisor.gateway.host import HostOps
from jvp.hypervisor.gateway.metrics import MetricsOps
from jvp.hypervisor.gateway.migration import MigrationOps
from jvp.hypervisor.gateway.network import NetworkOps
from jvp.hypervisor.gateway.snapshot import SnapshotOps
from jvp.hypervisor.gateway.storage import StorageOps
from jvp.hypervisor.gateway.template import TemplateOps
from jvp.hypervisor.gateway.vm import VmOps

__all__ = ["NodeGateway", "GatewayBase", "Locate"]


class NodeGateway(HostOps, MetricsOps, VmOps, StorageOps, TemplateOps, NetworkOps, SnapshotOps, ConsoleOps,
                  MigrationOps):
    """Every node operation, typed; see the modules of this package."""
