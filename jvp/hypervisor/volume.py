"""Volumes through the node's libvirt connection only: listing, the one-pass map of which VMs use which
image, create, overlay, node-side clone, resize (live through the running VM when attached), delete."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import libvirt

from jvp.hypervisor.storage_xml import domain_disks, read_volume

CLONE_POLL_S = 0.5


class PoolUnavailable(Exception):
    """The pool a volume call names is missing or inactive: the service says which, on which node."""

    def __init__(self, pool: str, reason: str):
        super().__init__(f"storage pool '{pool}' is {reason}")
        self.pool = pool
        self.reason = reason  # "missing" | "inactive"


def active_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool:
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise PoolUnavailable(name, "missing") from exc
        raise
    if not pool.isActive():
        raise PoolUnavailable(name, "inactive")
    return pool


def lookup(conn: libvirt.virConnect, pool: str, name: str) -> libvirt.virStorageVol:
    return active_pool(conn, pool).storageVolLookupByName(name)


def view(vol: libvirt.virStorageVol, pool: str) -> dict[str, Any]:
    return {**read_volume(vol.XMLDesc(0)), "pool": pool}


def describe(conn: libvirt.virConnect, pool: str, name: str) -> dict[str, Any]:
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
           timeout_s: float = 30.0) -> dict[str, Any]:
    """The volume as libvirt sees it once it has re-read an uploaded image. libvirt re-probes the file in a
    background refresh of the pool after the stream closes; we refresh too, until the format shows or the
    time is up (a pool with other transfers running refuses refreshes until they end)."""
    deadline = time.monotonic() + timeout_s
    while True:
        vol = describe(conn, pool, name)
        if expected_format is None or vol["format"] == expected_format or time.monotonic() >= deadline:
            return vol
        refresh_quietly(conn, pool)
        time.sleep(0.25)


def list_pool(pool: libvirt.virStoragePool) -> list[dict[str, Any]]:
    out = []
    name = pool.name()
    for vol in pool.listAllVolumes(0):
        try:
            out.append(view(vol, name))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:  # deleted while we looked
                raise
    return sorted(out, key=lambda v: v["name"])


def list_pools(conn: libvirt.virConnect, names: list[str] | None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes of the named pools (all pools when None) and the pools that could not be read."""
    pools = [active_pool(conn, n) for n in names] if names is not None else conn.listAllStoragePools(0)
    volumes: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for pool in pools:
        if not pool.isActive():
            skipped.append({"pool": pool.name(), "code": "StoragePoolInactive",
                            "message": f"storage pool '{pool.name()}' is inactive: its volumes are unknown "
                                       "until `start-storage-pool`"})
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


def disk_users(conn: libvirt.virConnect) -> list[dict[str, Any]]:
    """One pass over every domain's XML: each disk of each VM with its image path (or pool+volume) and the
    backing chain under it. A running persistent VM is read twice (live and next-boot config), so a disk
    attached to either counts."""
    users = []
    for dom in conn.listAllDomains(0):
        try:
            running = bool(dom.isActive())
            xmls = [dom.XMLDesc(0)]
            if running and dom.isPersistent():
                xmls.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            name = dom.name()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:  # undefined while we looked
                continue
            raise
        seen = set()
        for live, xml in zip((True, False), xmls):
            for disk in domain_disks(xml):
                key = (disk["target"], disk["path"], disk["pool"], disk["volume"])
                if key in seen:
                    continue
                seen.add(key)
                users.append({**disk, "vm": name, "running": running, "live": live and running})
    return users


def create(conn: libvirt.virConnect, pool: str, xml: str) -> dict[str, Any]:
    vol = active_pool(conn, pool).createXML(xml, 0)
    return view(vol, pool)


def clone(conn: libvirt.virConnect, src_pool: str, src_name: str, pool: str, new_name: str, xml: str,
          expected_bytes: int, progress: Callable[[int], None]) -> dict[str, Any]:
    """A node-side copy (virStorageVolCreateXMLFrom: libvirt copies on the node, no data crosses the
    connection). libvirt reports no progress for it, so a second thread of ours polls the new volume's
    allocation (bytes really written on the node) while the copy runs; progress(bytes) receives it.

    libvirt cannot abort the copy, and refuses to delete a volume it is still writing. So when progress()
    raises (the task was cancelled), we stop reporting, wait for the copy to end, then re-raise: the
    caller's cleanup can then really remove the volume."""
    src = lookup(conn, src_pool, src_name)
    target = active_pool(conn, pool)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["vol"] = target.createXMLFrom(xml, src, 0)
        except libvirt.libvirtError as exc:
            result["error"] = exc

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
    if "error" in result:
        raise result["error"]
    return view(result["vol"], pool)


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

