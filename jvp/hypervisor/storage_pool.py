"""Storage pools through the node's libvirt connection only (remote nodes work the same way).

`lookup` is the one way to find a pool by name (volume.py, vm_volumes.py and the gateway all use it): plain,
or with `active=True` for callers that need a running pool, where a missing or inactive pool is a
PoolUnavailable that the gateway turns into 404 StoragePoolNotFound / 422 StoragePoolInactive.
"""
from __future__ import annotations

import errno

import libvirt

from jvp.domain.base import Problem
from jvp.domain.storage_pool import PoolSourceView, PoolView, checked_figures
from jvp.hypervisor import support
from jvp.hypervisor.errors import is_connection_error, libvirt_details
from jvp.hypervisor.listing import CHANGED, GONE, views_of
from jvp.hypervisor.xml import parse
from jvp.hypervisor.xml.storage import Pool, PoolSource

STATES = {
    libvirt.VIR_STORAGE_POOL_INACTIVE: "inactive",
    libvirt.VIR_STORAGE_POOL_BUILDING: "building",
    libvirt.VIR_STORAGE_POOL_RUNNING: "running",
    libvirt.VIR_STORAGE_POOL_DEGRADED: "degraded",
    libvirt.VIR_STORAGE_POOL_INACCESSIBLE: "inaccessible",
}
# Build flags: dir/netfs only create the target directory; fs, logical and disk write to a device, which
# JVP only ever does with NO_OVERWRITE (libvirt refuses when it finds a filesystem, VG or label there).
BUILD_FLAGS = {"dir": 0, "netfs": 0, "fs": libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE,
               "logical": libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE,
               "disk": libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE}


class PathNotDirectory(Exception):
    """The pool's target path exists on the node but is not a directory (libvirt: ENOTDIR)."""

    def __init__(self, exc: libvirt.libvirtError):
        super().__init__(exc.get_error_message())
        self.details = libvirt_details(exc)


class BuildUnsupported(Exception):
    """The driver refuses the safe build (NO_OVERWRITE) of a pool that writes to a device (support table:
    pool_build_no_overwrite); the definition was removed and nothing was written."""

    def __init__(self, exc: libvirt.libvirtError):
        super().__init__(exc.get_error_message())
        self.details = libvirt_details(exc)


class PoolDefinedMeanwhile(Exception):
    """Defining the pool failed because a pool of that name appeared since the caller looked (a concurrent
    define by another request, another controller or virsh)."""

    def __init__(self, exc: libvirt.libvirtError):
        super().__init__(exc.get_error_message())
        self.details = libvirt_details(exc)


def is_not_a_directory(exc: libvirt.libvirtError) -> bool:
    """libvirt failed on the node with ENOTDIR (the pool path, or one of its parents, is a file).

    Locale-independent: libvirt reports a failed system call as VIR_ERR_SYSTEM_ERROR with the errno in
    the error's int1 field, which travels over remote connections too; the message text is localized on
    the node and is not looked at. (ENOTDIR is 20 on every platform libvirtd runs on.)"""
    err = exc.err or ()
    return exc.get_error_code() == libvirt.VIR_ERR_SYSTEM_ERROR and len(err) > 7 and err[7] == errno.ENOTDIR


class PoolUnavailable(Exception):
    """The pool a call names is missing or inactive: the gateway says which, on which node."""

    def __init__(self, pool: str, reason: str):
        super().__init__(f"storage pool '{pool}' is {reason}")
        self.pool = pool
        self.reason = reason  # "missing" | "inactive"


def lookup(conn: libvirt.virConnect, name: str, *, active: bool = False) -> libvirt.virStoragePool:
    """The pool called `name`. Plain, a missing pool is libvirt's error (mapped to StoragePoolNotFound with
    libvirt's text); with `active`, a missing or inactive pool raises PoolUnavailable."""
    if not active:
        return conn.storagePoolLookupByName(name)
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise PoolUnavailable(name, "missing") from exc
        raise
    if not pool.isActive():
        raise PoolUnavailable(name, "inactive")
    return pool


def source_view(src: PoolSource, ptype: str | None) -> PoolSourceView | None:
    """A pool's <source> (None when it has none or an empty one), with its fields as JVP names them."""
    if not src.exists() or not len(src.el):
        return None
    # `name[:port]`, an IPv6 address in brackets when a port follows (the form create-storage-pool takes)
    hosts = [(f"[{h.name}]" if h.port and ":" in (h.name or "") else h.name) + (f":{h.port}" if h.port else "")
             for h in src.hosts]
    devices = [d.path for d in src.devices]
    return PoolSourceView(
        host=src.hosts[0].name if hosts else None, hosts=hosts, port=src.port, dir=src.dir,
        device=devices[0] if devices else None, devices=devices, name=src.name, format=src.format,
        iqn=devices[0] if ptype == "iscsi" and devices else None, initiator_iqn=src.initiator_iqn,
        auth=None if not src.auth.exists() else {
            "type": src.auth_type, "username": src.auth_username,
            "secret_uuid": src.secret_uuid, "secret_usage": src.secret_usage})


def view(pool: libvirt.virStoragePool) -> PoolView:
    """SPEC 2.2's fields. Sizes and the volume count of an inactive pool are unknown: null, not stale; so is
    a size libvirt reports wrapped (checked_figures: a problem on the row says so)."""
    info = pool.info()  # [state, capacity, allocation, available]
    active = bool(pool.isActive())
    doc = Pool(parse(pool.XMLDesc(0)))
    figures, problems = checked_figures(f"storage pool '{doc.name}'", capacity_bytes=info[1], allocation_bytes=info[2],
                                        available_bytes=info[3]) if active else ({}, [])
    return PoolView(name=doc.name, type=doc.type, uuid=doc.uuid, path=doc.path,
                    state=STATES.get(info[0], "unknown"), active=active, autostart=bool(pool.autostart()),
                    persistent=bool(pool.isPersistent()),
                    capacity_bytes=figures.get("capacity_bytes"), allocation_bytes=figures.get("allocation_bytes"),
                    available_bytes=figures.get("available_bytes"),
                    volume_count=pool.numOfVolumes() if active else None,
                    source=source_view(doc.source, doc.type), problems=problems)


def unreadable(pool: libvirt.virStoragePool, exc: libvirt.libvirtError) -> PoolView:
    """The row of a pool libvirt fails to describe (its XML or figures cannot be read): the name, and a
    problem with libvirt's text; the listing goes on."""
    name = pool.name()
    try:
        uuid = pool.UUIDString()
    except libvirt.libvirtError:
        uuid = ""
    return PoolView(name=name, type="unknown", uuid=uuid, path=None, state="unknown", active=False,
                    autostart=False, persistent=False, problems=[Problem(
                        code="StoragePoolUnreadable",
                        message=f"storage pool '{name}' could not be read: {exc.get_error_message() or exc}")])


def tolerant_view(conn: libvirt.virConnect, pool: libvirt.virStoragePool) -> PoolView:
    """The pool's view, or for a pool libvirt fails to describe its row with a problem (unreadable)."""
    try:
        return view(pool)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in GONE or exc.get_error_code() in CHANGED or is_connection_error(exc, conn):
            raise  # views_of skips a vanished pool and reads a changed one again; the node's error is its own
        return unreadable(pool, exc)


def list_all(conn: libvirt.virConnect) -> list[PoolView]:
    """Every pool; one that libvirt fails to describe is listed with a problem instead of failing the list."""
    return sorted(views_of(conn.listAllStoragePools(0), lambda p: tolerant_view(conn, p)), key=lambda p: p.name)


def describe(conn: libvirt.virConnect, name: str) -> PoolView:
    """One pool, described as the listing shows it (a pool listed with a problem describes with it)."""
    return tolerant_view(conn, lookup(conn, name))


def _undo(pool: libvirt.virStoragePool) -> None:
    """Roll back a half-made pool: stop it and forget its definition (never deletes data)."""
    for step in (pool.destroy, pool.undefine):
        try:
            step()
        except libvirt.libvirtError:
            pass


def _defined(conn: libvirt.virConnect, name: str) -> bool:
    try:
        lookup(conn, name)
        return True
    except libvirt.libvirtError:
        return False


def create(conn: libvirt.virConnect, xml: str, *, build: bool, ptype: str, autostart: bool,
           name: str | None = None) -> PoolView:
    """Define, build (when asked), start and set autostart; on any failure the definition is removed.
    A define refused because a pool called `name` exists by now raises PoolDefinedMeanwhile (nothing of
    ours was made, and the other pool is left alone)."""
    try:
        pool = conn.storagePoolDefineXML(xml, 0)
    except libvirt.libvirtError as exc:
        if name and _defined(conn, name):
            raise PoolDefinedMeanwhile(exc) from exc
        raise
    try:
        if build:
            try:
                pool.build(BUILD_FLAGS[ptype])
            except libvirt.libvirtError as exc:
                if BUILD_FLAGS[ptype] and support.lacks("pool_build_no_overwrite", exc):
                    raise BuildUnsupported(exc) from exc  # never retried without the flag: it may overwrite
                raise
        pool.create(0)
        pool.setAutostart(1 if autostart else 0)
        return view(pool)
    except BuildUnsupported:
        _undo(pool)
        raise
    except libvirt.libvirtError as exc:
        _undo(pool)
        if is_not_a_directory(exc):
            raise PathNotDirectory(exc) from exc
        raise


def start(conn: libvirt.virConnect, name: str) -> PoolView:
    pool = lookup(conn, name)
    if not pool.isActive():
        try:
            pool.create(0)
        except libvirt.libvirtError as exc:
            if is_not_a_directory(exc):
                raise PathNotDirectory(exc) from exc
            raise
    return view(pool)


def stop(conn: libvirt.virConnect, name: str) -> PoolView | None:
    pool = lookup(conn, name)
    persistent = pool.isPersistent()
    if pool.isActive():
        pool.destroy()
    return view(pool) if persistent else None  # a transient pool is gone once stopped


def refresh(conn: libvirt.virConnect, name: str) -> PoolView:
    pool = lookup(conn, name)
    pool.refresh(0)
    return view(pool)


def set_autostart(conn: libvirt.virConnect, name: str, on: bool) -> PoolView:
    pool = lookup(conn, name)
    pool.setAutostart(1 if on else 0)
    return view(pool)


def delete(conn: libvirt.virConnect, name: str, *, remove_directory: bool) -> bool | None:
    """Stop and undefine a pool. With remove_directory (dir pools) the then-empty directory goes too;
    libvirt's rmdir refuses a directory that still holds anything, so no file is ever lost here.
    Returns whether the directory was removed (None when not asked)."""
    pool = lookup(conn, name)
    persistent = pool.isPersistent()
    if pool.isActive():
        pool.destroy()
    if not persistent:
        return None
    removed: bool | None = None
    if remove_directory:
        try:
            pool.delete(0)
            removed = True
        except libvirt.libvirtError:
            removed = False
    pool.undefine()
    return removed
