"""Fakes for the snapshot services: the node gateway's snapshot operations over in-memory VMs and snapshots,
tasks that run inline, and the node service's record (no libvirt, no patched module paths)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from jvp.domain.node import NodeRecord
from jvp.domain.snapshot import (CaptureFacts, CaptureResult, DiskChoice, SnapshotDefinition, SnapshotDiskView,
                                 SnapshotView)
from jvp.errors import JvpError, NotFound


def Disk(target: str, device: str = "disk", path: str | None = None, format: str | None = "qcow2",  # noqa: N802
         snapshot: str = "internal", reason: str | None = None) -> DiskChoice:
    """A disk as the capture facts list it, with the defaults of a writable qcow2 disk."""
    return DiskChoice(target=target, device=device, path=path, format=format, snapshot=snapshot, reason=reason)


def snapshot_view(name: str, vm: str = "web", node: str = "n", *, location: str = "internal",
                  system_disk: str | None = "vda", disks: list[SnapshotDiskView] = ()) -> SnapshotView:
    """A snapshot view as jvp.hypervisor.snapshot_xml.view makes it (a stopped VM's disk snapshot)."""
    return SnapshotView(name=name, vm=vm, node=node, created_at=None, state="stopped", description="",
                        parent=None, children=[], has_memory=False, disks=list(disks), current=False,
                        location=location, revert_state="stopped", quiesced=None, system_disk=system_disk)


@dataclass
class FakeVm:
    state: str = "running"
    disks: list[DiskChoice] = field(default_factory=lambda: [Disk("vda", path="/pool/vm-root.qcow2")])
    refused: list[DiskChoice] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)


class FakeSnapshotNodes:
    def record(self, name: str) -> NodeRecord:
        return NodeRecord(name=name, uri="qemu:///system")

    def ensure_available(self, name: str) -> NodeRecord:
        return self.record(name)


class FakeSnapshotGateway:
    """The snapshot operations of NodeGateway over a dict of VMs; `calls` records the changes."""

    def __init__(self, vms: dict[str, FakeVm]):
        self.vms = vms
        self.calls: list[tuple] = []
        self.fail_delete: JvpError | None = None

    def _vm(self, node: str, vm: str) -> FakeVm:
        if vm not in self.vms:
            raise NotFound(f"vm '{vm}' not found on node '{node}'", code="VmNotFound")
        return self.vms[vm]

    def snapshot_vm_state(self, node: str, vm: str) -> str:
        return self._vm(node, vm).state

    def snapshot_exists(self, node: str, vm: str, name: str) -> bool:
        return name in self._vm(node, vm).snapshots

    def list_snapshots(self, node: str, vm: str) -> list[SnapshotView]:
        return [snapshot_view(s, vm, node) for s in self._vm(node, vm).snapshots]

    def snapshot_capture_facts(self, node: str, vm: str) -> CaptureFacts:
        v = self._vm(node, vm)
        return CaptureFacts(state=v.state, disks=v.disks, refused=v.refused, persistent=True, agent=False)

    def create_snapshot(self, node: str, vm: str, name: str, description: str, include_memory: bool
                        ) -> CaptureResult:
        self.calls.append(("create", vm, name, include_memory))
        self._vm(node, vm).snapshots.append(name)
        return CaptureResult(method="libvirt", quiesced=None)

    def revert_snapshot(self, node: str, vm: str, name: str, start: bool | None) -> str:
        self.calls.append(("revert", vm, name, start))
        if name not in self._vm(node, vm).snapshots:
            raise NotFound(f"snapshot '{name}' not found", code="SnapshotNotFound")
        return "running" if start else self._vm(node, vm).state

    def delete_snapshot(self, node: str, vm: str, name: str, children: bool) -> list[str]:
        self.calls.append(("delete", vm, name, children))
        if self.fail_delete:
            raise self.fail_delete
        self._vm(node, vm).snapshots.remove(name)
        return [name]


class FakeHandle:
    id = "t-1"

    def progress(self, *args: Any, **kwargs: Any) -> None:
        pass


class InlineTasks:
    """submit and run_inline run the work at once (submit answers the result as a 'task')."""

    def __init__(self):
        self.kinds: list[str] = []

    def submit(self, kind: str, resource: dict[str, Any], work: Callable, **_: Any) -> dict[str, Any]:
        self.kinds.append(kind)
        return {"kind": kind, "result": work(FakeHandle())}

    def run_inline(self, kind: str, resource: dict[str, Any], work: Callable, **_: Any) -> dict[str, Any]:
        self.kinds.append(kind)
        return work(FakeHandle())


class FakeVms:
    def describe(self, node: str, name: str) -> dict[str, Any]:
        return {"name": name, "node": node}


class FakeCloneGateway(FakeSnapshotGateway):
    """FakeSnapshotGateway with the snapshot's definition, the node's volumes, pools and MACs a clone plans
    with."""

    def __init__(self, vms: dict[str, FakeVm], definition: SnapshotDefinition, volumes: dict[str, dict[str, Any]],
                 pools: dict[str, dict[str, Any]] | None = None, macs: dict[str, str] | None = None):
        super().__init__(vms)
        self.definition = definition
        self.volumes = volumes  # path -> {pool, name, path}
        self.pools = pools or {"default": {"active": True, "type": "dir"}}
        self.macs = dict(macs or {})

    def snapshot_definition(self, node: str, vm: str, name: str) -> SnapshotDefinition:
        if name not in self._vm(node, vm).snapshots:
            raise NotFound(f"snapshot '{name}' not found", code="SnapshotNotFound")
        return self.definition

    def clone_vm_exists(self, node: str, name: str) -> bool:
        return name in self.vms

    def snapshot_volume_at(self, node: str, path: str, *, label: str | None = None) -> dict[str, Any] | None:
        return self.volumes.get(path)

    def clone_pool_info(self, node: str, pool: str) -> dict[str, Any]:
        return self.pools[pool]

    def clone_volume_exists(self, node: str, pool: str, name: str) -> bool:
        return any(v["pool"] == pool and v["name"] == name for v in self.volumes.values())

    def clone_macs_in_use(self, node: str) -> dict[str, str]:
        return dict(self.macs)


class FakeReader:
    """DiskReader's checks before a copy: the chain of each disk and the space they need."""

    def __init__(self):
        self.checked: list[list] = []

    def chain(self, node: str, path: str) -> list[dict[str, Any]]:
        return [{"path": path, "format": "qcow2", "length": 1 << 20}]

    def check_space(self, chains: list[list[dict[str, Any]]]) -> None:
        self.checked.append(chains)
