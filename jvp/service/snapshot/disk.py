"""A VM disk's content at an internal snapshot, as a flat qcow2 file on the controller (for clones and
template exports).

Why this road (also in the README): libvirt has no call that reads a disk "as it was at snapshot S". Its
volume copy (virStorageVolCreateXMLFrom) copies the current state; revert is destructive; a disk element
cannot select an internal snapshot; and JVP runs no command on a node. What libvirt does offer is the
image's bytes, through a volume download stream, on local and remote nodes alike. So JVP downloads the
image (and the images of its backing chain) into its data dir, and `qemu-img convert -l snapshot.name=S`
there reads exactly the snapshot's view (images/snapshot_image.py).

A running VM keeps running while its image is read: qcow2 never writes in place a cluster that a snapshot
still references (copy-on-write through reference counts), so the snapshot's tables and data are stable
for as long as the snapshot exists, even while the guest writes. Only making or deleting a snapshot moves
the image's snapshot table; the task holds the VM (no snapshot task can run on it meanwhile), and the
header's snapshot count and table offset are compared before and after the copy to be sure.
"""
from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from jvp.domain.volume import VolumeView
from jvp.errors import Conflict, JvpError, PreconditionFailed
from jvp.hypervisor.gateway import NodeGateway
from jvp.images import snapshot_image
from jvp.service.task.handle import TaskHandle
from jvp.store import private_dirs

log = logging.getLogger(__name__)
HEADER = 72                      # qcow2 header bytes up to the snapshot count and table offset
SNAPSHOT_FIELDS = slice(60, 72)  # nb_snapshots (4 bytes) and snapshots_offset (8 bytes)
WORKDIR_CLEANUP = "snapshot-workdir"


class DiskReader:
    def __init__(self, gateway: NodeGateway, data_dir: Path):
        self.gateway = gateway
        self.root = Path(data_dir) / "tmp" / "snapshots"

    # -- the controller's work space -----------------------------------------------------------------------
    def workdir(self, handle: TaskHandle) -> Path:
        """A directory for this task's images, removed by the task's cleanup if it fails or dies."""
        path = self.root / handle.id
        private_dirs(path)
        handle.add_cleanup({"type": WORKDIR_CLEANUP, "path": str(path)})
        return path

    def done_with(self, handle: TaskHandle, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        handle.drop_cleanup({"type": WORKDIR_CLEANUP, "path": str(path)})

    def remove_workdir(self, spec: dict[str, Any]) -> None:
        """Task cleanup handler: only ever a directory under tmp/snapshots of the data dir."""
        path = Path(spec["path"]).resolve()
        if self.root.resolve() in path.parents:
            shutil.rmtree(path, ignore_errors=True)

    def chain(self, node: str, path: str) -> list[dict[str, Any]]:
        return self.gateway.disk_chain(node, path)  # 422 DiskNotReadable when a link is not a volume

    def check_space(self, chains: list[list[dict[str, Any]]]) -> None:
        """The downloaded images plus the flat result (at most as much data again) must fit the data dir."""
        need = 2 * sum(c["length"] for chain in chains for c in chain)
        private_dirs(self.root)
        free = shutil.disk_usage(self.root).free
        if need > free:
            raise PreconditionFailed(f"the JVP server's data dir has {free} bytes free; reading the disks at the "
                                     f"snapshot needs about {need}. Free space under {self.root.parent.parent}",
                                     code="InsufficientSpace", details={"needed_bytes": need,
                                                                        "available_bytes": free})

    # -- one disk ----------------------------------------------------------------------------------------------
    def at_snapshot(self, node: str, vm: str, snapshot: str, path: str, work: Path, *, compress: bool,
                    progress: Callable[[float, str], None]) -> Path:
        """work/<n>.qcow2: the disk at `path` as it was at internal snapshot `snapshot` (flat, standalone).

        progress(fraction 0-1, message) follows the download (0-0.6) and qemu-img's conversion (0.6-1)."""
        chain = self.chain(node, path)
        if chain[0]["format"] != "qcow2":
            raise PreconditionFailed(f"{path} is a {chain[0]['format']} image: it holds no internal snapshot",
                                     code="DiskNotSnapshottable", details={"path": path})
        total = sum(c["length"] for c in chain) or 1
        before = self._header(node, path)
        local: list[Path] = []
        done = 0
        tag = uuid.uuid4().hex[:8]
        for i, item in enumerate(chain):
            dest = work / f"{tag}-{i}-{item['volume']}"
            label = f"reading {item['pool']}/{item['volume']} from node {node}"

            def fetched(n: int, base: int = done, label: str = label) -> None:
                progress(0.6 * (base + n) / total, label)
            self.gateway.fetch_disk_image(node, item["path"], item["volume"], dest, item["length"], fetched)
            local.append(dest)
            done += item["length"]
        if self._header(node, path)[SNAPSHOT_FIELDS] != before[SNAPSHOT_FIELDS]:
            raise Conflict(f"the snapshots of vm '{vm}' changed while its disk {path} was read (a snapshot was "
                           "made or deleted outside JVP); try again", code="SnapshotsChanged",
                           details={"vm": vm, "node": node, "path": path})
        for i in range(len(chain) - 1):
            if chain[i]["format"] == "qcow2":
                snapshot_image.point_at(local[i], local[i + 1], chain[i + 1]["format"])
        out = work / f"{local[0].name}.at-{snapshot}.qcow2"
        progress(0.6, f"extracting the disk at snapshot '{snapshot}'" + (" (compressed)" if compress else ""))
        snapshot_image.convert_at_snapshot(
            local[0], snapshot, out, compress=compress,
            progress=lambda pct: progress(0.6 + 0.4 * pct / 100, f"extracting the disk at snapshot '{snapshot}'"))
        for p in local:  # the copies of the chain are no longer needed: free the space at once
            p.unlink(missing_ok=True)
        return out

    def _header(self, node: str, path: str) -> bytes:
        return self.gateway.disk_header(node, path, HEADER)

    def store(self, handle: TaskHandle, node: str, pool: str, name: str, src: Path,
              progress: Callable[[float, str], None]) -> VolumeView:
        """Upload a local image into a new volume (registered for cleanup before it exists)."""
        spec = {"type": "volume", "node": node, "pool": pool, "name": name}
        handle.add_cleanup(spec)
        length = src.stat().st_size or 1
        label = f"writing {pool}/{name} on node {node}"
        try:
            return self.gateway.store_disk_image(node, pool, name, src, "qcow2",
                                                 lambda n: progress(n / length, label))
        except JvpError as exc:
            if exc.code == "VolumeExists":  # made meanwhile by someone else: not ours to remove
                handle.drop_cleanup(spec)
            raise
