"""migrate-vm and check-migrate-vm (SPEC 2.7): move a VM to another node.

The preflight (`check`) runs every check before anything moves and answers them all (check-migrate-vm);
migrate-vm refuses with the first failed check's error, then runs the move as a task:

- target: the node exists and is not in maintenance (NodeInMaintenance); same_host: it is another host,
  compared by the host UUID of both daemons' capabilities (MigrationSameHost); state: running or paused
  (live), or stopped (offline); anything else is InvalidState; name: no domain of that name or UUID on the
  target (VmExists); machine: the target offers the domain type and the machine type for the arch
  (MigrationMachineUnsupported); cpu: libvirt compares the guest's CPU with the target's hypervisor CPU
  (virConnectCompareHypervisorCPU; MigrationCpuIncompatible; a driver that cannot compare: not checked);
  memory: a live move needs the VM's memory free on the target, an offline one that much in all
  (NodeCapacityExceeded); network: every NIC's network (active, for a live move) or host bridge exists there
  (NetworkNotFound, NetworkInactive, BridgeNotFound, InterfaceNotFound); storage: per disk, below.
- Storage, per disk: `shared` when the target's libvirt knows a volume at the same path (after refreshing
  its pool of the same name): the disk stays where it is. libvirt itself only recognises cluster file
  systems (NFS, GFS2, Ceph...) as shared and refuses the rest as "unsafe"; JVP passes VIR_MIGRATE_UNSAFE when
  every disk it leaves in place is one the target sees at the same path. Otherwise (copy_storage auto or all)
  the disk is copied into the target's pool of the same name, which must exist, be active and have the same
  path (StoragePoolNotFound, StoragePoolInactive, MigrationStoragePathMismatch): a writable disk of a running
  VM by the migration's block job (non-shared-disk migration: VIR_MIGRATE_NON_SHARED_INC with the disk in
  migrate_disks, into a volume JVP creates first with the same backing file), read-only media (the cloud-init
  seed, ISOs) and every disk of a stopped VM through libvirt streams before the move. A linked clone's base
  image (a template's) is streamed to the target first when the target does not have it. copy_storage=none
  refuses a disk the target does not see (MigrationStorageNotShared); copy_storage=all refuses a disk the
  target already has a file for (VolumeExists).
- The move: libvirt with JVP's connections to both nodes (virDomainMigrate3): persistent on the target,
  undefined on the source (VIR_MIGRATE_PERSIST_DEST | UNDEFINE_SOURCE), the whole domain XML with JVP's
  metadata (template, keypairs, created_by, labels) travels. Progress comes from the job's figures (memory
  and disk bytes processed of the total, with an ETA) every half second. cancel-task aborts the job
  (virDomainAbortJob): the VM keeps running on the source, and the volumes the task made on the target are
  removed. After a successful move the source's copies of the moved disks (not shared ones, not base images)
  are deleted.
- QEMU's migration stream goes to tcp://<host of the target node's URI>; for a URI without a host (the local
  node, qemu:///system) libvirt names the address (qemu.conf's migration_host, else the host name, which must
  resolve on the source to an address of the target).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from jvp.domain.storage_pool import TEMPLATE_POOL_SUFFIX
from jvp.domain.migration import DiskMove, JobFigures, MigrationOptions, MigrationPlan
from jvp.errors import JvpError, NodeUnreachable
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.task.handle import TaskCancelled, TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.migrate_checks import MigrationChecks

log = logging.getLogger(__name__)
BLOCK = 4 * 2**20


# (task handle, node, parent pool) -> the `<pool>_templates_` pool, made on the node when missing
TemplatePoolMaker = Callable[[TaskHandle, str, str], str]


class VmMigrator(MigrationChecks):
    """`template_pool` (the template module's ensure_template_pool): a linked clone's base image that lives
    in a template pool the target lacks goes into that pool, made there under the parent pool of the same
    name and path."""

    def __init__(self, nodes: NodeService, gateway: NodeGateway, tasks: TaskService,
                 template_pool: TemplatePoolMaker | None = None):
        self.nodes = nodes
        self.gateway = gateway
        self.tasks = tasks
        self.template_pool = template_pool

    # -- submitting ----------------------------------------------------------------------------------
    @staticmethod
    def options(plan: MigrationPlan, req: dict[str, Any]) -> MigrationOptions:
        """How libvirt moves the guest, from the request and the preflight's plan."""
        copy = tuple(d.target for d in plan.disks if d.action == "copy")
        kept = [d for d in plan.disks if d.action == "shared"]
        return MigrationOptions(live=bool(req.get("live", True)), offline=plan.mode == "offline",
                                uri=plan.target_uri, copy_disks=copy, unsafe=bool(kept),
                                bandwidth_mib_s=req.get("bandwidth_mib_s"), max_downtime_ms=req.get("max_downtime_ms"),
                                auto_converge=bool(req.get("auto_converge")), post_copy=bool(req.get("post_copy")))

    def submit(self, req: dict[str, Any], created_by: str | None, request_id: str | None) -> dict[str, Any]:
        pre = self.check(req)
        if pre.errors:
            raise pre.errors[0]
        plan, options = pre.plan, self.options(pre.plan, req)
        return self.tasks.submit("migrate-vm", {"kind": "vm", "node": plan.node, "name": plan.vm},
                                 lambda h: self.run(plan, options, h), params=dict(req), created_by=created_by,
                                 request_id=request_id, message="queued")

    # -- the task ------------------------------------------------------------------------------------
    def _transfer(self, h: TaskHandle, node: str, target: str, pool: str, volume: str, fmt: str | None,
                  done: list[dict[str, str]], label: str) -> None:
        """Stream a volume to the target's pool of the same name (created raw with the file's size; libvirt
        re-reads the image's format when the stream ends)."""
        length = self.gateway.volume_physical_size(node, pool, volume)
        spec = {"type": "vm-volume", "node": target, "pool": pool, "volume": volume}
        self.gateway.create_volume(target, pool, volume, max(length, 1), "raw", sparse=True, action="migrate")
        h.add_cleanup(spec)
        done.append(spec)
        sent = 0
        h.restart_rate()

        def blocks():
            nonlocal sent
            for block in self.gateway.download_volume(node, pool, volume, length):
                sent += len(block)
                h.progress(None, f"copying {label} {pool}/{volume} to node '{target}'", bytes_done=sent,
                           bytes_total=length)
                yield block
        h.progress(None, f"copying {label} {pool}/{volume} to node '{target}'", bytes_done=0, bytes_total=length,
                   force=True)
        self.gateway.upload_to_volume(target, pool, volume, length, blocks(), action="migrate")
        self.gateway.settle_volume(target, pool, volume, fmt)

    def _precreate(self, h: TaskHandle, target: str, d: DiskMove, done: list[dict[str, str]]) -> None:
        """The volume the block job copies into: same name, size, format and backing file as the source's."""
        assert d.pool and d.volume
        backing = {"path": d.backing.path, "format": "qcow2"} if d.backing else None
        if backing and d.backing and d.backing.pool and d.backing.volume:
            try:
                backing["format"] = self.gateway.vm_volume(target, d.backing.pool, d.backing.volume)["format"]
            except JvpError:
                pass
        self.gateway.create_volume(target, d.pool, d.volume, d.capacity_bytes or 0, d.format, sparse=True,
                                   backing=backing, action="migrate")
        spec = {"type": "vm-volume", "node": target, "pool": d.pool, "volume": d.volume}
        h.add_cleanup(spec)
        done.append(spec)

    def run(self, plan: MigrationPlan, options: MigrationOptions, h: TaskHandle) -> dict[str, Any]:
        """The move; on a failure (not a cancel: the task's cleanups take that) the volumes it made on the
        target are removed before the error leaves, so a caller that goes on (evacuate-node) leaves nothing."""
        made: list[dict[str, str]] = []
        try:
            return self._run(plan, options, h, made)
        except JvpError:
            for spec in made:
                try:
                    self.gateway.delete_volume(spec["node"], spec["pool"], spec["volume"], action="delete")
                    h.drop_cleanup(spec)
                except JvpError as exc:
                    log.warning("migrate-vm: volume %s/%s on %s not removed yet (%s); the task's cleanup retries",
                                spec["pool"], spec["volume"], spec["node"], exc.message)
            raise

    def _run(self, plan: MigrationPlan, options: MigrationOptions, h: TaskHandle, made: list[dict[str, str]]
             ) -> dict[str, Any]:
        node, target, name = plan.node, plan.target_node, plan.vm
        h.progress(0, f"moving vm '{name}' to node '{target}' ({plan.mode})", force=True)
        for d in plan.disks:
            if d.backing and d.backing.action == "transfer" and d.backing.pool and d.backing.volume:
                if d.backing.pool.endswith(TEMPLATE_POOL_SUFFIX) and self.template_pool is not None:
                    self.template_pool(h, target, d.backing.pool[:-len(TEMPLATE_POOL_SUFFIX)])
                if not self.gateway.vm_volume_exists(target, d.backing.pool, d.backing.volume):
                    self._transfer(h, node, target, d.backing.pool, d.backing.volume, None, made, "base image")
        for d in plan.disks:
            h.check_cancelled()
            if d.action == "transfer" and d.pool and d.volume:
                self._transfer(h, node, target, d.pool, d.volume, d.format, made, d.device)
            elif d.action == "copy":
                self._precreate(h, target, d, made)
        h.check_cancelled()
        asked = {"cancel": False}

        def watch(f: JobFigures) -> bool:
            total = f.data_total or (f.memory_total + f.disk_total)
            done = f.data_processed or (f.memory_processed + f.disk_processed)
            pct = 100.0 * done / total if total else None
            msg = (f"migrating: memory {f.memory_processed >> 20}/{f.memory_total >> 20} MiB"
                   + (f", disks {f.disk_processed >> 20}/{f.disk_total >> 20} MiB" if f.disk_total else "")
                   + (f", pass {f.iteration}" if f.iteration else ""))
            try:
                h.progress(min(pct, 99.0) if pct is not None else None, msg, bytes_done=done, bytes_total=total)
            except TaskCancelled:
                asked["cancel"] = True
            if not asked["cancel"] and h.cancelled():
                asked["cancel"] = True
            return asked["cancel"]
        h.restart_rate()
        try:
            figures = self.gateway.migrate_vm(node, target, name, options, watch)
        except JvpError as exc:
            if exc.code == "TaskCancelled" or asked["cancel"]:
                raise TaskCancelled() from exc
            raise
        # the VM is on the target now: what the task made there is its, and the source's copies go
        for spec in made:
            h.drop_cleanup(spec)
        removed, kept = [], []
        for d in plan.disks:
            if d.action in ("copy", "transfer") and d.pool and d.volume:
                try:
                    state = self.gateway.delete_volume(node, d.pool, d.volume, action="delete")
                except (JvpError, NodeUnreachable) as exc:
                    state = f"kept: {exc.message}"
                (removed if state in ("deleted", "absent") else kept).append(
                    {"pool": d.pool, "volume": d.volume, "state": state})
        return {"vm": name, "node": target, "from_node": node, "mode": plan.mode,
                "downtime_ms": figures.downtime_ms if figures else None,
                "elapsed_ms": figures.elapsed_ms if figures else None,
                "disks": [{"target": d.target, "action": d.action} for d in plan.disks],
                "removed_from_source": removed, "kept_on_source": kept,
                "message": f"vm '{name}' moved from node '{node}' to node '{target}' ({plan.mode})"}
