"""The migration preflight (check-migrate-vm, and migrate-vm before anything moves): every check of a move,
collected in the MigrationPlan with one error per failed check. The rules are in migrate.py's docstring."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jvp.domain.migration import (
    BackingMove,
    DiskMove,
    MigrationCheck,
    MigrationGuest,
    MigrationPlan,
)
from jvp.domain.storage_pool import TEMPLATE_POOL_SUFFIX
from jvp.domain.vm import VmView
from jvp.errors import Conflict, InvalidInput, JvpError, PreconditionFailed, not_found
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.vm.rules import check_nic_source, state_error

log = logging.getLogger(__name__)
LIVE_STATES = ("running", "paused")


@dataclass
class Preflight:
    plan: MigrationPlan
    guest: MigrationGuest | None = None
    vm: VmView | None = None
    errors: list[JvpError] = field(default_factory=list)   # one per failed check, in check order


def _fail(pre: Preflight, check: str, exc: JvpError) -> None:
    pre.plan.checks.append(MigrationCheck(check=check, ok=False, message=exc.message, code=exc.code))
    pre.errors.append(exc)


def _pass(pre: Preflight, check: str, message: str) -> None:
    pre.plan.checks.append(MigrationCheck(check=check, ok=True, message=message))


def migration_uri(uri: str) -> str | None:
    """QEMU's migration URI for a node reached at `uri`: tcp://<its host>; None without a host."""
    host = urlsplit(uri).hostname
    if not host:
        return None
    return f"tcp://[{host}]" if ":" in host else f"tcp://{host}"


class MigrationChecks:
    """Mixed into VmMigrator (which provides nodes, gateway and template_pool)."""
    nodes: NodeService
    gateway: NodeGateway
    template_pool: Any

    # -- the preflight -----------------------------------------------------------------------------------
    @staticmethod
    def _validate(req: dict[str, Any]) -> None:
        if req.get("post_copy") and not req.get("live", True):
            raise InvalidInput("post_copy needs a live migration (live: true)", code="InvalidInput",
                               details={"field_errors": {"post_copy": ["Needs live: true."]}})

    def check(self, req: dict[str, Any]) -> Preflight:
        """Every check; lookups (the VM, the target node, reaching both) raise, the checks are collected."""
        self._validate(req)
        node, name, target = req["node"], req["name"], req["target_node"]
        self.nodes.record(node)
        vm = self.gateway.describe_vm(node, name)
        rec = self.nodes.record(target)
        live = vm.state in LIVE_STATES
        plan = MigrationPlan(vm=name, node=node, target_node=target, mode="live" if live else "offline", ok=False,
                             target_uri=migration_uri(rec.uri))
        pre = Preflight(plan=plan, vm=vm)
        if rec.maintenance:
            _fail(pre, "target", JvpError(f"node '{target}' is in maintenance: nothing is moved to it until "
                                          "`enable-node`", code="NodeInMaintenance", status=409,
                                          details={"node": target}))
        else:
            _pass(pre, "target", f"node '{target}' is enabled")
        if target == node:
            _fail(pre, "same_host", self._same_host(name, node, target))
            return self._done(pre)
        uuids = self.gateway.host_uuid(node), self.gateway.host_uuid(target)
        if uuids[0] and uuids[0] == uuids[1]:
            _fail(pre, "same_host", self._same_host(name, node, target, uuids[0]))
            return self._done(pre)
        _pass(pre, "same_host", f"host {uuids[1]} is not the source host {uuids[0]}")
        if vm.state not in (*LIVE_STATES, "stopped"):
            _fail(pre, "state", state_error(name, node, vm.state, "running", "only a running or paused VM "
                                            "(live) or a stopped one (offline) can be migrated"))
        else:
            _pass(pre, "state", f"vm '{name}' is {vm.state}: {plan.mode} migration")
        if self.gateway.vm_defined_anywhere(target, name, vm.uuid):
            _fail(pre, "name", Conflict(f"a VM named '{name}' (or with its UUID {vm.uuid}) exists on node "
                                        f"'{target}'", code="VmExists",
                                        details={"vm": name, "node": target, "uuid": vm.uuid}))
        else:
            _pass(pre, "name", f"no VM '{name}' on node '{target}'")
        g = pre.guest = self.gateway.migration_guest(node, name)
        self._check_machine(pre, g, target)
        self._check_cpu(pre, g, target, name)
        self._check_memory(pre, g, target, live)
        self._check_networks(pre, vm, target, live)
        self._check_storage(pre, vm, node, target, live, req.get("copy_storage", "auto"))
        plan.memory_mib = g.memory_mib
        return self._done(pre)

    @staticmethod
    def _done(pre: Preflight) -> Preflight:
        pre.plan.ok = not pre.errors
        return pre

    @staticmethod
    def _same_host(name: str, node: str, target: str, uuid: str | None = None) -> Conflict:
        why = (f"nodes '{node}' and '{target}' are the same libvirt host (host UUID {uuid})" if uuid else
               f"vm '{name}' is already on node '{target}'")
        return Conflict(f"{why}: migrate to another host", code="MigrationSameHost",
                        details={"vm": name, "node": node, "target_node": target, "host_uuid": uuid})

    def _check_machine(self, pre: Preflight, g: MigrationGuest, target: str) -> None:
        offered = self.gateway.migration_machines(target, g.arch, g.domain_type)
        if offered is None:
            why = f"node '{target}' offers no {g.domain_type} guests for {g.arch}"
        elif g.machine and g.machine not in offered:
            why = f"node '{target}' has no machine type {g.machine} for {g.arch} {g.domain_type} guests"
        else:
            _pass(pre, "machine", f"{g.domain_type} {g.arch} {g.machine or ''}".strip() + " offered")
            return
        _fail(pre, "machine", PreconditionFailed(why, code="MigrationMachineUnsupported",
                                                 details={"node": target, "domain_type": g.domain_type,
                                                          "arch": g.arch, "machine": g.machine}))

    def _check_cpu(self, pre: Preflight, g: MigrationGuest, target: str, name: str) -> None:
        if g.cpu_xml is None:
            _pass(pre, "cpu", "the guest uses the hypervisor's default CPU model")
            return
        result = self.gateway.compare_guest_cpu(target, g)
        if result == "incompatible":
            _fail(pre, "cpu", PreconditionFailed(
                f"the CPU of vm '{name}' ({g.cpu_mode or 'custom'}) is not compatible with node '{target}''s "
                "hypervisor CPU (libvirt's comparison)", code="MigrationCpuIncompatible",
                details={"vm": name, "node": target, "cpu_mode": g.cpu_mode}))
        elif result is None:
            _pass(pre, "cpu", f"not checked: node '{target}' cannot compare CPUs")
        else:
            _pass(pre, "cpu", f"the guest CPU is compatible with node '{target}' ({result})")

    def _check_memory(self, pre: Preflight, g: MigrationGuest, target: str, live: bool) -> None:
        if live:
            free = self.gateway.free_memory_mib(target)
            has, what = free, "free"
        else:
            has, what = self.gateway.node_figures(target)["memory_mib"], "in all"
        if has is not None and has < g.memory_mib:
            _fail(pre, "memory", PreconditionFailed(
                f"vm '{pre.plan.vm}' needs {g.memory_mib} MiB; node '{target}' has {has} MiB {what}",
                code="NodeCapacityExceeded", details={"node": target, "field": "memory_mib",
                                                      "requested": g.memory_mib, "available": has}))
        else:
            _pass(pre, "memory", f"{g.memory_mib} MiB needed, "
                  + (f"{has} MiB {what} on node '{target}'" if has is not None else "free memory unknown"))

    def _check_networks(self, pre: Preflight, vm: VmView, target: str, live: bool) -> None:
        failed = False
        for nic in vm.nics:
            kind = nic.type if nic.type in ("network", "bridge", "direct") else None
            source = nic.network if kind == "network" else nic.bridge if kind == "bridge" else nic.device
            if kind is None or not source:
                continue
            try:
                check_nic_source(self.gateway, target, kind, source, need_active=live)
            except JvpError as exc:
                if exc.code in ("NodeUnreachable", "NodeNotFound"):
                    raise
                _fail(pre, "network", exc)
                failed = True
        if not failed:
            _pass(pre, "network", f"node '{target}' has the VM's networks" if vm.nics else "no NICs")

    def _pool_path(self, node: str, pool: str) -> dict[str, Any] | None:
        try:
            return self.gateway.vm_pool(node, pool)
        except JvpError as exc:
            if exc.code == "StoragePoolNotFound":
                return None
            raise

    def _seen_on_target(self, target: str, pool: str | None, path: str) -> bool:
        if pool:
            info = self._pool_path(target, pool)
            if info and info["active"]:
                try:
                    self.gateway.refresh_pool(target, pool)
                except JvpError as exc:
                    log.info("refreshing pool %s on %s before the migration check: %s", pool, target, exc)
        return self.gateway.volume_at_path(target, path) is not None

    def _target_pool(self, pre: Preflight, node: str, target: str, pool: str | None, path: str,
                     what: str) -> bool:
        """The target's pool of the same name can take a copy of the file at path; else a failed check."""
        if pool is None:
            _fail(pre, "storage", Conflict(f"{what} {path} is not a volume of a pool on node '{node}', so JVP "
                                           "cannot copy it; the target does not see it either",
                                           code="MigrationStorageNotShared",
                                           details={"path": path, "node": target}))
            return False
        info = self._pool_path(target, pool)
        if info is None:
            _fail(pre, "storage", not_found("storage_pool", pool, target, code="StoragePoolNotFound",
                                            reason=f"{what} {path} is copied into the pool of the same name"))
            return False
        if not info["active"]:
            _fail(pre, "storage", PreconditionFailed(f"storage pool '{pool}' on node '{target}' is not active; "
                                                     "start it first", code="StoragePoolInactive",
                                                     details={"pool": pool, "node": target}))
            return False
        src = self._pool_path(node, pool) or {}
        if src.get("path") != info["path"]:
            _fail(pre, "storage", Conflict(
                f"storage pool '{pool}' is at {info['path']} on node '{target}' but at {src.get('path')} on node "
                f"'{node}': a copy of {path} must land at the same path", code="MigrationStoragePathMismatch",
                details={"pool": pool, "node": target, "path": info["path"], "source_path": src.get("path")}))
            return False
        return True

    def _check_storage(self, pre: Preflight, vm: VmView, node: str, target: str, live: bool, mode: str) -> None:
        ok = True
        for d in vm.disks:
            move = DiskMove(target=d.target or "", device=d.device, path=d.path, pool=d.pool, volume=d.volume,
                            format=d.format, capacity_bytes=d.capacity_bytes, readonly=bool(d.readonly),
                            action="none")
            pre.plan.disks.append(move)
            if not d.path or d.type == "network":
                continue
            what = "cdrom" if d.device == "cdrom" else "disk"
            if self._seen_on_target(target, d.pool, d.path):
                if mode == "all":
                    _fail(pre, "storage", Conflict(
                        f"node '{target}' already has a file at {d.path} ({what} {d.target}): with shared "
                        "storage use copy_storage auto or none", code="VolumeExists",
                        details={"path": d.path, "node": target, "pool": d.pool, "name": d.volume}))
                    ok = False
                move.action = "shared"
                continue
            if mode == "none":
                _fail(pre, "storage", Conflict(
                    f"{what} {d.target} ({d.path}) is not on storage node '{target}' sees: copy it with "
                    "copy_storage auto or all", code="MigrationStorageNotShared",
                    details={"path": d.path, "node": target, "target": d.target}))
                ok = False
                continue
            if not self._target_pool(pre, node, target, d.pool, d.path, what):
                ok = False
                continue
            move.action = "copy" if live and not move.readonly and d.device == "disk" else "transfer"
            if d.backing:
                move.backing = self._backing(pre, node, target, d.backing)
                ok = ok and move.backing is not None
        if ok:
            actions = sorted({d.action for d in pre.plan.disks if d.action != "none"})
            _pass(pre, "storage", "disks: " + (", ".join(actions) if actions else "none to move"))

    def _backing(self, pre: Preflight, node: str, target: str, path: str) -> BackingMove | None:
        where = self.gateway.volume_at_path(node, path)
        pool, volume = where if where else (None, None)
        if self.gateway.volume_at_path(target, path) is not None or self._seen_on_target(target, pool, path):
            return BackingMove(path=path, pool=pool, volume=volume, action="present")
        if pool and pool.endswith(TEMPLATE_POOL_SUFFIX) and self.template_pool is not None and \
                self._pool_path(target, pool) is None:
            # a template's image: its template pool is made on the target under the parent pool (same path)
            parent = pool[:-len(TEMPLATE_POOL_SUFFIX)]
            if not self._target_pool(pre, node, target, parent, path, "base image"):
                return None
            return BackingMove(path=path, pool=pool, volume=volume, action="transfer")
        if not self._target_pool(pre, node, target, pool, path, "base image"):
            return None
        return BackingMove(path=path, pool=pool, volume=volume, action="transfer")
