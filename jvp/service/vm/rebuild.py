"""rebuild-vm: the VM's system disk is replaced by a fresh linked clone of its template's current image (or of
another template); everything else of the VM stays.

Choices (also in the README):
- Kept: the name, UUID, MACs and NICs, data disks, vCPUs and memory, labels, description, keypairs (unless
  new cloud-init settings name others), autostart. Replaced: the system disk's content (a new qcow2 overlay
  of the template's current image, at least as large as the old disk), and the cloud-init instance id.
- cloud-init runs again: the VM's seed ISO is read back and written anew with a new `instance-id` (same
  users, keys, host name, network config: cloudinit/reseed.renew_instance); `cloud_init`/`user_data` given
  with the request build a new seed instead, exactly as create-vm would (the VM's NICs and MACs). A VM
  without a seed and no new settings gets none (the new disk boots with the image's defaults; a note says so).
- The new disk is `<vm>-root.qcow2` or `<vm>-root-1.qcow2`, whichever the VM does not use now (the names
  alternate over rebuilds); the new seed is a new `.jvp-cidata-<vm>-<hex>.iso`. Both in the old ones' pools.
  An old system disk of another name (a volume the VM was created on as is) is kept, never deleted.
- A running VM is shut down gracefully (ACPI) and waited for up to `stop_timeout_s` (default 120 s), then
  powered off (forced; a note says so); a crashed VM is powered off. It is started again after the rebuild
  when it was running. A paused or pm-suspended VM is refused (409 InvalidState: resume or stop it first).
- Nothing half-done: the old system disk and seed are deleted only once the new ones are in the VM's config
  and (for a VM that was running) it started. Any failure before that puts the old config back (the VM's
  previous definition, restored only while the domain still has the same UUID), deletes the new volumes and
  starts the VM again if it was running; a JVP crash mid-way does the same at the next start (the task's
  cleanups, newest first). The old disk is kept (with a note) when something else still needs it.
- Refused before any change: a VM not made from a template and no `template` given (422 VmNotFromTemplate),
  a broken template or one whose image is gone (422 TemplateBroken / TemplateImageMissing), a VM with
  snapshots (409 VmHasSnapshots: internal snapshots live in the system disk the rebuild deletes; delete them
  first), a system disk that is not a pool volume (422 SystemDiskNotRebuildable), a transient VM.
"""
from __future__ import annotations

import logging
import uuid as uuidlib
from typing import Any, Callable

from jvp.cloudinit import iso as ci_iso
from jvp.cloudinit import reseed
from jvp.domain.vm import GONE
from jvp.errors import JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.keypair import KeypairService
from jvp.service.node import NodeService
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.plan import BaseImage
from jvp.service.vm.rebuild_plan import RebuildPlan, RebuildPlanning, _system_names
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
# told (node, template name, entry) after each rebuild attempt that reached the task: the template history
RebuildListener = Callable[[str, str, dict[str, Any]], None]
Progress = Callable[[float, str], None]


class VmRebuilder(RebuildPlanning):
    """`base_image(node, template)`: the template's current image (the template module's base_image: refuses
    a broken template or a missing image); `on_rebuilt`: the template history."""

    def __init__(self, nodes: NodeService, gateway: NodeGateway, tasks: TaskService, keypairs: KeypairService,
                 base_image: Callable[[str, str], BaseImage], on_rebuilt: RebuildListener | None = None,
                 template_vms: Callable[[str, str], list[dict[str, Any]]] | None = None):
        self.nodes = nodes
        self.template_vms = template_vms  # (node, template) -> [{name, running}]: the VMs built from it
        self.gateway = gateway
        self.tasks = tasks
        self.keypairs = keypairs
        self.base_image = base_image
        self.on_rebuilt = on_rebuilt
        tasks.register_cleanup("vm-definition", self.cleanup_definition)

    # -- the task ------------------------------------------------------------------------------------------
    def run(self, plan: RebuildPlan, h: TaskHandle, progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild one VM (the task, or one VM of rebuild-template-vms). On any failure the VM is put back as it
        was before the error leaves (the handle's cleanups are dropped again), and the history is told."""
        say = progress or (lambda pct, msg: h.progress(pct, msg, force=True))
        try:
            result = self._run(plan, h, say)
        except BaseException as exc:
            self._tell(plan, "failed", getattr(exc, "message", None) or str(exc) or type(exc).__name__, h)
            raise
        self._tell(plan, "succeeded", result["message"], h)
        return result

    def _tell(self, plan: RebuildPlan, outcome: str, message: str, h: TaskHandle) -> None:
        if self.on_rebuilt is None:
            return
        try:
            self.on_rebuilt(plan.node, plan.template, {
                "vm": plan.name, "outcome": outcome, "by": plan.created_by, "task": h.id, "message": message,
                "previous_template": plan.previous_template, "image": plan.base.template})
        except Exception:  # noqa: BLE001 - bookkeeping never changes a rebuild's outcome
            log.exception("rebuild-vm %s on %s: the template history was not written", plan.name, plan.node)

    def _stop(self, plan: RebuildPlan, say: Progress) -> list[str]:
        node, name = plan.node, plan.name
        state = self.gateway.vm_state(node, name)
        if state == "crashed":
            self.gateway.power_vm(node, name, "destroy")
            return ["the VM had crashed: powered off before the rebuild"]
        if state not in ("running", "shutting-down"):
            return []
        say(3, f"shutting the guest down (up to {plan.stop_timeout_s}s)")
        reached, waited = state, 0.0
        if plan.stop_timeout_s > 0 and self.gateway.power_vm(node, name, "shutdown") != GONE:
            reached, waited = self.gateway.wait_vm_stopped(node, name, plan.stop_timeout_s)
        if reached in ("stopped", "crashed", GONE):
            return [f"the guest shut down in {waited:g}s"]
        self.gateway.power_vm(node, name, "destroy")
        return [f"the guest did not shut down within {plan.stop_timeout_s}s: powered off (forced)"]

    def _seed_data(self, plan: RebuildPlan, instance_id: str) -> bytes:
        if plan.seed_mode == "new":
            assert plan.seed is not None
            return plan.seed.iso()
        assert plan.old_seed is not None
        pool, volume = plan.old_seed
        length = self.gateway.vm_volume(plan.node, pool, volume)["capacity_bytes"] or 0
        data = b"".join(self.gateway.download_volume(plan.node, pool, volume, length))
        files = reseed.renew_instance(reseed.read_seed(data), instance_id=instance_id, hostname=plan.name)
        return ci_iso.build_iso(files)

    def _run(self, plan: RebuildPlan, h: TaskHandle, say: Progress) -> dict[str, Any]:
        node, name = plan.node, plan.name
        was_running = plan.state in ("running", "shutting-down")
        notes = list(plan.notes)
        notes += self._stop(plan, say)
        made: list[dict[str, Any]] = []
        restore: dict[str, Any] | None = None
        instance_id = (plan.seed.instance_id if plan.seed else f"i-{uuidlib.uuid4().hex[:16]}")
        step = (f"making the new system disk {plan.old_pool}/{plan.new_volume} on the image of template "
                f"'{plan.template}' ({plan.base.pool}/{plan.base.volume})")
        try:
            h.check_cancelled()
            say(30, f"cloning {plan.base.pool}/{plan.base.volume} to {plan.old_pool}/{plan.new_volume}")
            backing = {"path": plan.base.path, "format": plan.base.format}
            info = self.gateway.create_vm_volume(node, plan.old_pool, plan.new_volume, plan.size_bytes, "qcow2",
                                                 backing)
            spec = {"type": "vm-volume", "node": node, "pool": plan.old_pool, "volume": plan.new_volume}
            h.add_cleanup(spec)
            made.append(spec)
            seed_path = None
            if plan.seed_mode != "none":
                step = f"writing the new cloud-init seed {plan.seed_pool}/{plan.seed_volume}"
                say(50, "writing the cloud-init seed with a new instance id")
                data = self._seed_data(plan, instance_id)
                seed_info = self.gateway.upload_vm_seed(node, plan.seed_pool or plan.old_pool, plan.seed_volume or "",
                                                        data)
                spec = {"type": "vm-volume", "node": node, "pool": plan.seed_pool, "volume": plan.seed_volume}
                h.add_cleanup(spec)
                made.append(spec)
                seed_path = seed_info["path"]
            h.check_cancelled()
            facts: dict[str, Any] = {"template": plan.base.template}
            if plan.seed_mode != "none":
                facts["cloud_init"] = {"instance-id": instance_id, "pool": plan.seed_pool,
                                       "volume": plan.seed_volume}
            if plan.seed_mode == "new" and plan.seed is not None:
                facts["keypairs"] = plan.seed.keypairs
            step = f"putting {plan.new_volume} in place of {plan.old_volume} in the VM's config"
            say(70, f"putting {plan.new_volume} in place of {plan.old_volume}")
            before = self.gateway.replace_vm_system_disk(node, name, plan.target, info["path"], info["format"],
                                                         plan.seed_target, seed_path, facts)
            restore = {"type": "vm-definition", "node": node, "name": name, "uuid": plan.uuid, "xml": before,
                       "start": was_running}
            h.add_cleanup(restore)
            if was_running:
                step = f"starting the VM on {plan.old_pool}/{plan.new_volume}"
                say(85, "starting the VM")
                self.gateway.start_vm(node, name, rfc3339(), action="starting")
        except BaseException as exc:
            undone = self._undo(plan, h, restore, made, was_running)
            if isinstance(exc, JvpError):
                raise self._failed(plan, exc, step, undone) from exc
            raise
        for spec in [*made, *([restore] if restore else [])]:
            h.drop_cleanup(spec)
        # complete: the old disk and seed go, unless something else still needs them
        removed, kept = self._drop_old(plan, notes)
        state = self.gateway.vm_state(node, name)
        message = (f"vm '{name}' on node '{node}' rebuilt from template '{plan.template}' "
                   f"({plan.base.volume}), {state}")
        return {"vm": {"name": name, "node": node, "uuid": plan.uuid, "state": state,
                       "instance_id": instance_id if plan.seed_mode != "none" else None},
                "template": plan.template, "image": f"{plan.base.pool}/{plan.base.volume}",
                "system_disk": {"pool": plan.old_pool, "volume": plan.new_volume},
                "replaced": {"pool": plan.old_pool, "volume": plan.old_volume},
                "removed_volumes": removed, "kept_volumes": kept, "notes": notes,
                "message": "; ".join([message, *notes])}

    def _failed(self, plan: RebuildPlan, exc: JvpError, step: str, undone: bool) -> JvpError:
        """The error a failed rebuild leaves with: which step failed and on what, the underlying error (its code,
        status and details kept), and where the VM is now."""
        try:
            state: str | None = self.gateway.vm_state(plan.node, plan.name)
        except JvpError:
            state = None
        if undone:
            where = (f"the VM is back on its old system disk {plan.old_pool}/{plan.old_volume}"
                     + (f" and {state}" if state else ""))
        else:
            where = ("putting the VM back was not complete: JVP retries it from the task's cleanups "
                     "(see the server log)")
        hint = ""
        if step.startswith("making the new system disk"):
            hint = f"; verify-template '{plan.template}' checks its image"
        reason = exc.message.rstrip()
        return JvpError(f"rebuilding vm '{plan.name}' on node '{plan.node}' failed while {step}: {reason}; "
                        f"{where}{hint}", code=exc.code, status=exc.status,
                        details={**exc.details, "vm": plan.name, "failed_step": step, "restored": undone,
                                 "vm_state": state})

    def _undo(self, plan: RebuildPlan, h: TaskHandle, restore: dict[str, Any] | None, made: list[dict[str, Any]],
              was_running: bool) -> bool:
        """Put the VM back as it was: its old config, the new volumes deleted, started again if it ran. False
        when a step failed (left to the task's cleanups)."""
        ok = True
        specs = ([restore] if restore else []) + list(reversed(made))
        for spec in specs:
            try:
                if spec["type"] == "vm-definition":
                    self.cleanup_definition(spec)
                else:
                    self.gateway.delete_vm_volume(spec["node"], spec["pool"], spec["volume"])
                h.drop_cleanup(spec)
            except Exception:  # noqa: BLE001 - left to the task's cleanups (retried)
                ok = False
                log.exception("rebuild-vm %s on %s: undo step %s failed", plan.name, plan.node, spec["type"])
        if restore is None and was_running:  # the config never changed: start the VM as it was
            try:
                if self.gateway.vm_state(plan.node, plan.name) == "stopped":
                    self.gateway.start_vm(plan.node, plan.name, rfc3339(), action="starting")
            except Exception:  # noqa: BLE001
                log.exception("rebuild-vm %s on %s: the VM was not started again", plan.name, plan.node)
        return ok

    def _drop_old(self, plan: RebuildPlan, notes: list[str]) -> tuple[list[str], list[str]]:
        removed: list[str] = []
        kept: list[str] = []
        olds = []
        if plan.old_volume in _system_names(plan.name):
            olds.append((plan.old_pool, plan.old_volume))
        else:  # a volume the VM was created on as is (not one JVP made for it): never deleted by a rebuild
            kept.append(f"{plan.old_pool}/{plan.old_volume}")
            notes.append(f"the old system disk {plan.old_pool}/{plan.old_volume} is kept: JVP did not make it for "
                         "this VM (delete it with delete-volume when it is no longer needed)")
        if plan.old_seed and plan.seed_mode != "none":
            olds.append(plan.old_seed)
        try:
            refs = self.gateway.vm_references(plan.node)
        except JvpError as exc:
            notes.append(f"the old volumes are kept: JVP could not check who uses them ({exc.message})")
            return [], kept + [f"{p}/{v}" for p, v in olds]
        for pool, volume in olds:
            try:
                path = self.gateway.vm_volume(plan.node, pool, volume)["path"]
            except JvpError:
                continue
            users = refs.vm_names(pool, volume, path)
            deps = refs.dependents([path])
            if users or deps:
                why = (f"used by vm(s) {', '.join(users)}" if users else
                       f"the backing file of {', '.join(sorted(v.path or v.name for v in deps))}")
                kept.append(f"{pool}/{volume}")
                notes.append(f"the old volume {pool}/{volume} is kept: {why}")
                continue
            try:
                self.gateway.delete_vm_volume(plan.node, pool, volume)
                removed.append(f"{pool}/{volume}")
            except JvpError as exc:
                kept.append(f"{pool}/{volume}")
                notes.append(f"the old volume {pool}/{volume} was not removed: {exc.message}")
        return removed, kept

    # -- cleanups ------------------------------------------------------------------------------------------
    def cleanup_definition(self, spec: dict[str, Any]) -> None:
        """Cleanup "vm-definition": a failed or interrupted rebuild's VM gets its old config back (and is
        started again when it was running before)."""
        node, name = spec["node"], spec["name"]
        try:
            if self.gateway.vm_state(node, name) != "stopped":
                self.gateway.power_vm(node, name, "destroy")
        except JvpError as exc:
            if exc.code == "VmNotFound":
                return
            raise
        if self.gateway.restore_vm_definition(node, name, spec["uuid"], spec["xml"]) and spec.get("start"):
            try:
                self.gateway.start_vm(node, name, rfc3339(), action="starting")
            except JvpError as exc:
                log.warning("rebuild-vm %s on %s: the old config is back but the VM did not start: %s", name, node,
                            exc.message)
