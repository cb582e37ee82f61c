"""create-vm: every check before a task starts (vm_plan.py), then the task that makes the disks, the
cloud-init seed and the domain, and removes all of it when any step fails.

Everything reaches the node through libvirt: disks are created or cloned by the node's storage backend, the
seed ISO is sent through a volume upload stream, so remote nodes work exactly like the local one.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice
from jvp.errors import JvpError, NotSupported
from jvp.hypervisor import domain, domain_devices, vm_volumes
from jvp.hypervisor.domain_xml import build_domain_xml
from jvp.service.audit import redact
from jvp.service.keypair import KeypairService
from jvp.service.node import NodeService
from jvp.service.task.service import TaskHandle, TaskService
from jvp.service.vm.service import VmService
from jvp.service.vm.plan import BaseImageResolver, CreatePlan, DiskPlan, Planner
from jvp.service.vm.rules import DomainTypes
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
WAIT_POLL_S = 2.0


class VmCreator:
    def __init__(self, nodes: NodeService, tasks: TaskService, keypairs: KeypairService, vms: VmService,
                 types: DomainTypes):
        self.nodes = nodes
        self.tasks = tasks
        self.vms = vms
        self.types = types
        self.planner = Planner(nodes, keypairs)
        tasks.register_cleanup("vm-volume", self.cleanup_volume)
        tasks.register_cleanup("vm-domain", self.cleanup_domain)

    def register_base_image_source(self, field: str, resolver: BaseImageResolver) -> None:
        """Another system-disk source that clones a base image (the template module registers "template":
        resolver(node, request[field]) -> BaseImage). See vm_plan.Planner.system_disk."""
        self.planner.base_image_sources[field] = resolver

    # -- submitting ----------------------------------------------------------------------------------
    def submit(self, req: dict[str, Any], created_by: str | None, request_id: str | None) -> dict[str, Any]:
        plan = self.planner.plan(req, created_by)
        return self.tasks.submit("create-vm", {"kind": "vm", "node": plan.node, "name": plan.name},
                                 lambda h: self.run(plan, h), params=redact(dict(req)), created_by=created_by,
                                 request_id=request_id, message="queued")

    # -- the task ------------------------------------------------------------------------------------
    def _call(self, plan: CreatePlan, fn, kind: str = "vm", obj: str | None = None, action: str | None = None):
        return self.nodes.call(plan.node, fn, kind=kind, obj=obj or plan.name, retry=False, action=action)

    def _make_disk(self, plan: CreatePlan, dp: DiskPlan, h: TaskHandle) -> dict[str, Any]:
        if dp.action == "use":
            return dp.existing
        if dp.action == "full":
            h.progress(None, f"copying {dp.base.pool}/{dp.base.volume} to {dp.pool}/{dp.name} (full clone)",
                       force=True)
            src = {"pool": dp.base.pool, "volume": dp.base.volume}
            info = self._call(plan, lambda c: vm_volumes.copy_volume(c, dp.pool, dp.name, src, dp.format,
                                                                     dp.size_bytes), "volume", dp.name)
        else:
            backing = {"path": dp.base.path, "format": dp.base.format} if dp.action == "linked" else None
            info = self._call(plan, lambda c: vm_volumes.create_volume(c, dp.pool, dp.name, dp.size_bytes,
                                                                       dp.format, backing), "volume", dp.name)
        spec = {"type": "vm-volume", "node": plan.node, "pool": dp.pool, "volume": dp.name}
        h.add_cleanup(spec)
        plan.cleanups.append(spec)
        if dp.action == "full" and (info["capacity_bytes"] or 0) < dp.size_bytes:
            self._call(plan, lambda c: vm_volumes.resize_volume(c, dp.pool, dp.name, dp.size_bytes), "volume",
                       dp.name)
        return info

    def run(self, plan: CreatePlan, h: TaskHandle) -> dict[str, Any]:
        h.progress(1, "choosing the domain type", force=True)
        dtype, cpu_mode, notes = self.types.choose(plan.node, plan.pool, plan.cpu_mode,
                                                   progress=lambda m: h.progress(2, m, force=True))
        if plan.firmware == "uefi":
            caps = self.nodes.call(plan.node, lambda c: domain.domain_capabilities(c, dtype, plan.arch),
                                   kind="node", obj=plan.node)
            if domain.efi_supported(caps) is False:
                raise NotSupported(f"node '{plan.node}' has no UEFI firmware for {dtype} guests (install OVMF)",
                                   code="NotSupported", details={"node": plan.node, "firmware": "uefi"})
        h.check_cancelled()
        disks: list[DiskDevice] = []
        for i, dp in enumerate(plan.disks):
            h.progress(5 + 50 * i / max(len(plan.disks), 1), f"preparing disk {dp.pool}/{dp.name}", force=True)
            info = self._make_disk(plan, dp, h)
            disks.append(DiskDevice(target=dp.target, path=info["path"], format=info["format"], bus="virtio"))
            h.check_cancelled()
        # hda: the install ISO, or an empty drive so insert-media works later without a hot-plug (IDE has
        # none); hdc: the cloud-init seed, on its own drive so that user media never replaces it
        cdroms = [DiskDevice(target="hda", path=plan.iso["path"] if plan.iso else None,
                             format=plan.iso["format"] if plan.iso else "raw", bus="ide", device="cdrom")]
        if plan.seed:
            h.progress(60, "uploading the cloud-init seed ISO", force=True)
            data = plan.seed.iso()
            info = self._call(plan, lambda c: vm_volumes.upload_volume(c, plan.pool, plan.seed_volume, data),
                              "volume", plan.seed_volume, action="uploading the cloud-init seed to")
            spec = {"type": "vm-volume", "node": plan.node, "pool": plan.pool, "volume": plan.seed_volume}
            h.add_cleanup(spec)
            plan.cleanups.append(spec)
            cdroms.append(DiskDevice(target="hdc", path=info["path"], format=info["format"], bus="ide",
                                     device="cdrom"))
        h.check_cancelled()
        spec = DomainSpec(name=plan.name, uuid=plan.uuid, vcpus=plan.vcpus, memory_mib=plan.memory_mib,
                          domain_type=dtype, arch=plan.arch, cpu_mode=cpu_mode, firmware=plan.firmware,
                          disks=disks + cdroms,
                          nics=[NicDevice(kind=n["kind"], source=n["source"], mac=n["mac"], model=n["model"])
                                for n in plan.nics],
                          facts=plan.facts)
        h.progress(80, f"defining the domain ({dtype})", force=True)
        self._call(plan, lambda c: domain.define(c, build_domain_xml(spec)), action="defining")
        dom_spec = {"type": "vm-domain", "node": plan.node, "name": plan.name, "uuid": plan.uuid}
        h.add_cleanup(dom_spec)
        plan.cleanups.append(dom_spec)
        if plan.autostart:
            self._call(plan, lambda c: domain.set_autostart(c, plan.name, True))
        if plan.start:
            h.progress(85, "starting the VM", force=True)
            self._call(plan, lambda c: domain.start(c, plan.name, rfc3339()), action="starting")
            if plan.wait_for != "none":
                notes += self._wait(plan, h)
        for cleanup in plan.cleanups:  # complete: a crash from now on must not remove the new VM
            h.drop_cleanup(cleanup)
        self._record_use(plan)
        vm = self.vms.describe(plan.node, plan.name)
        message = f"vm '{plan.name}' created on node '{plan.node}' ({dtype}), {vm.state}"
        return {"vm": {"name": plan.name, "node": plan.node, "uuid": plan.uuid, "state": vm.state,
                       "domain_type": dtype, "cpu_mode": cpu_mode, "ips": vm.ips},
                "notes": notes, "message": "; ".join([message, *notes])}

    @staticmethod
    def _record_use(plan: CreatePlan) -> None:
        """Tell each base image's source (a template: usage.last_used) that a VM now uses it."""
        for dp in plan.disks:
            if dp.base and dp.base.on_used:
                try:
                    dp.base.on_used()
                except Exception:  # noqa: BLE001 - bookkeeping must not fail a VM that exists
                    log.exception("create-vm %s on %s: the use of %s/%s not recorded", plan.name, plan.node,
                                  dp.base.pool, dp.base.volume)

    def _wait(self, plan: CreatePlan, h: TaskHandle) -> list[str]:
        what = "the guest agent" if plan.wait_for == "agent" else "an IP address"
        h.progress(90, f"waiting for {what} (up to {plan.wait_timeout_s}s)", force=True)
        deadline = time.monotonic() + plan.wait_timeout_s
        last_error = None
        while time.monotonic() < deadline:
            h.check_cancelled()
            try:
                vm = self.vms.describe(plan.node, plan.name)
            except JvpError as exc:  # the VM exists and runs: a node hiccup while waiting must not undo it
                last_error = exc.message
                time.sleep(WAIT_POLL_S)
                continue
            if (plan.wait_for == "agent" and vm.guest_agent) or (plan.wait_for == "ip" and any(
                    n.ips for n in vm.nics)):
                return []
            if vm.state != "running":
                return [f"the VM stopped ({vm.state}) while waiting for {what}"]
            time.sleep(WAIT_POLL_S)
        why = f" (last error: {last_error})" if last_error else ""
        return [f"{what} did not show within {plan.wait_timeout_s}s{why}; the VM was created, check its console"]

    # -- cleanups (a failed, cancelled or interrupted create) ---------------------------------------------
    def cleanup_volume(self, spec: dict[str, Any]) -> None:
        self.nodes.call(spec["node"], lambda c: vm_volumes.delete_volume(c, spec["pool"], spec["volume"]),
                        kind="volume", obj=spec["volume"], retry=False)

    def cleanup_domain(self, spec: dict[str, Any]) -> None:
        def remove(conn) -> None:
            if not domain.exists(conn, spec["name"]):
                return
            if domain.lookup(conn, spec["name"]).UUIDString() != spec["uuid"]:
                return  # another VM took the name since: not ours to remove
            domain_devices.undefine(conn, spec["name"])
        try:
            self.nodes.call(spec["node"], remove, kind="vm", obj=spec["name"], retry=False)
        except Exception:  # noqa: BLE001 - logged by the task service too; keep the volume cleanups going
            log.exception("create-vm cleanup: domain %s on %s not removed", spec["name"], spec["node"])
            raise

