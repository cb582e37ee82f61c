"""Volumes (SPEC 2.3): create, list with `used_by`, describe, resize (live through the running VM), clone
as a task, delete. Everything goes through the node gateway's typed storage operations.

`used_by` comes from the node's reference index (disks, cdroms, kernel/initrd/dtb, loader and NVRAM files,
and the backing chains under the disks, continued through the volumes' own backing files:
jvp.domain.volume.References; hypervisor/ref_index.py keeps it current from libvirt's domain events), never
one lookup per volume; describe reads the entries of the VMs that can use the one volume only. Clone progress: libvirt copies on the node
(virStorageVolCreateXMLFrom) and reports nothing while it does, so the task polls the new volume's
allocation, i.e. the bytes really written on the node, against the bytes to copy (the source's allocation,
plus its backing image's when qemu-img flattens an overlay into the copy). It is capped at 99% until the call
returns: libvirt ends with a flush to disk that no figure shows.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any

from jvp.domain.storage_pool import FILE_POOL_TYPES, GIB, PoolView, is_internal_pool, is_internal_volume
from jvp.domain.volume import DiskUser, References, VolumeView, vm_names
from jvp.errors import Conflict, InvalidInput, JvpError, PreconditionFailed, already_exists, not_found
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.task.cleanup import CleanupDeferred
from jvp.service.task.service import TaskService

log = logging.getLogger(__name__)


def use_of(u: DiskUser) -> dict[str, Any]:
    """One reference for an error's details: {vm, as (disk, cdrom, kernel, nvram, backing, ...), target}."""
    return {"vm": u.vm, "as": u.role, "target": u.target}


def uses(users: list[DiskUser]) -> str:
    """"vm 'a' (disk vda), vm 'b' (nvram)" for messages."""
    parts = dict.fromkeys(f"vm '{u.vm}' ({u.role}{' ' + u.target if u.target else ''})" for u in users)
    return ", ".join(parts)


def lacks_space(pool: PoolView, needed: int) -> bool:
    """The pool's free space is known and below `needed`. Unknown free space (libvirt reported it wrapped:
    a FigureUnknown problem on the pool) is left for libvirt to judge, not read as zero."""
    return pool.available_bytes is not None and needed > pool.available_bytes


def insufficient_space(pool: str, node: str, needed: int, available: int | None) -> JvpError:
    return PreconditionFailed(
        f"storage pool '{pool}' on node '{node}' has {available or 0} bytes available; {needed} bytes are "
        "needed. Free space in the pool or choose another pool", code="InsufficientSpace",
        details={"pool": pool, "needed_bytes": needed, "available_bytes": available})


class VolumeService:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, tasks: TaskService):
        self.nodes = nodes  # availability (maintenance)
        self.gateway = gateway
        self.tasks = tasks

    # -- plumbing -------------------------------------------------------------------------------------
    def pool(self, node: str, pool: str, *, refresh: bool = False) -> PoolView:
        """The pool's view; 404 when missing, 422 when inactive. `refresh` re-reads free space first."""
        return self.gateway.usable_pool(node, pool, refresh=refresh)

    def usage(self, node: str) -> References:
        """Who references which image on the node (disks, cdroms, boot files, chains): the one answer."""
        return self.gateway.references(node)

    def raw(self, node: str, pool: str, name: str) -> VolumeView:
        return self.gateway.volume(node, pool, name)

    def _busy(self, node: str, pool: str, name: str) -> None:
        task = self.tasks.active_on({"kind": "volume", "node": node, "pool": pool, "name": name})
        if task:
            raise Conflict(f"volume '{name}' in pool '{pool}' is busy with task {task['id']} ({task['kind']}); "
                           "wait for it or cancel it", code="ResourceBusy",
                           details={"task": task["id"], "task_kind": task["kind"]})

    def view(self, node: str, vol: VolumeView, usage: References,
             paths: dict[str, tuple[str, str]] | None = None) -> VolumeView:
        """The volume with what the service adds: its node, the pool volume under its backing file, used_by."""
        backing = vol.backing
        if backing:
            ref = (paths or {}).get(backing.path)
            if ref is None and paths is None:
                ref = self.gateway.volume_at_path(node, backing.path)
            backing = replace(backing, pool=ref[0] if ref else None, volume=ref[1] if ref else None)
        return replace(vol, node=node, backing=backing, used_by=vm_names(usage.users(vol.pool, vol.name, vol.path)))

    # -- reading --------------------------------------------------------------------------------------
    def list(self, node: str, pool: str | None = None, include_internal: bool = False) -> dict[str, Any]:
        vols, skipped, usage = self.gateway.volumes_and_users(node, [pool] if pool else None)
        paths = {v.path: (v.pool, v.name) for v in vols if v.path}
        shown = [v for v in vols if include_internal or not v.internal]
        # A backing file outside the listed pools (a template in `<pool>_templates_`) is looked up by path.
        out = [self.view(node, v, usage, paths if not v.backing or v.backing.path in paths else None)
               for v in shown]
        errors = [{"node": node, **asdict(s)} for s in skipped if include_internal or not is_internal_pool(s.pool)]
        return {"volumes": out, "errors": errors}

    def describe(self, node: str, pool: str, name: str) -> VolumeView:
        return self.view(node, *self.gateway.volume_with_users(node, pool, name))

    # -- creating -------------------------------------------------------------------------------------
    def _format(self, pool: PoolView, fmt: str | None, backing: bool) -> str | None:
        if pool.type not in FILE_POOL_TYPES:
            if fmt == "qcow2" or backing:
                raise InvalidInput(f"a {pool.type} pool holds raw block volumes: qcow2 and backing volumes "
                                   "need a dir, fs or netfs pool", code="FormatNotSupported",
                                   details={"field_errors": {"format": ["Not supported by this pool type."]}})
            return None
        fmt = fmt or "qcow2"
        if backing and fmt != "qcow2":
            raise InvalidInput("an overlay on a backing volume is a qcow2 volume: use format=qcow2",
                               code="FormatNotSupported",
                               details={"field_errors": {"format": ["Must be qcow2 with backing_volume."]}})
        return fmt

    def create(self, node: str, pool: str, name: str, size_gib: int, fmt: str | None = None,
               backing_volume: str | None = None) -> VolumeView:
        self.nodes.ensure_available(node)
        p = self.pool(node, pool, refresh=True)
        if is_internal_pool(pool):
            raise Conflict(f"storage pool '{pool}' is managed by JVP (templates); create volumes in "
                           f"'{pool[:-len('_templates_')]}' instead", code="StoragePoolIsInternal",
                           details={"pool": pool})
        fmt = self._format(p, fmt, bool(backing_volume))
        capacity = size_gib * GIB
        backing = None
        if backing_volume:
            try:
                base = self.raw(node, pool, backing_volume)
            except JvpError as exc:
                if exc.code == "VolumeNotFound":
                    raise not_found("volume", backing_volume, node, code="BackingVolumeNotFound",
                                    pool=pool) from exc
                raise
            if capacity < (base.capacity_bytes or 0):
                raise InvalidInput(f"an overlay cannot be smaller than its backing volume '{backing_volume}' "
                                   f"({base.capacity_bytes} bytes): ask for at least "
                                   f"{-(-(base.capacity_bytes or 0) // GIB)} GiB", code="InvalidSize",
                                   details={"field_errors": {"size_gib": ["Smaller than the backing volume."]}})
            backing = {"path": base.path, "format": base.format or "raw"}
        if self.gateway.volume_exists(node, pool, name):
            raise already_exists("volume", name, node, pool=pool)
        if lacks_space(p, capacity):
            raise insufficient_space(pool, node, capacity, p.available_bytes)
        self.gateway.create_volume(node, pool, name, capacity, fmt, sparse=p.type in FILE_POOL_TYPES,
                                   backing=backing)
        return self.describe(node, pool, name)

    # -- changing -------------------------------------------------------------------------------------
    def resize(self, node: str, pool: str, name: str, size_gib: int) -> dict[str, Any]:
        """Grow only. Attached to a running VM: virDomainBlockResize through that VM's QEMU (the guest sees
        the new size at once); otherwise virStorageVolResize (thin: nothing is allocated)."""
        self._busy(node, pool, name)
        vol = self.raw(node, pool, name)
        new = size_gib * GIB
        current = vol.capacity_bytes or 0
        if new < current:
            raise InvalidInput(f"volume '{name}' is {current} bytes; resize-volume only grows volumes (shrinking "
                               "would cut off data the guest may use)", code="VolumeShrinkRefused",
                               details={"capacity_bytes": current, "requested_bytes": new})
        usage = self.usage(node)
        users = usage.users(pool, name, vol.path)
        if new == current:
            return {"volume": self.view(node, vol, usage), "live_vms": []}
        held = [u for u in users if u.running and (u.backing or not u.is_disk)]
        if held:
            what = "the backing image" if held[0].backing else f"a {held[0].role} file"
            raise Conflict(f"volume '{name}' is {what} of running VMs ({', '.join(vm_names(held))}); growing it "
                           "under them is unsafe", code="VolumeInUse", details={"vms": vm_names(users)})
        p = self.pool(node, pool, refresh=True)
        if lacks_space(p, new - current):
            raise insufficient_space(pool, node, new - current, p.available_bytes)
        live = [u for u in users if u.live and not u.backing and u.is_disk]
        if live:
            for u in live:  # each running QEMU with the disk open must learn the new size itself
                self.gateway.block_resize(node, u.vm, u.target, new, volume=name)
        else:
            self.gateway.resize_volume(node, pool, name, new)
        return {"volume": self.describe(node, pool, name), "live_vms": vm_names(live)}

    def clone(self, node: str, pool: str, name: str, new_name: str, target_pool: str | None, *,
              created_by: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        self.nodes.ensure_available(node)
        target = target_pool or pool
        src = self.raw(node, pool, name)
        self._busy(node, pool, name)  # an upload still writing the source would give a torn copy
        tp = self.pool(node, target, refresh=True)
        if is_internal_pool(target):
            raise Conflict(f"storage pool '{target}' is managed by JVP (templates)", code="StoragePoolIsInternal",
                           details={"pool": target})
        if self.gateway.volume_exists(node, target, new_name):
            raise already_exists("volume", new_name, node, pool=target)
        running = [u for u in self.usage(node).users(pool, name, src.path) if u.running]
        if running:
            raise Conflict(f"volume '{name}' is in use by running VMs ({', '.join(vm_names(running))}): a copy "
                           "taken while the guest writes is inconsistent; stop them first", code="VolumeInUse",
                           details={"vms": vm_names(running)})
        expected = src.allocation_bytes or 0
        if src.backing:  # qemu-img convert copies the data seen through the backing chain
            base = self.gateway.volume_at_path(node, src.backing.path)
            if base:
                expected += self.raw(node, *base).allocation_bytes or 0
        if lacks_space(tp, expected):
            raise insufficient_space(target, node, expected, tp.available_bytes)
        fmt = (src.format or "raw") if tp.type in FILE_POOL_TYPES else None
        spec = {"type": "volume", "node": node, "pool": target, "name": new_name}

        def work(handle):
            handle.add_cleanup(spec)  # before the copy starts: a process killed mid-copy leaves a record
            handle.progress(0, f"copying {pool}/{name} to {target}/{new_name} on node {node}",
                            bytes_done=0, bytes_total=expected, force=True)

            def progress(done: int) -> None:
                pct = min(99.0, done * 100.0 / expected) if expected else None
                handle.progress(pct, bytes_done=done, bytes_total=expected)
            try:
                vol = self.gateway.clone_volume(node, pool, name, target, new_name, src.capacity_bytes, fmt,
                                                sparse=tp.type in FILE_POOL_TYPES, expected_bytes=expected,
                                                progress=progress)
            except JvpError as exc:
                if exc.code == "VolumeExists":  # someone else's volume took the name: not ours to remove
                    handle.drop_cleanup(spec)
                raise
            handle.drop_cleanup(spec)
            handle.progress(100, "copied", bytes_done=expected, bytes_total=expected, force=True)
            return {"volume": {"node": node, "pool": target, "name": new_name, "path": vol.path,
                               "capacity_bytes": vol.capacity_bytes, "format": vol.format}}
        return self.tasks.submit("clone-volume", {"kind": "volume", "node": node, "pool": target,
                                                  "name": new_name}, work,
                                 params={"source_pool": pool, "source": name, "target_pool": target},
                                 created_by=created_by, request_id=request_id,
                                 message=f"cloning {pool}/{name}")

    def delete(self, node: str, pool: str, name: str) -> None:
        self._busy(node, pool, name)
        vol = self.raw(node, pool, name)
        if is_internal_pool(pool):
            raise Conflict(f"volume '{name}' belongs to JVP's template pool '{pool}'; delete the template "
                           "instead (delete-template)", code="VolumeIsInternal", details={"pool": pool})
        if is_internal_volume(pool, name):
            raise Conflict(f"'{name}' in pool '{pool}' is JVP's own (template images or cloud-init media); it "
                           "goes away with its template or VM", code="VolumeIsInternal", details={"pool": pool})
        usage = self.usage(node)
        users = usage.users(pool, name, vol.path)
        if users:
            raise Conflict(f"volume '{name}' in pool '{pool}' is used by {uses(users)}; detach it or delete those "
                           "VMs first", code="VolumeInUse",
                           details={"vms": vm_names(users), "pool": pool, "node": node,
                                    "uses": [use_of(u) for u in users]})
        dependents = [f"{v.pool}/{v.name}" for v in usage.dependents([vol.path])]
        if dependents:
            raise Conflict(f"volume '{name}' is the backing image of {', '.join(dependents)}; deleting it "
                           "would break them", code="VolumeHasDependents", details={"volumes": dependents})
        self.delete_member(node, pool, name)

    def delete_member(self, node: str, pool: str, name: str) -> None:
        """Delete a volume whose users and dependents were already checked (by delete, or for its whole
        pool by delete-storage-pool)."""
        self._busy(node, pool, name)
        outcome = self.gateway.delete_volume(node, pool, name)
        if outcome == "busy":
            raise Conflict(f"volume '{name}' is held open by libvirt (a transfer or copy in progress); try "
                           "again when it ends", code="ResourceBusy", details={"pool": pool})

    def dependents(self, node: str, paths: list[str | None], usage: References | None = None) -> list[str]:
        """`pool/volume` of every volume on the node whose backing chain reaches one of `paths`."""
        usage = usage or self.usage(node)
        return [f"{v.pool}/{v.name}" for v in usage.dependents(paths)]

    # -- cleanup of partial output (task cleanup handler "volume") ------------------------------------
    def remove_partial(self, spec: dict[str, Any]) -> None:
        """Delete a volume a failed, cancelled or interrupted task left behind. Deferred while libvirt
        still writes it (a copy started by a process that died) or the node is unreachable."""
        try:
            outcome = self.gateway.delete_volume(spec["node"], spec["pool"], spec["name"], action=None)
        except JvpError as exc:
            if exc.code in ("NodeUnreachable", "NodeTimeout", "OperationTimeout"):
                raise CleanupDeferred(exc.message) from exc
            if exc.code == "NodeNotFound":
                log.warning("partial volume %s/%s: node %s no longer exists", spec["pool"], spec["name"],
                            spec["node"])
                return
            raise
        if outcome == "busy":
            raise CleanupDeferred(f"volume {spec['pool']}/{spec['name']} is still being written by libvirt")
        log.info("removed partial volume %s/%s on node %s", spec["pool"], spec["name"], spec["node"])
