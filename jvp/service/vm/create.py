"""create-vm: every check before a task starts (plan.py), then the task that makes the disks, the
cloud-init seed and the domain, and removes all of it when any step fails.

Everything reaches the node through libvirt: disks are created or cloned by the node's storage backend, the
seed ISO is sent through a volume upload stream, so remote nodes work exactly like the local one.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice
from jvp.domain.vm_firmware import cdrom_slots, machine_for
from jvp.errors import JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.audit import redact
from jvp.service.keypair import KeypairService
from jvp.service.node import AUTO, NodeService
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.service import VmService
from jvp.service.vm.placement import place
from jvp.service.vm.plan import BaseImageResolver, CreatePlan, DiskPlan, Planner
from jvp.service.vm.firmware import check_firmware
from jvp.service.vm.rules import DomainTypes
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
WAIT_POLL_S = 2.0
# a node call that failed with these may or may not have happened (the connection went, or the wait ended)
UNKNOWN_OUTCOME = frozenset({"NodeUnreachable", "NodeTimeout"})
SIDE_WORKERS = 16  # threads for the domain's side of creates and their further disks (beyond a task's first)


class VmCreator:
    """`base_image_sources`: other system-disk sources that clone a base image, by request field (the
    template module gives "template": resolver(node, request["template"]) -> BaseImage); see
    plan.Planner.system_disk."""

    def __init__(self, nodes: NodeService, gateway: NodeGateway, tasks: TaskService, keypairs: KeypairService,
                 vms: VmService, types: DomainTypes,
                 base_image_sources: dict[str, BaseImageResolver] | None = None):
        self.nodes = nodes
        self.gateway = gateway
        self.tasks = tasks
        self.vms = vms
        self.types = types
        self.planner = Planner(nodes, gateway, keypairs, base_image_sources)
        # the side of a create that runs beside libvirt's creation of its disks (_domain_beside_disks); its
        # threads stay, idle, between creates. Work waits only on libvirt, never on another item of this pool
        self._side = ThreadPoolExecutor(max_workers=SIDE_WORKERS, thread_name_prefix="create-vm")
        tasks.register_cleanup("vm-volume", self.cleanup_volume)
        tasks.register_cleanup("vm-domain", self.cleanup_domain)

    # -- submitting ----------------------------------------------------------------------------------
    def submit(self, req: dict[str, Any], created_by: str | None, request_id: str | None) -> dict[str, Any]:
        if req["node"] == AUTO:  # placement: the enabled node with the most free memory that has what is asked
            plan = place(self.planner, self.nodes, self.gateway, req, created_by, self.nodes.timeout_s * 2)
        else:
            plan = self.planner.plan(req, created_by)
        # the cleanups of the disks made at the task's start (_domain_beside_disks) and of the domain go into
        # the new record: the task makes them without a write of its own first
        plan.cleanups.extend([*(self._volume_spec(plan, dp) for dp in self._ahead(plan).values()),
                              self._domain_spec(plan)])
        return self.tasks.submit("create-vm", {"kind": "vm", "node": plan.node, "name": plan.name},
                                 lambda h: self.run(plan, h), params=redact(dict(req)), created_by=created_by,
                                 request_id=request_id, message="queued", cleanup=list(plan.cleanups))

    def close(self) -> None:
        """The side threads end once their work does (a task still running finishes its define)."""
        self._side.shutdown(wait=False)

    # -- the task ------------------------------------------------------------------------------------
    @staticmethod
    def _register(plan: CreatePlan, h: TaskHandle, *specs: dict[str, Any]) -> None:
        """Record outputs to remove if the task does not succeed (those not recorded yet, in one write)."""
        new = [s for s in specs if s not in plan.cleanups]
        if new:
            h.add_cleanup(*new)
            plan.cleanups.extend(new)

    @staticmethod
    def _ahead(plan: CreatePlan) -> dict[int, DiskPlan]:
        """The new disks whose path is known before they exist (DiskPlan.path: linked clones and blank disks in
        a directory pool), by index: made at the task's start (_domain_beside_disks)."""
        return {i: dp for i, dp in enumerate(plan.disks) if dp.path and dp.action in ("linked", "blank")}

    @staticmethod
    def _domain_spec(plan: CreatePlan) -> dict[str, Any]:
        return {"type": "vm-domain", "node": plan.node, "name": plan.name, "uuid": plan.uuid}

    def _domain_beside_disks(self, plan: CreatePlan, h: TaskHandle, dom_spec: dict[str, Any]
                             ) -> tuple[str, str | None, list[str], DomainSpec, dict[int, dict[str, Any]]]:
        """The new disks whose path is known before they exist (`_ahead`) are made by libvirt while another
        thread chooses the domain type, uploads the seed and defines the domain with those paths (`_domain`):
        libvirt's volume creation (it runs qemu-img, then probes the new image: 15-25 ms for an overlay) is the
        longest step, and overlaps the define instead of preceding it. This thread, already running, asks for
        the first disk itself: a new thread can wait milliseconds for a core on a busy host before it runs, and
        the domain's side is the shorter one. The VM is started (when asked) only once the disks exist, and
        defined again should libvirt have put one elsewhere (run). Answers the domain's side and the disks'
        infos; the domain's failure is the one raised when both fail, and only once the disks are settled (a
        failure's cleanups must not race their creation).

        Their cleanups (and the domain's) are in the task's new record (`submit`), written before the task
        starts: no write comes between the task's start and libvirt's. A crash before the volume exists
        removes a volume of this name that does not exist yet (a no-op) or is being made by this task; the
        plan found the name free a moment before, and the VM's name is this task's resource (ResourceBusy for
        any other create-vm of it), so only a volume of exactly that name made by someone else within those
        milliseconds could be taken for ours. A volume libvirt refuses to create (one of that name exists, for
        one) has its cleanup dropped before the failure's cleanups run (_settle_disks); a task cancelled before
        it started drops them all unrun (TaskService.submit)."""
        ahead = self._ahead(plan)
        h.progress(1, "creating " + ", ".join(f"{dp.pool}/{dp.name}" for dp in ahead.values()), force=True)
        # in the new record already when the plan came through submit: no write
        self._register(plan, h, *(self._volume_spec(plan, dp) for dp in ahead.values()), dom_spec)
        (first, first_dp), *rest = ahead.items()
        # on the creator's pool, whose threads wait idle: starting a new thread would hand it this thread's turn
        # (Thread.start waits for it to run) and delay libvirt's creation by as much
        domain = self._side.submit(self._domain, plan, h, dom_spec, set(ahead))
        made = {i: self._side.submit(self._create, plan, dp) for i, dp in rest}
        mine: Future[dict[str, Any]] = Future()
        try:
            mine.set_result(self._create(plan, first_dp))
        except BaseException as exc:  # noqa: BLE001 - settled below, with the others
            mine.set_exception(exc)
        made[first] = mine
        wait([domain])
        failure = domain.exception()
        if failure is not None:
            self._settle_disks(plan, h, made, results=False)
            raise failure
        return (*domain.result(), self._settle_disks(plan, h, made))

    def _domain(self, plan: CreatePlan, h: TaskHandle, dom_spec: dict[str, Any], ahead: set[int]
                ) -> tuple[str, str | None, list[str], DomainSpec]:
        """The domain type, the firmware check, the other disks, the seed and the define (the disks in `ahead`
        defined at their known paths)."""
        h.progress(2, "choosing the domain type", force=True)
        dtype, cpu_mode, notes = self.types.choose(plan.node, plan.pool, plan.cpu_mode,
                                                   progress=lambda m: h.progress(3, m, force=True))
        machine = machine_for(plan.firmware, plan.secure_boot)
        if plan.firmware == "uefi" or plan.tpm:
            check_firmware(plan.node, dtype, plan.firmware, plan.secure_boot, plan.tpm,
                           self.gateway.domain_capabilities(plan.node, dtype, plan.arch, machine))
        h.check_cancelled()
        return dtype, cpu_mode, notes, self._define(plan, h, dom_spec, dtype, cpu_mode, ahead)

    def _create(self, plan: CreatePlan, dp: DiskPlan) -> dict[str, Any]:
        backing = {"path": dp.base.path, "format": dp.base.format} if dp.action == "linked" else None
        return self.gateway.create_vm_volume(plan.node, dp.pool, dp.name, dp.size_bytes, dp.format, backing,
                                             expected_path=dp.path)

    @staticmethod
    def _volume_spec(plan: CreatePlan, dp: DiskPlan) -> dict[str, Any]:
        return {"type": "vm-volume", "node": plan.node, "pool": dp.pool, "volume": dp.name}

    def _settle_disks(self, plan: CreatePlan, h: TaskHandle, made: dict[int, Future[dict[str, Any]]],
                      results: bool = True) -> dict[int, dict[str, Any]]:
        """Wait for the background disks (a failure's cleanups must not race their creation). The cleanup of
        a volume libvirt refused to create is dropped: libvirt removes what it started of a failed creation,
        and a volume of that name that exists (libvirt's refusal) is not ours. One whose creation ended with
        the connection keeps it (made or not, nobody knows). Their infos, or (`results`) the first failure
        raised."""
        wait(made.values())
        foreign = []
        for i, fut in made.items():
            exc = fut.exception()
            if isinstance(exc, JvpError) and exc.code not in UNKNOWN_OUTCOME:
                foreign.append(self._volume_spec(plan, plan.disks[i]))
        foreign = [s for s in foreign if s in plan.cleanups]
        if foreign:
            h.drop_cleanup(*foreign)
            plan.cleanups[:] = [c for c in plan.cleanups if c not in foreign]
        return {i: fut.result() for i, fut in made.items()} if results else {}

    def _make_disk(self, plan: CreatePlan, dp: DiskPlan, h: TaskHandle, dom_spec: dict[str, Any]
                   ) -> dict[str, Any]:
        if dp.action == "use":
            return dp.existing
        if dp.action == "full":
            h.progress(None, f"copying {dp.base.pool}/{dp.base.volume} to {dp.pool}/{dp.name} (full clone)",
                       force=True)
            src = {"pool": dp.base.pool, "volume": dp.base.volume}
            info = self.gateway.copy_vm_volume(plan.node, dp.pool, dp.name, src, dp.format, dp.size_bytes)
        else:
            info = self._create(plan, dp)
        spec = self._volume_spec(plan, dp)
        # the domain's cleanup goes in the same write: it is safe before the domain exists (it removes only
        # a domain of this name with this task's UUID)
        self._register(plan, h, spec, dom_spec)
        if dp.action == "full" and (info["capacity_bytes"] or 0) < dp.size_bytes:
            self.gateway.resize_vm_volume(plan.node, dp.pool, dp.name, dp.size_bytes)
        return info

    def run(self, plan: CreatePlan, h: TaskHandle) -> dict[str, Any]:
        dom_spec = self._domain_spec(plan)
        if self._ahead(plan):  # the disks made while the domain is defined
            dtype, cpu_mode, notes, spec, infos = self._domain_beside_disks(plan, h, dom_spec)
        else:
            dtype, cpu_mode, notes, spec = self._domain(plan, h, dom_spec, set())
            infos = {}
        moved = {i: info for i, info in infos.items() if info["path"] != plan.disks[i].path}
        if moved:  # libvirt put a disk elsewhere than its pool type says: the definition follows
            spec = replace(spec, disks=[replace(d, path=moved[i]["path"]) if i in moved else d
                                        for i, d in enumerate(spec.disks)])
            self.gateway.define_vm(plan.node, spec)
        h.check_cancelled()
        if plan.autostart:
            self.gateway.set_vm_autostart(plan.node, plan.name, True)
        if plan.start:
            h.progress(85, "starting the VM", force=True)
            self.gateway.start_vm(plan.node, plan.name, rfc3339(), action="starting")
            if plan.wait_for != "none":
                notes += self._wait(plan, h)
        # complete: the outputs leave the cleanup list in the write of the final state (no write of their own);
        # until then a failure, or a crash and the recovery after it, removes them (the task never succeeded)
        h.keep_on_success(*plan.cleanups)
        self._record_use(plan)
        try:
            if plan.start:
                vm = self.vms.describe(plan.node, plan.name)
                state, ips = vm.state, vm.ips
            else:  # defined and not started: nothing to ask the node
                state, ips = "stopped", []
        except JvpError as exc:  # the VM exists: a node hiccup now must not fail (and so remove) it
            state, ips = "unknown", []
            notes = [*notes, f"the VM was created but could not be described afterwards: {exc.message}"]
        message = f"vm '{plan.name}' created on node '{plan.node}' ({dtype}), {state}"
        return {"vm": {"name": plan.name, "node": plan.node, "uuid": plan.uuid, "state": state,
                       "domain_type": dtype, "cpu_mode": cpu_mode, "ips": ips},
                "notes": notes, "message": "; ".join([message, *notes])}

    def _define(self, plan: CreatePlan, h: TaskHandle, dom_spec: dict[str, Any], dtype: str,
                cpu_mode: str | None, made: set[int]) -> DomainSpec:
        """The other disks, the cdroms and the seed, then the domain defined (with the paths of the disks in
        `made`, still being made meanwhile); the spec defined."""
        disks: list[DiskDevice] = []
        for i, dp in enumerate(plan.disks):
            if i in made:
                disks.append(DiskDevice(target=dp.target, path=dp.path, format=dp.format, bus=plan.disk_bus))
                continue
            h.progress(5 + 50 * i / max(len(plan.disks), 1), f"preparing disk {dp.pool}/{dp.name}", force=True)
            info = self._make_disk(plan, dp, h, dom_spec)
            disks.append(DiskDevice(target=dp.target, path=info["path"], format=info["format"], bus=plan.disk_bus))
            h.check_cancelled()
        # hda: the install ISO, or an empty drive so insert-media works later without a hot-plug (IDE has
        # none); hdc: the cloud-init seed, on its own drive so that user media never replaces it
        slots = cdrom_slots(plan.firmware, plan.os_profile)  # jvp/domain/vm_firmware.py
        cdroms = [DiskDevice(target=slots.iso, path=plan.iso["path"] if plan.iso else None,
                             format=plan.iso["format"] if plan.iso else "raw", bus=slots.bus, device="cdrom")]
        if plan.virtio_iso:  # the VirtIO driver ISO, after the install ISO (which boots first)
            cdroms.append(DiskDevice(target=slots.drivers, path=plan.virtio_iso["path"],
                                     format=plan.virtio_iso["format"], bus=slots.bus, device="cdrom"))
        if plan.seed:
            h.progress(60, "uploading the cloud-init seed ISO", force=True)
            data = plan.seed.iso()
            info = self.gateway.upload_vm_seed(plan.node, plan.pool, plan.seed_volume, data)
            spec = {"type": "vm-volume", "node": plan.node, "pool": plan.pool, "volume": plan.seed_volume}
            self._register(plan, h, spec, dom_spec)
            cdroms.append(DiskDevice(target=slots.seed, path=info["path"], format=info["format"], bus=slots.bus,
                                     device="cdrom"))
        h.check_cancelled()
        spec = DomainSpec(name=plan.name, uuid=plan.uuid, vcpus=plan.vcpus, memory_mib=plan.memory_mib,
                          domain_type=dtype, arch=plan.arch, cpu_mode=cpu_mode, firmware=plan.firmware,
                          secure_boot=plan.secure_boot, tpm=plan.tpm, os_profile=plan.os_profile,
                          disks=disks + cdroms,
                          nics=[NicDevice(kind=n["kind"], source=n["source"], mac=n["mac"], model=n["model"])
                                for n in plan.nics],
                          facts=plan.facts)
        h.progress(80, f"defining the domain ({dtype})", force=True)
        self._register(plan, h, dom_spec)  # before the define: a crash right after it must remove the domain
        self.gateway.define_vm(plan.node, spec)
        return spec

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
        self.gateway.delete_vm_volume(spec["node"], spec["pool"], spec["volume"])

    def cleanup_domain(self, spec: dict[str, Any]) -> None:
        """Undefine the domain the task defined; not when another VM took the name since (UUID differs)."""
        try:
            self.gateway.undefine_vm_if_uuid(spec["node"], spec["name"], spec["uuid"])
        except Exception:  # noqa: BLE001 - logged by the task service too; keep the volume cleanups going
            log.exception("create-vm cleanup: domain %s on %s not removed", spec["name"], spec["node"])
            raise

