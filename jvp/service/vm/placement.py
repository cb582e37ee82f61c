"""Placement (SPEC 2.7, create-vm with `node: "auto"`): the enabled node with the most free memory that has
what the request asks for (the template, the pool, the networks, room for the VM).

Every node not in maintenance is a candidate, ordered by free memory (virNodeGetMemoryStats; a driver that
does not say, libvirt's test driver: the node's total memory), largest first; nodes that do not answer
within the node timeout are left out. A candidate with less free memory than the VM asks for is skipped; the
others are planned in that order exactly as create-vm on that node would be (plan.Planner.plan: the pool,
template, volumes, networks, capacity), and the first one whose plan holds is taken. An error that does not
depend on the node (a bad user-data, an unknown keypair) is answered at once. When no node can take the
VM: 409 `NoNodeAvailable`, `details.nodes` giving each node's reason {code, message}.
"""
from __future__ import annotations

from typing import Any

from jvp.errors import Conflict, JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.vm.plan import CreatePlan, Planner

# what makes one node unfit while another may do (anything else is the request's fault: answered at once)
NODE_CODES = frozenset({"NodeInMaintenance", "NodeUnreachable", "NodeTimeout", "VmExists", "NodeCapacityExceeded",
                        "StoragePoolNotFound", "StoragePoolInactive", "VolumeNotFound", "VolumeInUse",
                        "VolumeIsTemplate", "VolumeExists", "NetworkNotFound", "NetworkInactive", "BridgeNotFound",
                        "InterfaceNotFound", "MacInUse", "TemplateNotFound", "TemplateImageMissing",
                        "IpOutsideNetwork", "IpInDhcpRange", "LibvirtError"})


def place(planner: Planner, nodes: NodeService, gateway: NodeGateway, req: dict[str, Any],
          created_by: str | None, timeout_s: float) -> CreatePlan:
    names = [r.name for r in nodes.records()[0] if not r.maintenance]
    reasons: dict[str, dict[str, str]] = {}

    def room(node: str) -> int | None:
        free = gateway.free_memory_mib(node)
        return free if free is not None else gateway.node_figures(node)["memory_mib"]
    ranked = []
    for r in gateway.fan_out(names, room, timeout_s, what="say its free memory"):
        if r.error is not None:
            reasons[r.node] = {k: v for k, v in r.error.items() if k != "node"}  # {code, message}
        else:
            ranked.append((r.value or 0, r.node))
    ranked.sort(key=lambda x: -x[0])
    for free, node in ranked:
        if free < req["memory_mib"]:
            reasons[node] = {"code": "NodeCapacityExceeded",
                             "message": f"{free} MiB free, {req['memory_mib']} MiB asked"}
            continue
        try:
            return planner.plan({**req, "node": node}, created_by)
        except JvpError as exc:
            if exc.code not in NODE_CODES:
                raise
            reasons[node] = {"code": exc.code, "message": exc.message}
    raise Conflict(f"no node can take vm '{req['name']}': "
                   + ("; ".join(f"{n}: {r['message']}" for n, r in sorted(reasons.items())) or "no enabled node"),
                   code="NoNodeAvailable", details={"nodes": reasons})
