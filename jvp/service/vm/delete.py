"""delete-vm: the domain with its snapshots, NVRAM and cloud-init media; its disks only when asked, and
never a volume that something else still needs (another VM, a linked clone, a template)."""
from __future__ import annotations

import logging
from typing import Any, Callable

from jvp.domain.storage_pool import INTERNAL_VOLUME_PREFIX
from jvp.domain.vm import CloudInitView, DiskView, VmView
from jvp.domain.volume import References
from jvp.errors import JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.gateway.vm import is_template_volume
from jvp.service.vm.rules import state_error

log = logging.getLogger(__name__)
# Told (node, vm name) once a VM is gone: the template module prunes old images the VM was the last user of.
DeletedListener = Callable[[str, str], Any]


def _entry(d: DiskView, reason: str | None = None) -> dict[str, Any]:
    return {"pool": d.pool, "volume": d.volume, "path": d.path, "reason": reason}


def _why_keep(refs: Callable[[], References], d: DiskView) -> str | None:
    if not d.volume:
        return "not a volume of any storage pool on the node"
    if is_template_volume({"pool": d.pool, "path": d.path}):
        return "a template's base image"
    users = refs().vm_names(d.pool, d.volume, d.path)
    if users:
        return f"still used by vm(s) {', '.join(users)}"
    deps = [v.path or f"{v.pool}/{v.name}" for v in refs().dependents([d.path])]
    if deps:
        return f"the backing file of {', '.join(sorted(deps))}"
    return None


def delete_vm(gateway: NodeGateway, node: str, name: str, vm: VmView, *, force: bool, delete_volumes: bool,
              on_deleted: DeletedListener | None = None) -> dict[str, Any]:
    """Delete the VM; `vm` is its describe-vm view, read just before."""
    if vm.state not in ("stopped", "crashed") and not force:
        raise state_error(name, node, vm.state, "stopped", "stop it first, or delete with force to power it off")
    done = gateway.undefine_vm(node, name)
    deleted: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []

    def remove(d: DiskView) -> None:
        try:
            gateway.delete_vm_volume(node, d.pool, d.volume)
            deleted.append(_entry(d))
        except JvpError as exc:  # the VM is gone already: report what could not be removed, do not fail
            log.warning("delete-vm %s/%s: volume %s not removed: %s", node, name, d.path, exc.message)
            kept.append(_entry(d, f"delete failed: {exc.message}"))

    scanned: list[References] = []

    def references() -> References:  # one usage scan for every disk, after the domain is gone
        if not scanned:
            scanned.append(gateway.vm_references(node))
        return scanned[0]

    seed = vm.cloud_init or CloudInitView(None, None, None)
    media = [d for d in vm.disks if d.device == "cdrom" and d.volume and (
        d.volume == seed.seed_volume or d.volume.startswith(INTERNAL_VOLUME_PREFIX))]
    if seed.seed_volume and not any(d.volume == seed.seed_volume for d in media):
        media.append(DiskView(target=None, device="cdrom", bus=None, path=None, format=None, pool=seed.seed_pool,
                              volume=seed.seed_volume))
    for d in media:
        remove(d)
    for d in (x for x in vm.disks if x.device == "disk" and x.path):
        if not delete_volumes:
            kept.append(_entry(d, "delete_volumes is false"))
            continue
        reason = _why_keep(references, d)
        if reason:
            kept.append(_entry(d, reason))
        else:
            remove(d)
    if on_deleted is not None:
        try:  # old template images the VM was the last user of go now; never fails the delete
            on_deleted(node, name)
        except Exception:  # noqa: BLE001
            log.exception("delete-vm %s/%s: the after-delete hook failed", node, name)
    return {"name": name, "node": node, "deleted_volumes": deleted, "kept_volumes": kept, **done}
