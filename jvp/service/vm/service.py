"""VMs: listing, describing, power actions, modify, devices, password reset and delete (SPEC 2.7).

Creation is in create.py, deletion in delete.py. Rules decided here (also in the README):
- State errors are 409 `InvalidState` with `details.state`: starting a running VM, stopping a stopped one,
  pausing a VM that is not running, resuming one that is not paused, renaming a running VM.
- `stop-vm` asks the guest to shut down (ACPI power button, or the agent), polls every 0.5 s up to
  `timeout_s` and answers with the state actually reached (`stopped: false` when the guest did not stop
  in time); `force` powers off at once. A paused or pm-suspended VM cannot react to a request: resume it or
  use `force`. A transient VM (persistent: false) no longer exists once stopped: the answer is 200 with
  `gone: true` and the VM's last description.
- States (jvp/hypervisor/domain_state.py): each has a way out. crashed: stop-vm with force, or start-vm
  (which powers a kept QEMU process off first); reboot/reset refuse it (409 InvalidState saying so).
  pmsuspended (the guest suspended itself): resume-vm wakes it (virDomainPMWakeup; 422 NotSupported on a
  driver without it, e.g. libvirt's test driver), stop-vm with force powers it off.
- `delete-vm` refuses a running VM unless `force`; it removes the domain, its snapshots, NVRAM, managed
  save and cloud-init seed; with `delete_volumes` also its disks, except volumes that another VM uses, that
  back other volumes (linked clones), or that live in a template pool: those are listed as kept.
- A VM label is a key/value pair in JVP's metadata (`labels` in create-vm and modify-vm); `list-vms`'s
  `label` filter is `key` (present) or `key=value`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from jvp.domain.vm import GONE, DiskDevice, NicDevice, VmView
from jvp.errors import Conflict, InvalidInput, PreconditionFailed, not_found, pool_inactive
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.gateway.vm import BUS_PREFIX
from jvp.service.node import NodeService
from jvp.service.vm.delete import DeletedListener, delete_vm
from jvp.service.vm.rules import (capacity_error, check_mac, check_nic_source, check_writable_volume, random_mac,
                                  state_error)
from jvp.timeutil import rfc3339


class VmService:
    """`on_deleted(node, name)` is told after each delete-vm (build_services gives the template module's
    after_vm_deleted: old template images the VM was the last user of are pruned); its failure never fails
    the delete."""

    def __init__(self, nodes: NodeService, gateway: NodeGateway, list_timeout_s: float = 10.0,
                 on_deleted: DeletedListener | None = None):
        self.nodes = nodes
        self.gateway = gateway
        self.list_timeout_s = list_timeout_s
        self.on_deleted = on_deleted

    def state(self, node: str, name: str) -> str:
        return self.gateway.vm_state(node, name)

    # -- reading -------------------------------------------------------------------------------------
    def list(self, node: str | None = None, state: str | None = None, label: str | None = None
             ) -> dict[str, Any]:
        names = [node] if node else self.nodes.names()
        if node:
            self.nodes.record(node)  # 404 for an unknown node, as for every other action
        # in parallel over the nodes, one bound for all; a node known dead is skipped unless asked for
        vms, errors = [], []
        for r in self.gateway.fan_out(names, self.gateway.vm_summaries, self.list_timeout_s,
                                      skip_dead=not node, what="list its VMs"):
            if r.error is not None:
                errors.append(r.error)
            else:
                vms += r.value
        if state:
            vms = [v for v in vms if v["state"] == state]
        if label:
            key, has_value, value = label.partition("=")
            vms = [v for v in vms if key in v["labels"] and (not has_value or v["labels"][key] == value)]
        return {"vms": vms, "errors": errors}

    def describe(self, node: str, name: str) -> VmView:
        return self.gateway.describe_vm(node, name)

    def xml(self, node: str, name: str) -> dict[str, Any]:
        return {"name": name, "node": node, **self.gateway.vm_xml(node, name)}

    # -- power ---------------------------------------------------------------------------------------
    def start(self, node: str, name: str) -> dict[str, Any]:
        st = self.state(node, name)
        if st not in ("stopped", "crashed"):
            raise state_error(name, node, st, "stopped", "only a stopped or crashed VM can be started"
                              + (" (use resume-vm for a paused or pm-suspended one)"
                                 if st in ("paused", "pmsuspended") else ""))
        reached = self.gateway.start_vm(node, name, rfc3339())
        return self._state_answer(node, name, reached, f"vm '{name}' started"
                                  + (" (it had crashed: powered off first)" if st == "crashed" else ""))

    def stop(self, node: str, name: str, force: bool = False, timeout_s: int = 60) -> dict[str, Any]:
        before = self.describe(node, name)  # a transient VM is gone once stopped: its last view is answered
        st = before.state
        if st == "stopped":
            raise state_error(name, node, st, "running", "it is already off")
        if st == "crashed" and not force:
            raise state_error(name, node, st, "running", "a crashed guest cannot shut down; stop it with force "
                              "(or start it again with start-vm)")
        if force:
            reached, waited = self.gateway.power_vm(node, name, "destroy"), 0.0
        else:
            if st in ("paused", "pmsuspended"):
                raise state_error(name, node, st, "running", f"a {st} guest cannot shut down; resume it first "
                                  "or stop with force")
            if self.gateway.power_vm(node, name, "shutdown") == GONE:
                reached, waited = GONE, 0.0
            else:
                reached, waited = self.gateway.wait_vm_stopped(node, name, timeout_s)
        gone = reached == GONE
        stopped = gone or reached in ("stopped", "crashed")
        message = (f"vm '{name}' powered off" if force else
                   f"vm '{name}' shut down after {waited:g}s" if stopped else
                   f"vm '{name}' did not shut down within {timeout_s}s and is still {reached}; wait longer, "
                   "check the guest (ACPI or guest agent), or stop with force")
        if gone:
            vm = replace(before, state="stopped", state_reason=None, ips=[], started_at=None, uptime=None)
            return {"vm": vm, "state": "stopped", "stopped": True, "waited_s": waited, "gone": True,
                    "message": message + "; it was transient (persistent: false), so libvirt removed it: it no "
                               "longer exists"}
        return {**self._state_answer(node, name, reached, message), "stopped": stopped, "waited_s": waited,
                "gone": False}

    # the VM states each power action needs, and what to say instead (crashed: stop with force, or start)
    NEEDS = {"reboot": ("running",), "reset": ("running", "paused"), "suspend": ("running",),
             "resume": ("paused", "pmsuspended")}

    def power(self, node: str, name: str, action: str) -> dict[str, Any]:
        """reboot, reset, suspend (pause), resume (of a paused VM, or wakes a pm-suspended guest)."""
        needs = self.NEEDS[action]
        st = self.state(node, name)
        if st not in needs:
            why = f"{action} needs a {' or '.join(needs)} VM"
            if st == "crashed":
                why += "; a crashed VM is recovered with stop-vm (force) or start-vm"
            elif st == "pmsuspended":
                why += "; a pm-suspended guest is woken with resume-vm"
            raise state_error(name, node, st, needs[0], why)
        op = "wakeup" if action == "resume" and st == "pmsuspended" else action
        reached = self.gateway.power_vm(node, name, op)
        return self._state_answer(node, name, reached, f"vm '{name}': {'woken up' if op == 'wakeup' else action + ' done'}")

    def _state_answer(self, node: str, name: str, reached: str, message: str) -> dict[str, Any]:
        vm = self.describe(node, name)
        return {"vm": vm, "state": vm.state or reached, "message": message}

    # -- modify --------------------------------------------------------------------------------------
    def modify(self, node: str, name: str, *, vcpus: int | None = None, memory_mib: int | None = None,
               new_name: str | None = None, autostart: bool | None = None, description: str | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
        vm = self.describe(node, name)
        figures = self.gateway.node_figures(node)
        if vcpus is not None and vcpus > figures["cpus"]:
            raise capacity_error(node, "vcpus", vcpus, figures["cpus"])
        if memory_mib is not None and memory_mib > figures["memory_mib"]:
            raise capacity_error(node, "memory_mib", memory_mib, figures["memory_mib"])
        if new_name and new_name != name:
            if vm.state != "stopped":
                raise state_error(name, node, vm.state, "stopped", "stop it before renaming")
            if self.gateway.vm_exists(node, new_name):
                raise Conflict(f"vm '{new_name}' already exists on node '{node}'", code="VmExists",
                               details={"vm": new_name, "node": node})
        result = {"applied_live": [], "next_boot": [], "notes": []}
        if vcpus is not None or memory_mib is not None:
            result = self.gateway.resize_vm(node, name, vcpus, memory_mib)
        facts = [k for k, v in (("description", description), ("labels", labels)) if v is not None]
        if facts:
            self.gateway.update_vm_facts(node, name, description=description, labels=labels)
            result["applied_live"] += sorted(facts)
        if autostart is not None:
            self.gateway.set_vm_autostart(node, name, autostart)
            result["applied_live"].append("autostart")
        if new_name and new_name != name:
            self.gateway.rename_vm(node, name, new_name)
            name = new_name
            result["applied_live"].append("name")
        return {"vm": self.describe(node, name), **result}

    # -- devices -------------------------------------------------------------------------------------
    def _volume(self, node: str, pool: str, volume: str) -> dict[str, Any]:
        """404 StoragePoolNotFound before VolumeNotFound; 422 StoragePoolInactive (libvirt cannot find a
        volume of a stopped pool: it answered an undeclared InvalidState)."""
        if not self.gateway.vm_pool(node, pool)["active"]:
            raise pool_inactive(pool, node)
        return self.gateway.vm_volume(node, pool, volume)

    def attach_volume(self, node: str, name: str, pool: str, volume: str, target: str | None = None,
                      bus: str = "virtio") -> dict[str, Any]:
        if target and not target.startswith(BUS_PREFIX[bus]):
            raise InvalidInput(f"target {target} does not name a {bus} disk (use {BUS_PREFIX[bus]}b, "
                               f"{BUS_PREFIX[bus]}c, ... or leave it out)", code="InvalidInput",
                               details={"field_errors": {"target": ["Does not match the bus."]}})
        self.describe(node, name)
        vol = self._volume(node, pool, volume)
        users = self.gateway.vm_references(node)
        check_writable_volume(self.gateway, node, vol, users,
                              hint="attach a copy instead (clone-volume, or create-vm with clone)")
        disk = DiskDevice(target=target or "", path=vol["path"], format=vol["format"], bus=bus)
        live = self.gateway.attach_vm_disk(node, name, disk)
        return {"vm": self.describe(node, name), "target": disk.target, "mac": None, "live": live}

    def detach_volume(self, node: str, name: str, pool: str | None = None, volume: str | None = None,
                      target: str | None = None) -> dict[str, Any]:
        targets = self.gateway.vm_disk_targets(node, name)
        if target is None:
            if not (pool and volume):
                raise InvalidInput("name the disk by target, or by pool and volume", code="InvalidInput",
                                   details={"field_errors": {"target": ["Missing."]}})
            path = self._volume(node, pool, volume)["path"]
            target = next((t for t, d in targets.items() if d["path"] == path and d["device"] == "disk"), None)
            if target is None:
                raise not_found("disk", f"{pool}/{volume}", node, code="DiskNotFound", vm=name)
        elif target not in targets or targets[target]["device"] != "disk":
            raise not_found("disk", target, node, code="DiskNotFound", vm=name)
        vm = self.describe(node, name)
        if any(d.system and d.target == target for d in vm.disks):
            raise Conflict(f"disk {target} is the system disk of vm '{name}' and cannot be detached; delete the "
                           "VM instead", code="SystemDisk", details={"vm": name, "target": target})
        live = self.gateway.detach_vm_disk(node, name, target)
        return {"vm": self.describe(node, name), "target": target, "mac": None, "live": live}

    def attach_nic(self, node: str, name: str, kind: str, source: str, mac: str | None = None,
                   model: str = "virtio") -> dict[str, Any]:
        running = self.describe(node, name).state != "stopped"
        check_nic_source(self.gateway, node, kind, source, need_active=running)
        used = self.gateway.macs_in_use(node)
        mac = check_mac(mac, used, node) if mac else random_mac(used)
        nic = NicDevice(kind=kind, source=source, mac=mac, model=model)
        live = self.gateway.attach_vm_nic(node, name, nic)
        return {"vm": self.describe(node, name), "target": None, "mac": mac, "live": live}

    def detach_nic(self, node: str, name: str, mac: str) -> dict[str, Any]:
        mac = mac.lower()
        vm = self.describe(node, name)
        if not any(n.mac == mac for n in vm.nics):
            raise not_found("nic", mac, node, code="NicNotFound", vm=name)
        live = self.gateway.detach_vm_nic(node, name, mac)
        return {"vm": self.describe(node, name), "target": None, "mac": mac, "live": live}

    def change_media(self, node: str, name: str, target: str, pool: str | None = None,
                     volume: str | None = None) -> dict[str, Any]:
        vm = self.describe(node, name)
        drive = next((d for d in vm.disks if d.target == target), None)
        if drive is None or drive.device != "cdrom":
            raise not_found("cdrom", target, node, code="CdromNotFound", vm=name)
        path, fmt = None, "raw"
        if volume:
            vol = self._volume(node, pool or "default", volume)
            path, fmt = vol["path"], vol["format"]
        live = self.gateway.change_vm_media(node, name, target, path, fmt)
        return {"vm": self.describe(node, name), "target": target, "mac": None, "live": live}

    # -- guest ---------------------------------------------------------------------------------------
    def reset_password(self, node: str, name: str, user: str, password: str) -> dict[str, Any]:
        vm = self.describe(node, name)
        if vm.state != "running":
            raise state_error(name, node, vm.state, "running", "the guest agent only answers in a running VM")
        if vm.guest_agent is False or vm.guest_agent is None:
            raise PreconditionFailed(f"the guest agent of vm '{name}' does not answer: the guest needs "
                                     "qemu-guest-agent running (and the org.qemu.guest_agent.0 channel)",
                                     code="GuestAgentUnavailable", details={"vm": name, "node": node})
        self.gateway.set_vm_user_password(node, name, user, password)
        return {"ok": True, "vm": name, "user": user}

    # -- delete --------------------------------------------------------------------------------------
    def delete(self, node: str, name: str, force: bool = False, delete_volumes: bool = False) -> dict[str, Any]:
        return delete_vm(self.gateway, node, name, self.describe(node, name), force=force,
                         delete_volumes=delete_volumes, on_deleted=self.on_deleted)

    def close(self) -> None:
        """Nothing of its own to stop: listings run on the gateway's fan-out pool."""
