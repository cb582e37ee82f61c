"""evacuate-node (SPEC 2.1): live-migrate every running VM off a node, then put it in maintenance.

Rules (also in the README's Migration section):
- Targets: `target_nodes` (each must exist and differ from the node: NodeNotFound, InvalidInput), or every
  other node not in maintenance. Checked before the task starts.
- Per VM (running or paused ones; a stopped VM stays defined where it is and is listed as `stayed`), in
  order of memory, largest first: the migrate-vm preflight (copy_storage auto) against every target; among
  the targets that pass, the one with the most free memory left (free memory minus what this evacuation
  already moved there) takes it. A VM no target takes, or whose move fails, is reported with the failed
  check's or the move's code and message and stays running where it is; the others go on.
- Then the node is put in maintenance (whatever moved), so that nothing new is placed on it.
- cancel-task aborts the move under way (that VM stays on the node) and ends the evacuation; VMs already
  moved stay moved; the node is not put in maintenance.
"""
from __future__ import annotations

import logging
from typing import Any

from jvp.errors import InvalidInput, JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.task.handle import TaskCancelled, TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.migrate import VmMigrator

log = logging.getLogger(__name__)
MOVABLE = ("running", "paused")


class NodeEvacuator:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, tasks: TaskService, migrator: VmMigrator,
                 list_timeout_s: float = 10.0):
        self.nodes = nodes
        self.gateway = gateway
        self.tasks = tasks
        self.migrator = migrator
        self.list_timeout_s = list_timeout_s

    def _targets(self, node: str, asked: list[str] | None) -> list[str]:
        if asked:
            for t in asked:
                self.nodes.record(t)  # 404 NodeNotFound
                if t == node:
                    raise InvalidInput(f"node '{node}' cannot be a target of its own evacuation", code="InvalidInput",
                                       details={"field_errors": {"target_nodes": ["Contains the node itself."]}})
            return list(dict.fromkeys(asked))
        return [r.name for r in self.nodes.records()[0] if r.name != node and not r.maintenance]

    def submit(self, req: dict[str, Any], created_by: str | None, request_id: str | None) -> dict[str, Any]:
        node = req["name"]
        self.nodes.record(node)
        targets = self._targets(node, req.get("target_nodes"))
        return self.tasks.submit("evacuate-node", {"kind": "node", "name": node},
                                 lambda h: self.run(node, targets, h), params=dict(req), created_by=created_by,
                                 request_id=request_id, message="queued")

    def _free(self, targets: list[str]) -> dict[str, int | None]:
        free: dict[str, int | None] = {}
        for r in self.gateway.fan_out(targets, self.gateway.free_memory_mib, self.list_timeout_s,
                                      what="say its free memory"):
            free[r.node] = None if r.error else r.value
        return free

    def run(self, node: str, targets: list[str], h: TaskHandle) -> dict[str, Any]:
        vms = self.gateway.host_vms(node)
        movable = sorted((v for v in vms if v.state in MOVABLE), key=lambda v: -(v.memory_mib or 0))
        stayed = [{"vm": v.name, "state": v.state} for v in vms if v.state not in MOVABLE]
        free = self._free(targets)
        moved: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for i, vm in enumerate(movable):
            h.progress(100.0 * i / max(len(movable), 1), f"vm '{vm.name}' ({i + 1} of {len(movable)})", force=True)
            h.check_cancelled()
            chosen, refusals = None, []
            for t in sorted(targets, key=lambda t: -(free.get(t) if free.get(t) is not None else -1)):
                req = {"node": node, "name": vm.name, "target_node": t, "live": True, "copy_storage": "auto"}
                try:
                    pre = self.migrator.check(req)
                except JvpError as exc:
                    refusals.append({"node": t, "code": exc.code, "message": exc.message})
                    continue
                if pre.errors:
                    exc = pre.errors[0]
                    refusals.append({"node": t, "code": exc.code, "message": exc.message})
                    continue
                chosen = (t, pre, req)
                break
            if chosen is None:
                first = {k: v for k, v in refusals[0].items() if k != "node"} if refusals else {
                    "code": "NodeNotFound", "message": "no target node (every other node is in maintenance)"}
                failed.append({"vm": vm.name, **first, "targets": refusals})
                continue
            t, pre, req = chosen
            try:
                result = self.migrator.run(pre.plan, self.migrator.options(pre.plan, req), h)
            except TaskCancelled:
                raise
            except JvpError as exc:
                failed.append({"vm": vm.name, "code": exc.code, "message": exc.message, "targets": []})
                continue
            if free.get(t) is not None and pre.guest is not None:
                free[t] = (free[t] or 0) - pre.guest.memory_mib
            moved.append({"vm": vm.name, "target_node": t, "downtime_ms": result.get("downtime_ms")})
        self.nodes.set_maintenance(node, True)
        return {"node": node, "maintenance": True, "moved": moved, "failed": failed, "stayed": stayed,
                "message": f"node '{node}': {len(moved)} VM(s) moved, {len(failed)} could not move; "
                           "the node is in maintenance"}
