"""Volumes through the node's libvirt connection only: listing, the one-pass map of which VMs use which
image, create, overlay, node-side clone, resize (live through the running VM when attached), delete.

"Who uses this image" is answered here once: `scan_domains` gives every domain's disks and boot files (live and
next-boot definitions, from the connection's reference index, hypervisor/ref_index.py), and `references`
joins it with the volumes' backing files and the node's resolution of paths into
jvp.domain.volume.References, which volumes, pools, VM attach/delete and templates all read.
`volume_references` does the same for one volume with only the VMs that can use it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable

import libvirt

from jvp.domain.volume import DiskUser, References, SkippedPool, VolumeLink, VolumeView
from jvp.domain.base import Problem
from jvp.domain.storage_pool import checked_figures
from jvp.hypervisor.errors import is_connection_error
from jvp.hypervisor.domain_refs import DomainRefs, canonicalizer
from jvp.hypervisor.ref_index import INDEX
from jvp.hypervisor.storage_pool import PoolUnavailable, lookup as pool_lookup
from jvp.hypervisor.storage_xml import read_volume
from jvp.hypervisor.xml import parse
from jvp.hypervisor.xml.storage import Volume

__all__ = ["PoolUnavailable", "canonicalizer"]  # re-exported: callers of the volume functions use them

CLONE_POLL_S = 0.5


def active_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool:
    """The running pool called `name`, or PoolUnavailable (missing or inactive)."""
    return pool_lookup(conn, name, active=True)


def lookup(conn: libvirt.virConnect, pool: str, name: str) -> libvirt.virStorageVol:
    return active_pool(conn, pool).storageVolLookupByName(name)


def view(vol: libvirt.virStorageVol, pool: str) -> VolumeView:
    v = read_volume(vol.XMLDesc(0), pool)
    figures, problems = checked_figures(f"volume '{v.name}' in pool '{pool}'", capacity_bytes=v.capacity_bytes,
                                        allocation_bytes=v.allocation_bytes, physical_bytes=v.physical_bytes)
    return replace(v, **figures, problems=problems) if problems else v


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
    """The pool's volumes. One libvirt fails to describe (its file vanished, unreadable) is listed by name
    with a problem; one deleted while we look is left out."""
    out = []
    name = pool.name()
    for vol in pool.listAllVolumes(0):
        try:
            out.append(view(vol, name))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:  # deleted while we looked
                continue
            if is_connection_error(exc):
                raise
            out.append(VolumeView(name=vol.name(), pool=name, path=None, problems=[Problem(
                code="VolumeUnreadable",
                message=f"volume '{vol.name()}' in pool '{name}' could not be read: "
                        f"{exc.get_error_message() or exc}")]))
    return sorted(out, key=lambda v: v.name)


def list_pools(conn: libvirt.virConnect, names: list[str] | None
               ) -> tuple[list[VolumeView], list[SkippedPool]]:
    """Volumes of the named pools (all pools when None) and the pools that could not be read: inactive
    ones, and ones libvirt fails to list (a pool whose refresh failed); neither empties the listing."""
    pools = [active_pool(conn, n) for n in names] if names is not None else conn.listAllStoragePools(0)
    volumes: list[VolumeView] = []
    skipped: list[SkippedPool] = []
    for pool in pools:
        try:
            if not pool.isActive():
                skipped.append(SkippedPool(pool=pool.name(), code="StoragePoolInactive",
                                           message=f"storage pool '{pool.name()}' is inactive: its volumes are "
                                                   "unknown until `start-storage-pool`"))
                continue
            volumes += list_pool(pool)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:  # undefined while we looked
                continue
            if is_connection_error(exc, conn) or names is not None:
                raise  # the node, not the pool; or the one pool the caller asked for: its own error
            skipped.append(SkippedPool(pool=pool.name(), code="StoragePoolUnreadable",
                                       message=f"storage pool '{pool.name()}': its volumes could not be listed "
                                               f"({exc.get_error_message() or exc})"))
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


DomainDisks = DomainRefs  # one domain as the usage scan sees it (its name, running, disks)


def scan_domains(conn: libvirt.virConnect) -> list[DomainRefs]:
    """Every domain with each image it opens (path or pool+volume, the backing chain libvirt shows), from the
    live and the next-boot definitions of a running persistent VM, so a disk attached to either counts. From
    the connection's reference index (hypervisor/ref_index.py): only domains changed since the last read
    are read again."""
    return INDEX.domains(conn)


def disk_users(conn: libvirt.virConnect, domains: list[DomainRefs] | None = None) -> list[DiskUser]:
    """Every image of every VM (scan_domains, flattened: disks and boot files), each with its VM."""
    return [DiskUser(vm=dom.name, running=dom.running, disk=d)
            for dom in (scan_domains(conn) if domains is None else domains) for d in dom.disks]


def links(vols: list[VolumeView]) -> list[VolumeLink]:
    return [VolumeLink(pool=v.pool, name=v.name, path=v.path, backing=v.backing.path if v.backing else None)
            for v in vols]


def references(conn: libvirt.virConnect, vols: list[VolumeView] | None = None, *,
               domains: list[DomainDisks] | None = None) -> References:
    """The node's References (jvp.domain.volume): every VM's images from the one domain scan, the volumes
    of the running pools (`vols` when the caller listed them already) for the chains they continue, and each
    path as the node resolves it."""
    if vols is None:
        # the links alone (name, path, backing of each volume), as list_pools would order them (pools in
        # libvirt's order, each pool's volumes by name), without building every volume's and pool's view:
        # create-vm's checks scan the node with this (a volume without a path plays no part in References)
        found = volume_links(conn)
        order = {pool: i for i, pool in enumerate(dict.fromkeys(v.pool for v in found))}
        return _references(conn, disk_users(conn, domains), sorted(found, key=lambda v: (order[v.pool], v.name)))
    return _references(conn, disk_users(conn, domains), links(vols))


def _references(conn: libvirt.virConnect, users: list[DiskUser], vlinks: list[VolumeLink]) -> References:
    canon = canonicalizer(conn)
    paths = {p for u in users for p in (u.disk.path, *u.disk.backing_paths) if p}
    paths |= {p for v in vlinks for p in (v.path, v.backing) if p}
    return References(users_=users, volumes=vlinks, canonical={p: canon(p) for p in paths})


def volume_links(conn: libvirt.virConnect) -> list[VolumeLink]:
    """What the chains need of every volume of the running pools (name, path, backing file), read without
    building their views; the same volumes `list_pools(conn, None)` lists."""
    out: list[VolumeLink] = []
    for pool in conn.listAllStoragePools(0):
        try:
            if not pool.isActive():
                continue
            name = pool.name()
            for vol in pool.listAllVolumes(0):
                try:
                    v = Volume(parse(vol.XMLDesc(0)))
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL or not is_connection_error(exc):
                        continue  # deleted while we looked, or unreadable: listed without a path
                    raise
                out.append(VolumeLink(pool=name, name=v.name, path=v.path, backing=v.backing_path))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL or not is_connection_error(exc, conn):
                continue  # undefined while we looked, or its volumes cannot be listed: skipped
            raise
    return out


def volume_references(conn: libvirt.virConnect, pool: str, name: str) -> tuple[VolumeView, References]:
    """One volume and the References that answer who uses it, read from the index for the VMs that can:
    those naming it or a volume whose backing chain reaches it (the other VMs cannot change its answer).
    The volumes' backing files are read too, as they continue the chains (libvirt has no volume events)."""
    vol = describe(conn, pool, name)
    vlinks = volume_links(conn)
    chains = _references(conn, [], vlinks)
    above = chains.dependents([vol.path])
    doms = INDEX.using_images(conn, [vol.path, *(v.path for v in above)],
                              [(pool, name), *((v.pool, v.name) for v in above)])
    return vol, _references(conn, disk_users(conn, doms), vlinks)


def direct_users(conn: libvirt.virConnect, pool: str, name: str, path: str | None) -> list[DiskUser]:
    """The VMs that open the volume (pool, name) at `path` itself: a disk, cdrom or boot file naming its path
    (as the node resolves it) or, `type='volume'`, its pool and name; not those that have it under a chain.
    Read from the index for those VMs only (INDEX.using_images), without the volumes of every pool, which only
    the chains need (`references` reads them): what a linked clone's check asks (its base must not be written
    by a VM), at the cost of the VMs that name the volume. Not looked for: a `type='volume'` disk naming the
    same file through another pool (libvirt refuses a second dir pool on the same directory)."""
    doms = INDEX.using_images(conn, [path] if path else [], [(pool, name)])
    if not doms:
        return []
    refs = _references(conn, disk_users(conn, doms), [VolumeLink(pool=pool, name=name, path=path)])
    return [u for u in refs.users(pool, name, path) if not u.backing]


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

