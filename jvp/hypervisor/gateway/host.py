"""Node-level operations: the figures of a host, its devices and VMs, and reaching a URI before it is saved."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from jvp.domain.node import HostFacts, HostSummary, NodeDevice, NodeVm
from jvp.errors import NodeUnreachable
from jvp.hypervisor import host, host_devices
from jvp.hypervisor.connection import NodeConnection
from jvp.hypervisor.gateway.base import GatewayBase
from jvp.hypervisor.host_cache import HOST_FACTS

_checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="node-check")


class HostOps(GatewayBase):
    def host_facts(self, node: str) -> HostFacts:
        """What list-nodes shows of a node: kept per connection, what is not current read now
        (hypervisor/host_cache.py: static facts, then one bulk domain stats call for the VM counts)."""
        return self._read(node, HOST_FACTS.read, kind="node", obj=node)

    def cached_host_facts(self, node: str, uri: str) -> HostFacts | None:
        """host_facts when the cache holds current ones for the node's open connection (at `uri`): no call to
        the node, no wait, no connection opened. None when they must be read (through host_facts, bounded by
        the caller), and always for a node the health memory knows dead."""
        if self.health.dead(node) is not None:
            return None
        nc = self._connections.peek(node, uri)
        conn = nc.current() if nc is not None else None
        return HOST_FACTS.fresh(conn) if conn is not None else None

    def host_summary(self, node: str) -> HostSummary:
        return self._read(node, host.host_summary, kind="node", obj=node)

    def host_devices(self, node: str, kind: str) -> list[NodeDevice]:
        return self._read(node, lambda c: host_devices.node_devices(c, kind), kind="node", obj=node)

    def host_vms(self, node: str) -> list[NodeVm]:
        return self._read(node, host.node_vms, kind="node", obj=node)

    def check_uri(self, name: str, uri: str, timeout_s: float) -> None:
        """Connect to a URI that is not saved yet, bounded by timeout_s: NodeUnreachable (502) when it does
        not answer in time, the mapped libvirt error when it refuses."""
        probe = NodeConnection(name, uri, open_timeout_s=timeout_s, opener=self._connections.opener)
        fut = _checks.submit(lambda: probe.call_mapped(lambda c: c.getHostname(), kind="node", obj=name))
        try:
            fut.result(timeout=timeout_s)
        except FutureTimeout:
            raise NodeUnreachable(f"cannot connect to node '{name}' at {uri}: no answer within "
                                  f"{timeout_s:g}s", details={"node": name, "uri": uri}) from None
        finally:
            fut.add_done_callback(lambda _f: probe.close())
