"""export-snapshot-to-template: the VM's system disk as it was at a snapshot becomes a template.

The disk's content at the snapshot is read on the controller (disk.py) and written as one flat,
compressed qcow2 (no backing file, no snapshots inside: a template stands alone), then installed and
registered by the template module (its template pool, its metadata, type `snapshot`, source
{type: snapshot, vm, snapshot}). The template records the image's sha256. Its `os` and `features` come from
the template the VM was built from, when there is one, completed with what the VM's definition shows
(cloud-init seed, guest agent channel, virtio disks).

The same reader serves register-template with `source: {type: snapshot}` (the template module calls
`as_template_source`, which leaves the image in a temporary volume for it to copy).
"""
from __future__ import annotations

from dataclasses import dataclass

import logging
import uuid as uuidlib
from pathlib import Path
from typing import Any, Protocol

from jvp.domain.snapshot import SnapshotDefinition
from jvp.domain.storage_pool import INTERNAL_VOLUME_PREFIX
from jvp.errors import JvpError, PreconditionFailed, already_exists
from jvp.images import snapshot_image
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.snapshot.disk import DiskReader
from jvp.service.snapshot.service import SnapshotService, vm_resource
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService

log = logging.getLogger(__name__)


class TemplateImages(Protocol):
    """What the export needs of the template module (jvp/service/template/service.py)."""
    def doc(self, node: str, name: str) -> dict[str, Any]: ...
    def exists(self, node: str, name: str) -> bool: ...
    def check_pool(self, node: str, pool: str) -> None: ...
    def install_image(self, h: TaskHandle, node: str, pool: str, name: str, image: Path, source: dict[str, Any],
                      meta: dict[str, Any], *, size: int, virtual: int) -> dict[str, Any]: ...


@dataclass(eq=False)
class SnapshotExporter:
    snapshots: SnapshotService
    nodes: NodeService
    gateway: NodeGateway
    tasks: TaskService
    reader: DiskReader
    templates: TemplateImages

    def system_disk(self, node: str, vm: str, name: str) -> dict[str, Any]:
        """The snapshot's system disk: {target, path, pool, definition}."""
        self.snapshots.vm_state(node, vm)
        definition = self.snapshots.definition(node, vm, name)
        view = definition.view
        target = view.system_disk
        held = {d.target: d for d in view.disks if d.snapshot == "internal"}
        if definition.xml is None or target not in held or not held[target].path:
            raise PreconditionFailed(f"snapshot '{name}' of vm '{vm}' does not hold the system disk "
                                     f"({target or 'unknown'}) as an internal snapshot", code="SnapshotIncomplete",
                                     details={"vm": vm, "snapshot": name, "disks": [target]})
        path = held[target].path
        src = self.gateway.snapshot_volume_at(node, path)
        if src is None:
            raise PreconditionFailed(f"the system disk of the snapshot ({path}) is no longer a volume of an active "
                                     f"storage pool on node '{node}'", code="DiskNotReadable",
                                     details={"path": path})
        return {"target": target, "path": path, "pool": src["pool"], "definition": definition}

    def _meta(self, node: str, disk: dict[str, Any], description: str) -> dict[str, Any]:
        definition: SnapshotDefinition = disk["definition"]
        os_, features = {}, {}
        if definition.template and definition.template.get("name"):
            try:
                base = self.templates.doc(node, definition.template["name"])
                os_, features = dict(base.get("os") or {}), dict(base.get("features") or {})
            except JvpError:
                pass  # the VM's template is gone: what the definition shows is all there is
        bus = definition.disk_buses.get(disk["target"])
        seen = {"cloud_init": bool(definition.seed_volume), "qemu_guest_agent": definition.agent_channel,
                "virtio": bus == "virtio"}
        features = {k: features.get(k) if features.get(k) is not None else v for k, v in seen.items()}
        return {"os": os_, "features": features, "tags": [], "description": description}

    # -- export-snapshot-to-template ---------------------------------------------------------------------------
    def submit(self, node: str, vm: str, name: str, template: str, pool: str | None, description: str, *,
               created_by: str | None, request_id: str | None) -> dict[str, Any]:
        self.nodes.ensure_available(node)
        disk = self.system_disk(node, vm, name)
        if self.templates.exists(node, template):
            raise already_exists("template", template, node, code="TemplateExists")
        pool = pool or disk["pool"]
        self.templates.check_pool(node, pool)
        self.reader.check_space([self.reader.chain(node, disk["path"])])
        meta = self._meta(node, disk, description or f"vm '{vm}' at snapshot '{name}'")

        def work(h: TaskHandle) -> dict[str, Any]:
            return self.run(h, node, vm, name, template, pool, disk, meta)
        return self.tasks.submit("export-snapshot-to-template", vm_resource(node, vm), work,
                                 params={"snapshot": name, "template": template, "pool": pool},
                                 created_by=created_by, request_id=request_id, message="queued")

    def run(self, h: TaskHandle, node: str, vm: str, name: str, template: str, pool: str, disk: dict[str, Any],
            meta: dict[str, Any]) -> dict[str, Any]:
        work = self.reader.workdir(h)
        image = self.reader.at_snapshot(node, vm, name, disk["path"], work, compress=True,
                                        progress=lambda f, m: h.progress(80 * f, m))
        size, virtual = image.stat().st_size, snapshot_image.virtual_size(image)
        view = self.templates.install_image(h, node, pool, template, image,
                                            {"type": "snapshot", "vm": vm, "snapshot": name}, meta,
                                            size=size, virtual=virtual)
        self.reader.done_with(h, work)
        return {"template": view, "message": f"template '{template}' made from the system disk of vm '{vm}' at "
                                             f"snapshot '{name}' ({size} bytes, compressed)"}

    # -- register-template {source: {type: snapshot}} -------------------------------------------------------------
    def as_template_source(self, node: str, vm: str, snapshot: str, h: TaskHandle) -> dict[str, Any]:
        """The template module's snapshot source: the system disk at the snapshot in a temporary volume
        (`.jvp-export-*.qcow2` in the disk's pool) that it copies and then removes."""
        disk = self.system_disk(node, vm, snapshot)
        self.reader.check_space([self.reader.chain(node, disk["path"])])
        work = self.reader.workdir(h)
        image = self.reader.at_snapshot(node, vm, snapshot, disk["path"], work, compress=True,
                                        progress=lambda f, m: h.progress(70 * f, m))
        volume = f"{INTERNAL_VOLUME_PREFIX}export-{uuidlib.uuid4().hex[:8]}.qcow2"
        self.reader.store(h, node, disk["pool"], volume, image, lambda f, m: h.progress(70 + 10 * f, m))
        self.reader.done_with(h, work)
        return {"pool": disk["pool"], "volume": volume, "remove": True}
