"""Snapshots (SPEC 2.5): internal qcow2 snapshots of a VM's disks, with or without its memory.

Rules (also in the README):
- create-snapshot is a task, exclusive on the VM (a second task on the same VM is a 409 ResourceBusy).
  `include_memory` needs a running or paused VM (409 InvalidState on a stopped one). Every writable disk
  must be qcow2: a raw (or shared) disk is refused with 422 DiskNotSnapshottable naming each one; read-only
  drives (install ISO, cloud-init seed) and empty ones are left out. A name is unique per VM (409
  SnapshotExists); without one, JVP names it `snap-YYYYMMDD-HHMMSS` (UTC).
- revert-snapshot and delete-snapshot run as inline tasks on the VM: refused with 409 ResourceBusy while
  another task (a snapshot, a clone, a create) works on it. After a revert the VM is in the state the
  snapshot recorded (`revert_state`): with memory it resumes running or paused where it was; without memory
  a VM recorded running (or paused) is started (paused) from the reverted disks, a stopped one stays
  stopped. `start: true` leaves it running whatever was recorded; `start: false` (SPEC 2.5's default) is the
  recorded state. (The hypervisor layer can also keep the guest from running, start=False there; the API
  does not expose it, as SPEC 2.5 gives `start` only the "run afterwards" meaning.)
- delete-snapshot removes the snapshot's data from the disks; its children go to its parent, or are deleted
  too with `children`.
Clone and export are in clone.py and export.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from contextlib import contextmanager
from typing import Any, Iterator

from jvp.domain.snapshot import CaptureFacts, SnapshotDefinition, SnapshotView
from jvp.errors import Conflict, JvpError, NotFound, PreconditionFailed
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.service import VmService
from jvp.service.vm.rules import state_error

log = logging.getLogger(__name__)
ACTIVE_STATES = ("running", "paused")
INACTIVE_STATES = ("stopped", "crashed")


def vm_resource(node: str, vm: str) -> dict[str, str]:
    """The task resource of every snapshot action: the VM (exclusive across create-vm, snapshots, clones)."""
    return {"kind": "vm", "node": node, "name": vm}


def snapshot_not_found(node: str, vm: str, name: str) -> JvpError:
    return NotFound(f"snapshot '{name}' of vm '{vm}' not found on node '{node}'", code="SnapshotNotFound",
                    details={"kind": "snapshot", "name": name, "vm": vm, "node": node})


def default_name(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("snap-%Y%m%d-%H%M%S")


@dataclasses.dataclass(eq=False)
class SnapshotService:
    nodes: NodeService
    gateway: NodeGateway
    tasks: TaskService
    vms: VmService

    # -- plumbing ------------------------------------------------------------------------------------------
    @contextmanager
    def _on_snapshot(self, node: str, vm: str, name: str) -> Iterator[None]:
        """Around a call on a snapshot the caller checked the VM of: a missing snapshot names its VM."""
        try:
            yield
        except JvpError as exc:
            if exc.code == "SnapshotNotFound":
                raise snapshot_not_found(node, vm, name) from exc
            raise

    def vm_state(self, node: str, vm: str) -> str:
        self.nodes.record(node)  # 404 NodeNotFound first
        return self.gateway.snapshot_vm_state(node, vm)

    def definition(self, node: str, vm: str, name: str) -> SnapshotDefinition:
        """The snapshot's view and what its copy of the VM's definition says (for clone and export)."""
        with self._on_snapshot(node, vm, name):
            return self.gateway.snapshot_definition(node, vm, name)

    def _check_exists(self, node: str, vm: str, name: str) -> None:
        if not self.gateway.snapshot_exists(node, vm, name):
            raise snapshot_not_found(node, vm, name)

    # -- reading -------------------------------------------------------------------------------------------
    def list(self, node: str, vm: str | None = None) -> dict[str, list[SnapshotView]]:
        self.nodes.record(node)
        if vm:
            self.vm_state(node, vm)
            return {"snapshots": self.gateway.list_snapshots(node, vm)}
        return {"snapshots": self.gateway.list_node_snapshots(node)}

    def describe(self, node: str, vm: str, name: str) -> SnapshotView:
        self.vm_state(node, vm)
        found = next((v for v in self.gateway.list_snapshots(node, vm) if v.name == name), None)
        if found is None:
            raise snapshot_not_found(node, vm, name)
        return found

    # -- create ----------------------------------------------------------------------------------------------
    def check_create(self, node: str, vm: str, name: str, include_memory: bool) -> CaptureFacts:
        """Every rule before the task: the capture facts of the VM."""
        self.nodes.record(node)
        facts = self.gateway.snapshot_capture_facts(node, vm)
        st = facts.state
        if include_memory and st not in ACTIVE_STATES:
            raise state_error(vm, node, st, "running", "a snapshot with memory needs a running (or paused) VM; "
                              "leave include_memory out for a disk snapshot")
        if st not in ACTIVE_STATES + INACTIVE_STATES:
            raise state_error(vm, node, st, "running", "a snapshot needs a running, paused or stopped VM")
        if facts.refused:
            listed = "; ".join(f"{d.target} ({d.path}): {d.reason}" for d in facts.refused)
            raise PreconditionFailed(
                f"vm '{vm}' on node '{node}' has disks that cannot hold an internal snapshot: {listed}. Convert "
                "them to qcow2 (or detach them) first", code="DiskNotSnapshottable",
                details={"vm": vm, "node": node, "disks": [{"target": d.target, "path": d.path, "format": d.format,
                                                            "reason": d.reason} for d in facts.refused]})
        if not any(d.snapshot == "internal" for d in facts.disks):
            raise PreconditionFailed(f"vm '{vm}' on node '{node}' has no writable qcow2 disk to hold a snapshot",
                                     code="DiskNotSnapshottable", details={"vm": vm, "node": node, "disks": []})
        if self.gateway.snapshot_exists(node, vm, name):
            raise Conflict(f"vm '{vm}' on node '{node}' already has a snapshot named '{name}'; choose another name "
                           "or delete it first", code="SnapshotExists",
                           details={"vm": vm, "node": node, "name": name})
        return facts

    def create(self, node: str, vm: str, name: str | None, description: str, include_memory: bool, *,
               created_by: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        name = name or default_name()
        self.check_create(node, vm, name, include_memory)

        def work(handle: TaskHandle) -> dict[str, Any]:
            what = "disks and memory" if include_memory else "disks"
            handle.progress(10, f"taking snapshot '{name}' of vm '{vm}' ({what})", force=True)
            made = self.gateway.create_snapshot(node, vm, name, description, include_memory)  # 422 SnapshotFailed
            view = self.describe(node, vm, name)
            message = f"snapshot '{name}' of vm '{vm}' taken ({what})"
            # the task's result is stored as a document: the view as plain data
            return {"snapshot": dataclasses.asdict(view), "method": made.method, "quiesced": made.quiesced,
                    "notes": made.notes, "message": "; ".join([message, *made.notes])}
        return self.tasks.submit("create-snapshot", vm_resource(node, vm), work,
                                 params={"name": name, "include_memory": include_memory}, created_by=created_by,
                                 request_id=request_id, message="queued")

    # -- revert and delete -------------------------------------------------------------------------------------
    def revert(self, node: str, vm: str, name: str, start: bool | None, *, created_by: str | None = None,
               request_id: str | None = None) -> dict[str, Any]:
        self.vm_state(node, vm)
        self._check_exists(node, vm, name)

        def work(handle: TaskHandle) -> dict[str, Any]:
            handle.progress(10, f"reverting vm '{vm}' to snapshot '{name}'", force=True)
            with self._on_snapshot(node, vm, name):
                reached = self.gateway.revert_snapshot(node, vm, name, start)
            return {"state": reached}
        done = self.tasks.run_inline("revert-snapshot", vm_resource(node, vm), work,
                                     params={"name": name, "start": start}, created_by=created_by,
                                     request_id=request_id, message=f"reverting to {name}")
        snapshot = self.describe(node, vm, name)
        return {"vm": self.vms.describe(node, vm), "state": done["state"], "snapshot": snapshot,
                "message": f"vm '{vm}' reverted to snapshot '{name}', now {done['state']}"}

    def delete(self, node: str, vm: str, name: str, children: bool, *, created_by: str | None = None,
               request_id: str | None = None) -> dict[str, Any]:
        self.vm_state(node, vm)
        self._check_exists(node, vm, name)

        def work(handle: TaskHandle) -> dict[str, Any]:
            try:
                with self._on_snapshot(node, vm, name):
                    gone = self.gateway.delete_snapshot(node, vm, name, children)
            except JvpError as exc:
                text = (exc.details.get("libvirt_error") or {}).get("message") or ""
                if "not the same as disk image currently used" in text:
                    raise PreconditionFailed(
                        f"libvirt cannot delete snapshot '{name}' of running vm '{vm}': a drive's media changed "
                        "since the snapshot was taken. Stop the VM and delete it again (or put the same media "
                        "back)", code="SnapshotDeleteRefused", details=exc.details) from exc
                raise
            return {"deleted": gone}
        done = self.tasks.run_inline("delete-snapshot", vm_resource(node, vm), work,
                                     params={"name": name, "children": children}, created_by=created_by,
                                     request_id=request_id, message=f"deleting {name}")
        return {"ok": True, "vm": vm, "node": node, "deleted": done["deleted"],
                "message": f"deleted snapshot(s) {', '.join(done['deleted'])} of vm '{vm}'"}
