"""Snapshot operations of the node gateway (see base.py for the rules every operation follows): a VM's
snapshots, and what clone-from-snapshot and export-snapshot-to-template do on a node (reading a disk's
images, writing new volumes, defining the clone). The VM and volume operations here are the few those need,
named for them (snapshot_*, clone_*), so that they never shadow the VM and storage mixins' own."""
from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable

from jvp.domain.snapshot import CaptureFacts, CaptureResult, SnapshotDefinition, SnapshotView
from jvp.domain.volume import VolumeView
from jvp.errors import PreconditionFailed
from jvp.hypervisor import disk_copy, domain, vm_volumes
from jvp.hypervisor import snapshot as snap_hv
from jvp.hypervisor.gateway.base import GatewayBase, translated
from jvp.hypervisor.snapshot_live import QmpError
from jvp.timeutil import rfc3339


def chain_error(exc: disk_copy.ChainError, node: str) -> PreconditionFailed:
    return PreconditionFailed(f"node '{node}': {exc}", code="DiskNotReadable", details={"node": node})


def _chain_errors(node: str) -> AbstractContextManager[None]:
    return translated(disk_copy.ChainError, lambda exc: chain_error(exc, node))


class SnapshotOps(GatewayBase):
    # -- a VM's snapshots ------------------------------------------------------------------------------
    def snapshot_vm_state(self, node: str, vm: str) -> str:
        """The VM's state (VmNotFound when it does not exist)."""
        return self._read(node, lambda c: domain.state(c, vm), kind="vm", obj=vm)

    def snapshot_exists(self, node: str, vm: str, name: str) -> bool:
        """Whether the VM has a snapshot of that name."""
        return self._read(node, lambda c: snap_hv.exists(c, vm, name), kind="vm", obj=vm)

    def list_snapshots(self, node: str, vm: str) -> list[SnapshotView]:
        """The VM's snapshots as views, parents before children."""
        return self._read(node, lambda c: snap_hv.views(c, node, vm), kind="vm", obj=vm)

    def list_node_snapshots(self, node: str) -> list[SnapshotView]:
        """The snapshots of every VM of the node."""
        return self._read(node, lambda c: snap_hv.node_views(c, node), kind="node", obj=node)

    def snapshot_capture_facts(self, node: str, vm: str) -> CaptureFacts:
        """What a capture is checked against: state, the disks (and those refused), the guest agent."""
        return self._read(node, lambda c: snap_hv.capture_facts(c, vm), kind="vm", obj=vm)

    def create_snapshot(self, node: str, vm: str, name: str, description: str, include_memory: bool
                        ) -> CaptureResult:
        """Take the snapshot (how it was taken); SnapshotFailed (422) when QEMU refused it."""
        try:
            return self._write(node, lambda c: snap_hv.create(c, vm, name, description, include_memory),
                               kind="vm", obj=vm)
        except QmpError as exc:
            raise PreconditionFailed(f"snapshot '{name}' of vm '{vm}' on node '{node}' failed: {exc}",
                                     code="SnapshotFailed", details={"qemu_error": exc.reply}) from exc

    def revert_snapshot(self, node: str, vm: str, name: str, start: bool | None) -> str:
        """Revert the VM to the snapshot; the state it reached."""
        return self._write(node, lambda c: snap_hv.revert(c, vm, name, start), kind="snapshot", obj=name,
                           action="reverting to")

    def delete_snapshot(self, node: str, vm: str, name: str, children: bool) -> list[str]:
        """Delete the snapshot (and its descendants with `children`); the names deleted."""
        return self._write(node, lambda c: snap_hv.delete(c, vm, name, children), kind="snapshot", obj=name,
                           action="deleting")

    def snapshot_definition(self, node: str, vm: str, name: str) -> SnapshotDefinition:
        """The snapshot's view and what its copy of the VM definition says (disks, NICs, seed, template)."""
        return self._read(node, lambda c: snap_hv.definition(c, vm, name), kind="snapshot", obj=name)

    # -- a disk's images, read and written through volume streams ----------------------------------------
    def disk_chain(self, node: str, path: str) -> list[dict[str, Any]]:
        """The disk's image and its backing images: [{path, pool, volume, format, length}] (DiskNotReadable
        when one is not a volume of an active pool, or the chain loops)."""
        with _chain_errors(node):
            return self._read(node, lambda c: disk_copy.backing_chain(c, path), kind="volume", obj=path,
                              action="reading")

    def disk_header(self, node: str, path: str, length: int) -> bytes:
        """The first `length` bytes of the image at `path`."""
        with _chain_errors(node):
            return self._read(node, lambda c: disk_copy.read_head(c, path, length), kind="volume", obj=path,
                              action="reading")

    def fetch_disk_image(self, node: str, path: str, volume: str, dest: Path, length: int,
                         fetched: Callable[[int], None]) -> None:
        """Download the image at `path` (volume `volume`) into the controller's file `dest`."""
        with _chain_errors(node):
            self._write(node, lambda c: disk_copy.fetch(c, path, dest, length, fetched), kind="volume",
                        obj=volume, action="reading")

    def store_disk_image(self, node: str, pool: str, name: str, src: Path, fmt: str,
                         sent: Callable[[int], None]) -> VolumeView:
        """Upload the controller's file `src` into a new volume; its info."""
        return self._write(node, lambda c: disk_copy.store(c, pool, name, src, fmt, sent), kind="volume",
                           obj=name, action="writing")

    # -- what a clone or an export needs of the node's volumes and VMs -----------------------------------
    def snapshot_volume_at(self, node: str, path: str, *, label: str | None = None) -> dict[str, Any] | None:
        """The volume at `path` ({pool, name, path, ...}), None when no active pool holds it."""
        return self._read(node, lambda c: vm_volumes.volume_by_path(c, path), kind="volume", obj=label or path)

    def clone_pool_info(self, node: str, pool: str) -> dict[str, Any]:
        """A pool's type and whether it is active."""
        return self._read(node, lambda c: vm_volumes.pool_info(c, pool), kind="storage_pool", obj=pool)

    def clone_volume_exists(self, node: str, pool: str, name: str) -> bool:
        return self._read(node, lambda c: vm_volumes.volume_exists(c, pool, name), kind="volume", obj=name)

    def clone_vm_exists(self, node: str, name: str) -> bool:
        return self._read(node, lambda c: domain.exists(c, name), kind="vm", obj=name)

    def clone_macs_in_use(self, node: str) -> dict[str, str]:
        """Every MAC of the node's VMs -> the VM that has it."""
        return self._check(node, domain.macs_in_use, kind="node", obj=node)

    def upload_clone_seed(self, node: str, pool: str, volume: str, data: bytes) -> dict[str, Any]:
        """A new volume holding `data` (the clone's cloud-init seed ISO); its info."""
        return self._write(node, lambda c: vm_volumes.upload_volume(c, pool, volume, data), kind="volume",
                           obj=volume, action="uploading the cloud-init seed to")

    def define_clone(self, node: str, definition_xml: str, *, name: str, uuid: str,
                     disks: dict[str, dict[str, str]], macs: list[str], seed: dict[str, str] | None,
                     facts: dict[str, Any], cloned_from: dict[str, str]) -> None:
        """Define the clone: the snapshot's definition with a new name, UUID, disks, MACs and seed."""
        self._write(node, lambda c: snap_hv.define_clone(c, definition_xml, name=name, uuid=uuid, disks=disks,
                                                        macs=macs, seed=seed, facts=facts,
                                                        cloned_from=cloned_from),
                    kind="vm", obj=name, action="defining")

    def start_clone(self, node: str, name: str) -> None:
        """Start the new clone."""
        self._write(node, lambda c: domain.start(c, name, rfc3339()), kind="vm", obj=name, action="starting")
