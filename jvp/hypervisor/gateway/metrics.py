"""What the metrics collector reads from a node: one bulk reading of every domain's counters and one of the
host's (jvp/hypervisor/metrics.py)."""
from __future__ import annotations

from jvp.domain.metrics import NodeCounters, VmCounters
from jvp.hypervisor import metrics
from jvp.hypervisor.gateway.base import GatewayBase


class MetricsOps(GatewayBase):
    def vm_counters(self, node: str) -> list[VmCounters]:
        """Every domain of the node with its cumulative counters (bulk stats; per domain where the driver's
        bulk answer lacks them)."""
        return self._read(node, metrics.vm_counters, kind="node", obj=node)

    def node_counters(self, node: str) -> NodeCounters:
        """The host's CPU times, memory and active pools' usage."""
        return self._read(node, metrics.node_counters, kind="node", obj=node)

    def vm_uuid(self, node: str, name: str) -> str:
        """The UUID of the VM of that name (VmNotFound when there is none)."""
        return self._read(node, lambda c: metrics.vm_uuid(c, name), kind="vm", obj=name)
