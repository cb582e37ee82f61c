"""Volumes through the node's libvirt connection only: listing, the one-pass map of which VMs use which
image, create, overlay, node-side clone, resize (live through the running VM when attached), delete.

"Who uses this image" is answered here once: `scan_domains` reads every domain's disks in one pass (live and
next-boot definitions), and `disk_users` (volumes, pools), vm_volumes.disk_users (VM attach/delete) and
template_usage.scan (templates) are views of that one scan.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import libvirt
from lxml import etree

from jvp.domain.volume import DiskUser, SkippedPool, VmDisk, VolumeView
from jvp.hypervisor.domain_cache import domain_docs
from jvp.hypervisor.storage_pool import PoolUnavailable, lookup as pool_lookup
from jvp.hypervisor.storage_xml import domain_disks, read_volume
from jvp.hypervisor.xml import to_string

__all__ = ["PoolUnavailable"]  # re-exported: callers of the volume functions catch it from here

CLONE_POLL_S = 0.5


def active_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool:
    """The running pool called `name`, or PoolUnavailable (missing or inactive)."""
    return pool_lookup(conn, name, active=True)


def lookup(conn: libvirt.virConnect, pool: str, name: str) -> libvirt.virStorageVol:
    return active_pool(conn, pool).storageVolLookupByName(name)


def view(vol: libvirt.virStorageVol, pool: str) -> VolumeView:
    return read_volume(vol.XMLDesc(0), pool)


def describe(conn: libvirt.virConnect, pool: str, name: str) -> VolumeView:
    return view(lookup(conn, pool, name), pool)


def exists(conn: libvirt.virConnect, pool: str, name: str) -> bool:
    try:
        lookup(conn, pool, name)
        return True
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return False
        raise


def refresh_quietly(conn: libvirt.virConnect, pool: str) -> None:
    """Re-read a pool's free space before a size check; a refresh that libvirt refuses (another transfer
    still running in the pool) leaves the last known figures, which is good enough for the check."""
    try:
        active_pool(conn, pool).refresh(0)
    except libvirt.libvirtError:
        pass


def settle(conn: libvirt.virConnect, pool: str, name: str, expected_format: str | None,
           timeout_s: float = 30.0) -> VolumeView:
    """The volume as libvirt sees it once it has re-read an uploaded image. libvirt re-probes the file in a
    background refresh of the pool after the stream closes; we refresh too, until the format shows or the
    time is up (a pool with other transfers running refuses refreshes until they end)."""
    deadline = time.monotonic() + timeout_s
    while True:
        vol = describe(conn, pool, name)
        if expected_format is None or vol.format == expected_format or time.monotonic() >= deadline:
            return vol
        refresh_quietly(conn, pool)
        time.sleep(0.25)


def list_pool(pool: libvirt.virStoragePool) -> list[VolumeView]:
    out = []
    name = pool.name()
    for vol in pool.listAllVolumes(0):
        try:
            out.append(view(vol, name))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:  # deleted while we looked
                raise
    return sorted(out, key=lambda v: v.name)


def list_pools(conn: libvirt.virConnect, names: list[str] | None
               ) -> tuple[list[VolumeView], list[SkippedPool]]:
    """Volumes of the named pools (all pools when None) and the pools that could not be read."""
    pools = [active_pool(conn, n) for n in names] if names is not None else conn.listAllStoragePools(0)
    volumes: list[VolumeView] = []
    skipped: list[SkippedPool] = []
    for pool in pools:
        if not pool.isActive():
            skipped.append(SkippedPool(pool=pool.name(), code="StoragePoolInactive",
                                       message=f"storage pool '{pool.name()}' is inactive: its volumes are "
                                               "unknown until `start-storage-pool`"))
            continue
        volumes += list_pool(pool)
    return volumes, skipped


def at_path(conn: libvirt.virConnect, path: str) -> tuple[str, str] | None:
    """(pool, volume) of the volume at a path on the node, or None when no active pool holds it."""
    try:
        vol = conn.storageVolLookupByPath(path)
        return vol.storagePoolLookupByVolume().name(), vol.name()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL):
            return None
        raise


@dataclass
class DomainDisks:
    """One domain as the usage scan sees it: its definitions (live first) and every disk of them, each once,
    with `live` true when the running definition has it."""
    name: str
    running: bool
    docs: list[etree._Element] = field(default_factory=list)
    disks: list[VmDisk] = field(default_factory=list)


def scan_domains(conn: libvirt.virConnect) -> list[DomainDisks]:
    """One pass over every domain's XML: each disk of each VM with its image path (or pool+volume) and the
    backing chain under it. A running persistent VM is read twice (live and next-boot config), so a disk
    attached to either counts. Domains undefined while we look are skipped."""
    out = []
    for dom in conn.listAllDomains(0):
        try:
            docs = domain_docs(dom)
            running = bool(docs) and bool(dom.isActive())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:  # undefined while we looked
                continue
            raise
        if not docs:
            continue
        entry = DomainDisks(name=docs[0].findtext("name"), running=running, docs=docs)
        seen = set()
        for live, root in zip((True, False), docs):
            for disk in domain_disks(to_string(root)):
                key = (disk.target, disk.path, disk.pool, disk.volume)
                if key in seen:
                    continue
                seen.add(key)
                entry.disks.append(replace(disk, live=live and running))
        out.append(entry)
    return out


def disk_users(conn: libvirt.virConnect) -> list[DiskUser]:
    """Every disk of every VM (scan_domains, flattened), each with its VM."""
    return [DiskUser(vm=dom.name, running=dom.running, disk=d) for dom in scan_domains(conn) for d in dom.disks]


def create(conn: libvirt.virConnect, pool: str, xml: str) -> VolumeView:
    vol = active_pool(conn, pool).createXML(xml, 0)
    return view(vol, pool)


def clone(conn: libvirt.virConnect, src_pool: str, src_name: str, pool: str, new_name: str, xml: str,
          expected_bytes: int, progress: Callable[[int], None]) -> VolumeView:
    """A node-side copy (virStorageVolCreateXMLFrom: libvirt copies on the node, no data crosses the
    connection). libvirt reports no progress for it, so a second thread of ours polls the new volume's
    allocation (bytes really written on the node) while the copy runs; progress(bytes) receives it.

    libvirt cannot abort the copy, and refuses to delete a volume it is still writing. So when progress()
    raises (the task was cancelled), we stop reporting, wait for the copy to end, then re-raise: the
    caller's cleanup can then really remove the volume."""
    src = lookup(conn, src_pool, src_name)
    target = active_pool(conn, pool)
    made: list[libvirt.virStorageVol] = []
    failed: list[libvirt.libvirtError] = []

    def run() -> None:
        try:
            made.append(target.createXMLFrom(xml, src, 0))
        except libvirt.libvirtError as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name=f"clone-{new_name}", daemon=True)
    worker.start()
    stopped: BaseException | None = None
    while worker.is_alive():
        worker.join(CLONE_POLL_S)
        if stopped is not None or not worker.is_alive():
            continue
        try:
            written = target.storageVolLookupByName(new_name).info()[2]
        except libvirt.libvirtError:
            continue  # not created yet, or gone: nothing to report this round
        try:
            progress(min(written, expected_bytes))
        except BaseException as exc:  # noqa: BLE001 - re-raised once libvirt has finished the copy
            stopped = exc
    if stopped is not None:
        raise stopped
    if failed:
        raise failed[0]
    return view(made[0], pool)


def resize(conn: libvirt.virConnect, pool: str, name: str, capacity_bytes: int) -> None:
    """Grow an image nobody runs (qemu-img resize / truncate on the node, thin)."""
    lookup(conn, pool, name).resize(capacity_bytes, 0)


def block_resize(conn: libvirt.virConnect, vm: str, target: str, capacity_bytes: int) -> None:
    """Grow a disk through the running QEMU (block_resize): the guest sees the new size at once."""
    conn.lookupByName(vm).blockResize(target, capacity_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)


def guest_capacity(conn: libvirt.virConnect, vm: str, target: str) -> int:
    """The disk's capacity as the running QEMU reports it (virDomainGetBlockInfo)."""
    return conn.lookupByName(vm).blockInfo(target, 0)[0]


def delete(conn: libvirt.virConnect, pool: str, name: str) -> str:
    """'deleted', 'absent' (already gone), or 'busy' (libvirt still writing it, or a transfer has it open)."""
    try:
        vol = lookup(conn, pool, name)
    except PoolUnavailable as exc:
        if exc.reason == "missing":
            return "absent"
        return "busy"  # an inactive pool: its volume can be removed once the pool runs again
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return "absent"
        raise
    try:
        vol.delete(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return "absent"
        if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID:
            return "busy"
        raise
    return "deleted"

