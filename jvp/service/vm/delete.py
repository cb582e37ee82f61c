"""delete-vm: the domain with its snapshots, NVRAM and cloud-init media; its disks only when asked, and
never a volume that something else still needs (another VM, a linked clone, a template)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from jvp.domain.vm import CloudInitView, DiskView
from jvp.errors import JvpError
from jvp.hypervisor import domain_devices, vm_volumes
from jvp.service.vm.rules import state_error

if TYPE_CHECKING:  # pragma: no cover
    from jvp.service.vm.service import VmService

log = logging.getLogger(__name__)


def _entry(d: DiskView, reason: str | None = None) -> dict[str, Any]:
    return {"pool": d.pool, "volume": d.volume, "path": d.path, "reason": reason}


def _why_keep(conn, d: DiskView) -> str | None:
    if not d.volume:
        return "not a volume of any storage pool on the node"
    if vm_volumes.is_template_volume({"pool": d.pool, "path": d.path}):
        return "a template's base image"
    users = vm_volumes.disk_users(conn).get(d.path)
    if users:
        return f"still used by vm(s) {', '.join(sorted(users))}"
    deps = vm_volumes.dependents(conn, d.path)
    if deps:
        return f"the backing file of {', '.join(sorted(deps))}"
    return None


def delete_vm(svc: "VmService", node: str, name: str, *, force: bool, delete_volumes: bool) -> dict[str, Any]:
    vm = svc.describe(node, name)
    if vm.state not in ("stopped", "crashed") and not force:
        raise state_error(name, node, vm.state, "stopped", "stop it first, or delete with force to power it off")
    done = svc.call(node, name, lambda c: domain_devices.undefine(c, name), retry=False)
    deleted: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []

    def remove(d: DiskView) -> None:
        try:
            svc.nodes.call(node, lambda c: vm_volumes.delete_volume(c, d.pool, d.volume), kind="volume",
                           obj=d.volume, retry=False)
            deleted.append(_entry(d))
        except JvpError as exc:  # the VM is gone already: report what could not be removed, do not fail
            log.warning("delete-vm %s/%s: volume %s not removed: %s", node, name, d.path, exc.message)
            kept.append(_entry(d, f"delete failed: {exc.message}"))

    seed = vm.cloud_init or CloudInitView(None, None, None)
    media = [d for d in vm.disks if d.device == "cdrom" and d.volume and (
        d.volume == seed.seed_volume or d.volume.startswith(vm_volumes.INTERNAL_PREFIX))]
    if seed.seed_volume and not any(d.volume == seed.seed_volume for d in media):
        media.append(DiskView(target=None, device="cdrom", bus=None, path=None, format=None, pool=seed.seed_pool,
                              volume=seed.seed_volume))
    for d in media:
        remove(d)
    for d in (x for x in vm.disks if x.device == "disk" and x.path):
        if not delete_volumes:
            kept.append(_entry(d, "delete_volumes is false"))
            continue
        reason = svc.nodes.call(node, lambda c, d=d: _why_keep(c, d), kind="node", obj=node)
        if reason:
            kept.append(_entry(d, reason))
        else:
            remove(d)
    after = getattr(svc, "after_delete", None)  # build_services: TemplateService.after_vm_deleted
    if after is not None:
        try:  # old template images the VM was the last user of go now; never fails the delete
            after(node, name)
        except Exception:  # noqa: BLE001
            log.exception("delete-vm %s/%s: the after-delete hook failed", node, name)
    return {"name": name, "node": node, "deleted_volumes": deleted, "kept_volumes": kept, **done}
