"""The node side of a template: its pool's `<pool>_templates_` companion (a JVP-managed libvirt dir pool at
`<pool path>/_templates_`, made on first use, hidden from list-storage-pools), the image streamed into a new
volume there through a libvirt upload stream or copied there by libvirt from another volume, and the
metadata written last. Shared by register-template, update-template-image and the snapshot module's
export-snapshot-to-template.

Image volumes are named `<template>-v<version>.<format>`: a new version never overwrites the image that
existing VMs are backed by.

The installer receives its collaborators in its constructor (the catalog for the finished template's view,
the gateway for the node, the volume and pool services for their rules); it knows nothing of the template
service above it, so the template package has no import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

import logging
import uuid
from pathlib import Path
from typing import Any, Iterator

from jvp.domain.storage_pool import FILE_POOL_TYPES, TEMPLATE_DIR, TEMPLATE_POOL_SUFFIX, PoolView, is_internal_pool
from jvp.domain.volume import VolumeView
from jvp.errors import Conflict, InvalidInput, JvpError, PreconditionFailed, already_exists
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.gateway.storage import BLOCK
from jvp.images.fetch import Hashes
from jvp.service.storage.pool import StoragePoolService
from jvp.service.storage.volume import VolumeService, insufficient_space, lacks_space, vm_names
from jvp.service.task.handle import TaskHandle
from jvp.service.template.catalog import TemplateCatalog
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
INSTALL_PCT = (82.0, 99.0)


def bad(field: str, message: str, code: str = "InvalidInput") -> InvalidInput:
    return InvalidInput(message, code=code, details={"field_errors": {field: [message]}})


def volume_name(name: str, version: int, fmt: str) -> str:
    return f"{name}-v{version}.{fmt}"


@dataclass(eq=False)
class TemplateInstaller:
    catalog: TemplateCatalog
    store: MetadataStore
    gateway: NodeGateway
    volumes: VolumeService
    pools: StoragePoolService

    def parent_pool(self, node: str, pool: str) -> PoolView:
        if is_internal_pool(pool):
            raise bad("pool", f"name the storage pool ('{pool[:-len(TEMPLATE_POOL_SUFFIX)]}'), not JVP's template "
                      "pool", code="StoragePoolIsInternal")
        p = self.volumes.pool(node, pool)  # 404 StoragePoolNotFound, 422 StoragePoolInactive
        if p.type not in FILE_POOL_TYPES or not p.path:
            raise PreconditionFailed(f"storage pool '{pool}' is a {p.type} pool; templates live in a directory "
                                     "of a dir, fs or netfs pool", code="TemplatesNotSupported",
                                     details={"pool": pool, "type": p.type})
        return p

    def _copyable(self, node: str, pool: str, volume: str) -> VolumeView:
        src = self.volumes.raw(node, pool, volume)
        if src.format not in ("qcow2", "raw"):
            raise bad("source.volume", f"volume '{volume}' is {src.format or 'not a file image'}; templates are "
                      "qcow2 or raw", code="FormatNotSupported")
        running = [u for u in self.volumes.usage(node).users(pool, volume, src.path) if u.running]
        if running:
            raise Conflict(f"volume '{volume}' is in use by running VMs ({', '.join(vm_names(running))}): a copy "
                           "taken while the guest writes is inconsistent; stop them first", code="VolumeInUse",
                           details={"vms": vm_names(running)})
        return src

    def ensure_template_pool(self, handle: TaskHandle, node: str, pool: str) -> str:
        """`<pool>_templates_`, a JVP-managed dir pool at `<pool path>/_templates_`, made on first use (and
        removed again if this task fails before anything else lives there)."""
        parent = self.parent_pool(node, pool)
        tpool = pool + TEMPLATE_POOL_SUFFIX
        try:
            if not self.pools.describe(node, tpool).active:
                self.pools.start(node, tpool)
            return tpool
        except JvpError as exc:
            if exc.code != "StoragePoolNotFound":
                raise
        try:
            self.pools.create(node, tpool, "dir", path=f"{(parent.path or '').rstrip('/')}/{TEMPLATE_DIR}",
                                  autostart=True, internal=True)
            log.info("template pool %s created on node %s", tpool, node)
            handle.add_cleanup({"type": "template-pool", "node": node, "pool": pool, "task": handle.id})
        except JvpError as exc:
            if exc.code != "StoragePoolExists":  # made meanwhile by a concurrent registration
                raise
        return tpool

    def _new_volume(self, handle: TaskHandle, node: str, tpool: str, volume: str, need: int) -> dict[str, str]:
        tp = self.volumes.pool(node, tpool, refresh=True)
        if lacks_space(tp, need):
            raise insufficient_space(tpool, node, need, tp.available_bytes)
        if self.gateway.volume_exists(node, tpool, volume):
            raise already_exists("volume", volume, node, pool=tpool)
        spec = {"type": "volume", "node": node, "pool": tpool, "name": volume}
        handle.add_cleanup(spec)  # before libvirt creates it: a process killed mid-copy leaves a record
        return spec

    def install_file(self, handle: TaskHandle, node: str, pool: str, volume: str, path: Path, fmt: str,
                     hashes: Hashes | None = None) -> tuple[VolumeView, dict[str, str]]:
        """Stream a file of the JVP server into a new volume of the template pool (libvirt upload stream).
        Returns the volume and its cleanup spec, which the caller drops once the metadata is saved."""
        tpool = self.ensure_template_pool(handle, node, pool)
        length = path.stat().st_size
        spec = self._new_volume(handle, node, tpool, volume, length)
        try:  # created raw: libvirt re-probes the format afterwards
            self.gateway.create_volume(node, tpool, volume, length, "raw", sparse=True)
        except JvpError as exc:
            if exc.code == "VolumeExists":
                handle.drop_cleanup(spec)
            raise
        low, high = INSTALL_PCT

        def blocks() -> Iterator[bytes]:  # the gateway's upload stream sends them; raising aborts it
            with open(path, "rb", buffering=0) as fh:
                done = 0
                while done < length:
                    block = fh.read(min(BLOCK, length - done))
                    if not block:
                        raise PreconditionFailed(f"{path} shrank while it was sent to the node",
                                                 code="SourceChanged")
                    if hashes is not None:
                        hashes.update(block)
                    yield block
                    done += len(block)
                    handle.progress(low + (high - low) * done / length, f"copying the image to node {node}",
                                    bytes_done=done, bytes_total=length)
        handle.restart_rate(0)  # a new phase: its bytes start again at 0, its ETA from its own rate
        handle.progress(low, f"copying the image to node {node} ({tpool}/{volume})", bytes_done=0,
                        bytes_total=length, force=True)
        self.gateway.upload_to_volume(node, tpool, volume, length, blocks())
        handle.progress(high, f"copied the image to node {node}", bytes_done=length, bytes_total=length, force=True)
        vol = self.gateway.settle_volume(node, tpool, volume, fmt)
        if vol.format != fmt:
            log.warning("template image %s/%s on %s: libvirt reads it as %s so far (checked %s with qemu-img)",
                        tpool, volume, node, vol.format, fmt)
        return vol, spec

    def copy_volume(self, handle: TaskHandle, node: str, pool: str, src_pool: str, src_volume: str,
                    volume: str) -> tuple[VolumeView, dict[str, str], str]:
        """A node-side copy of a volume into the template pool (libvirt; flattens a backing chain)."""
        src = self._copyable(node, src_pool, src_volume)
        tpool = self.ensure_template_pool(handle, node, pool)
        expected = src.allocation_bytes or src.capacity_bytes or 0
        spec = self._new_volume(handle, node, tpool, volume, expected)
        low, high = INSTALL_PCT
        handle.restart_rate(0)
        handle.progress(low, f"copying {src_pool}/{src_volume} to {tpool}/{volume}", bytes_done=0,
                        bytes_total=expected, force=True)

        def progress(done: int) -> None:
            handle.progress(low + (high - low) * done / expected if expected else None, bytes_done=done,
                            bytes_total=expected)
        vol = self.gateway.clone_volume(node, src_pool, src_volume, tpool, volume, src.capacity_bytes,
                                        src.format, sparse=True, expected_bytes=expected, progress=progress,
                                        action="copy")
        return vol, spec, src.format

    def save(self, handle: TaskHandle, node: str, name: str, doc: dict[str, Any],
             specs: list[dict[str, str]]) -> dict[str, Any]:
        if not self.store.create("template", node, name, doc=doc):
            raise already_exists("template", name, node, code="TemplateExists")
        for spec in [*specs, {"type": "template-pool", "node": node, "pool": doc["storage"]["pool"],
                              "task": handle.id}]:
            handle.drop_cleanup(spec)
        log.info("template %s registered on node %s (%s)", name, node, doc["storage"]["volume"])
        return self.catalog.describe_quietly(node, name, doc)

    @staticmethod
    def new_doc(node: str, pool: str, name: str, ttype: str, vol: VolumeView, fmt: str,
                size: int | None, virtual: int | None, source: dict[str, Any], meta: dict[str, Any]
                ) -> dict[str, Any]:
        now = rfc3339()
        os_ = {k: meta["os"].get(k) for k in ("name", "version", "arch", "kernel")}
        features = {k: meta["features"].get(k) for k in ("cloud_init", "virtio", "qemu_guest_agent")}
        return {"name": name, "uuid": str(uuid.uuid4()), "type": ttype, "node": node, "created_at": now,
                "updated_at": now,
                "storage": {"pool": pool, "template_pool": vol.pool, "volume": vol.name, "path": vol.path,
                            "format": fmt, "size": size, "virtual_size": virtual, "version": 1,
                            "mtime": vol.mtime},
                "os": os_, "source": {**source, "fetched_at": now}, "features": features,
                "usage": {"vm_count": 0, "last_used": None}, "tags": list(dict.fromkeys(meta["tags"])),
                "description": meta["description"], "previous": [], "update_check": None}
