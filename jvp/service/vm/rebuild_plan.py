"""rebuild-vm's plan (RebuildPlan): every check before the task (`plan` refuses what cannot be rebuilt and
settles the cloud-init seed to write), and the submitting of rebuild-vm and of rebuild-template-vms (whose
task plans and rebuilds the template's VMs one after the other). The rules are in rebuild.py's docstring."""
from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from jvp.domain.storage_pool import INTERNAL_VOLUME_PREFIX
from jvp.domain.vm import VmView
from jvp.errors import Conflict, InvalidInput, JvpError, PreconditionFailed
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.keypair import KeypairService
from jvp.service.node import NodeService
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.cloudinit import Seed, build_seed
from jvp.service.vm.plan import BaseImage
from jvp.service.vm.rules import state_error

DEFAULT_STOP_TIMEOUT_S = 120
SEED_TARGET = "hdc"  # where create-vm puts the seed drive


@dataclass
class RebuildPlan:
    node: str
    name: str
    uuid: str
    state: str
    template: str
    base: BaseImage
    previous_template: dict[str, Any] | None   # {name, backing}: the VM's template and base image before
    target: str                                 # the system disk's target
    old_pool: str
    old_volume: str
    new_volume: str
    size_bytes: int
    seed_mode: str                              # renew | new | none
    seed: Seed | None                           # seed_mode new: built from the request
    old_seed: tuple[str, str] | None            # (pool, volume) of the VM's seed ISO
    seed_pool: str | None
    seed_volume: str | None
    seed_target: str | None
    stop_timeout_s: int
    created_by: str | None
    notes: list[str] = field(default_factory=list)


def _system_names(vm: str) -> tuple[str, str]:
    return f"{vm}-root.qcow2", f"{vm}-root-1.qcow2"


class RebuildPlanning:
    """Mixed into VmRebuilder (which provides nodes, gateway, tasks, keypairs, base_image, template_vms and run)."""
    nodes: NodeService
    gateway: NodeGateway
    tasks: TaskService
    keypairs: KeypairService
    base_image: Any
    template_vms: Any

    # -- every check before the task --------------------------------------------------------------------
    def plan(self, node: str, name: str, *, template: str | None = None, cloud_init: dict[str, Any] | None = None,
             user_data: str | None = None, stop_timeout_s: int = DEFAULT_STOP_TIMEOUT_S,
             created_by: str | None = None, vm: VmView | None = None) -> RebuildPlan:
        self.nodes.ensure_available(node)
        vm = vm or self.gateway.describe_vm(node, name)
        if vm.persistent is False:
            raise Conflict(f"vm '{name}' on node '{node}' is transient: it has no definition to keep",
                           code="InvalidState", details={"vm": name, "node": node, "state": vm.state,
                                                         "required": "persistent"})
        if vm.state not in ("running", "stopped", "crashed", "shutting-down"):
            raise state_error(name, node, vm.state, "stopped", f"a {vm.state} VM is not rebuilt: resume it or "
                              "stop it first")
        chosen = template or vm.template
        if not chosen:
            raise PreconditionFailed(f"vm '{name}' on node '{node}' was not created from a template: name the "
                                     "template to rebuild it from (template)", code="VmNotFromTemplate",
                                     details={"vm": name, "node": node})
        snaps = self.gateway.list_snapshots(node, name)
        if snaps:
            raise Conflict(f"vm '{name}' on node '{node}' has {len(snaps)} snapshot(s) "
                           f"({', '.join(s.name for s in snaps[:5])}{', ...' if len(snaps) > 5 else ''}); they "
                           "live in or depend on the system disk a rebuild replaces. Delete them first "
                           "(delete-snapshot)", code="VmHasSnapshots",
                           details={"vm": name, "node": node, "snapshots": [s.name for s in snaps]})
        system = next((d for d in vm.disks if d.system and d.device == "disk"), None)
        if system is None or not system.pool or not system.volume or not system.target:
            where = f" ({system.path or system.source})" if system is not None else ""
            raise PreconditionFailed(f"the system disk of vm '{name}' on node '{node}'{where} is not a volume of "
                                     "a storage pool of the node: there is nothing JVP can replace",
                                     code="SystemDiskNotRebuildable", details={"vm": name, "node": node})
        base = self.base_image(node, chosen)
        free = [n for n in _system_names(name) if n != system.volume]
        new_volume = next((n for n in free if not self.gateway.vm_volume_exists(node, system.pool, n)), None)
        if new_volume is None:
            raise Conflict(f"volume '{free[0]}' exists in pool '{system.pool}' on node '{node}' and is not vm "
                           f"'{name}'s system disk; delete or rename it before rebuilding", code="VolumeExists",
                           details={"pool": system.pool, "volume": free[0], "node": node})
        plan = RebuildPlan(node=node, name=name, uuid=vm.uuid, state=vm.state, template=chosen, base=base,
                           previous_template={"name": vm.template, "backing": system.backing} if vm.template else None,
                           target=system.target, old_pool=system.pool,
                           old_volume=system.volume, new_volume=new_volume,
                           size_bytes=max(system.capacity_bytes or 0, base.capacity_bytes), seed_mode="none",
                           seed=None, old_seed=None, seed_pool=None, seed_volume=None, seed_target=None,
                           stop_timeout_s=stop_timeout_s, created_by=created_by)
        self._plan_seed(plan, vm, cloud_init, user_data)
        return plan

    def _plan_seed(self, plan: RebuildPlan, vm: VmView, cloud_init: dict[str, Any] | None,
                   user_data: str | None) -> None:
        ci = vm.cloud_init
        drive = next((d for d in vm.disks if d.device == "cdrom" and ci and ci.seed_volume
                      and d.volume == ci.seed_volume), None)
        if ci and ci.seed_volume and ci.seed_pool:
            plan.old_seed = (ci.seed_pool, ci.seed_volume)
        if cloud_init is not None or user_data is not None:
            nics = [{"mac": n.mac, "network": n.network if n.type == "network" else None} for n in vm.nics]
            networks: dict[str, dict[str, Any]] = {}  # only the networks of NICs given a static address
            for entry in (cloud_init or {}).get("network") or []:
                idx = entry.get("nic", -1)
                if 0 <= idx < len(nics) and nics[idx]["network"] and nics[idx]["network"] not in networks:
                    networks[nics[idx]["network"]] = self.gateway.vm_network(plan.node, nics[idx]["network"])
            plan.seed = build_seed(vm_name=plan.name, cloud_init=cloud_init, user_data=user_data, nics=nics,
                                   networks=networks, keypair_key=lambda k: self.keypairs.get(k)["public_key"],
                                   os_profile=vm.os_profile or "linux")
            plan.seed_mode = "new"
        elif plan.old_seed is not None:
            if not self.gateway.vm_volume_exists(plan.node, *plan.old_seed):
                raise PreconditionFailed(f"the cloud-init seed of vm '{plan.name}' ({'/'.join(plan.old_seed)}) is "
                                         "gone, so its settings cannot be applied again: give cloud_init (or "
                                         "user_data) with the rebuild", code="CloudInitSeedMissing",
                                         details={"pool": plan.old_seed[0], "volume": plan.old_seed[1]})
            plan.seed_mode = "renew"
        else:
            plan.notes.append("the VM has no cloud-init seed and none was given: the new system disk boots with "
                              "the image's defaults (give cloud_init to configure it)")
            return
        plan.seed_pool = plan.old_seed[0] if plan.old_seed else plan.old_pool
        plan.seed_volume = f"{INTERNAL_VOLUME_PREFIX}cidata-{plan.name}-{uuidlib.uuid4().hex[:8]}.iso"
        plan.seed_target = drive.target if drive is not None and drive.target else SEED_TARGET

    # -- submitting --------------------------------------------------------------------------------------
    def submit(self, plan: RebuildPlan, request_id: str | None) -> dict[str, Any]:
        params = {"template": plan.template, "stop_timeout_s": plan.stop_timeout_s,
                  "cloud_init": "new" if plan.seed_mode == "new" else plan.seed_mode}
        return self.tasks.submit("rebuild-vm", {"kind": "vm", "node": plan.node, "name": plan.name},
                                 lambda h: self.run(plan, h), params=params, created_by=plan.created_by,
                                 request_id=request_id, message="queued")

    # -- rebuild-template-vms -------------------------------------------------------------------------------
    def submit_template(self, node: str, template: str, *, vms: list[str] | None, running: str,
                        stop_timeout_s: int, created_by: str | None, request_id: str | None) -> dict[str, Any]:
        """Every VM built from the template (or the listed ones), one after the other in one task (on the
        template: no update of it meanwhile). running=restart: a running VM is shut down, rebuilt and started;
        skip: it is left alone. A stopped VM is rebuilt and stays stopped. One VM's failure (put back as it
        was) does not stop the others; the result has one entry per VM."""
        self.nodes.ensure_available(node)
        assert self.template_vms is not None
        known = {v["name"]: v for v in self.template_vms(node, template)}
        if vms is not None:
            stray = [v for v in vms if v not in known]
            if stray:
                msg = f"not built from template '{template}' on node '{node}': {', '.join(stray)}"
                raise InvalidInput(msg, code="InvalidInput", details={"field_errors": {"vms": [msg]}})
        names = list(dict.fromkeys(vms)) if vms is not None else sorted(known)

        def work(h: TaskHandle) -> dict[str, Any]:
            return self._run_template(h, node, template, names, running, stop_timeout_s, created_by)
        return self.tasks.submit("rebuild-template-vms", {"kind": "template", "node": node, "name": template},
                                 work, params={"vms": names, "running": running, "stop_timeout_s": stop_timeout_s},
                                 created_by=created_by, request_id=request_id,
                                 message=f"rebuilding {len(names)} VM(s) of {template}")

    def _run_template(self, h: TaskHandle, node: str, template: str, names: list[str], running: str,
                      stop_timeout_s: int, created_by: str | None) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        span = 100.0 / max(len(names), 1)
        for i, name in enumerate(names):
            h.check_cancelled()
            base = i * span
            entry: dict[str, Any] = {"vm": name, "state": None, "outcome": None, "message": ""}
            results.append(entry)
            h.progress(base, f"{name}: checking", force=True)
            try:
                busy = self.tasks.active_on({"kind": "vm", "node": node, "name": name})
                if busy:
                    raise Conflict(f"vm '{name}' is busy with task {busy['id']} ({busy['kind']})",
                                   code="ResourceBusy", details={"task": busy["id"]})
                vm = self.gateway.describe_vm(node, name)
                entry["state"] = vm.state
                if vm.state in ("running", "shutting-down") and running == "skip":
                    entry.update(outcome="skipped", message="running (running=skip): left as it is")
                    continue
                plan = self.plan(node, name, template=template, stop_timeout_s=stop_timeout_s,
                                 created_by=created_by, vm=vm)
                result = self.run(plan, h, progress=lambda pct, msg, b=base, n=name: h.progress(
                    b + span * pct / 100, f"{n}: {msg}", force=True))
                entry.update(outcome="rebuilt", message=result["message"], state_after=result["vm"]["state"],
                             system_disk=result["system_disk"])
            except JvpError as exc:
                entry.update(outcome="failed", message=exc.message, error={"code": exc.code, "message": exc.message})
        counts: dict[str, int] = {}
        for r in results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no VM to rebuild"
        return {"template": template, "node": node, "vms": results, "counts": counts,
                "message": f"template '{template}': {summary}"}
