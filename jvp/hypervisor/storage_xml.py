"""Storage XML with lxml: pool and volume definitions built from validated specs, and read back.

Builders take specs the service layer has already validated (paths normalized, required source fields
present); they only shape XML. Readers turn libvirt's XML into views (jvp/domain), leaving unknown elements
alone; a pool's view is read in storage_pool.view (it needs the pool's runtime state too).
"""
from __future__ import annotations

from lxml import etree

from jvp.domain.storage_pool import PoolAuthSpec, PoolSpec
from jvp.domain.volume import BOOT_FILES, BackingView, VmDisk, VolumeView
from jvp.hypervisor.xml import parse, to_string
from jvp.hypervisor.xml.domain import Domain, DiskSource
from jvp.hypervisor.xml.storage import Pool, PoolDevice, PoolHost, PoolSource, Volume

QCOW2_COMPAT = "1.1"  # the qcow2 version JVP creates (see build_volume_xml)
# Where libvirt expects a pool's target when the type has a natural one (the admin may not care).
DEFAULT_TARGETS = {"disk": "/dev", "iscsi": "/dev/disk/by-path"}


def _source_auth(source: PoolSource, auth: PoolAuthSpec, default_type: str) -> None:
    source.auth_type, source.auth_username = auth.type or default_type, auth.username
    source.secret.make()
    source.secret_uuid, source.secret_usage = auth.secret_uuid, auth.secret_usage


def build_pool(spec: PoolSpec) -> etree._Element:
    """<pool type=...> for dir, fs, netfs, logical, disk, iscsi and rbd from a validated spec."""
    ptype = spec.type
    src = spec.source
    pool = Pool.new(type=ptype, name=spec.name)
    if ptype != "dir":
        source = pool.source
        source.make()
        if ptype in ("netfs", "iscsi"):
            source.hosts.add(PoolHost.new(name=src.host, port=src.port))
        if ptype == "rbd":
            for host in src.hosts:
                source.hosts.add(PoolHost.new(name=host.name, port=host.port))
        if ptype == "netfs":
            source.dir = src.dir
        if ptype in ("fs", "disk"):
            source.devices.add(PoolDevice.new(path=src.device))
        if ptype == "logical":
            for dev in src.devices:
                source.devices.add(PoolDevice.new(path=dev))
        if ptype == "iscsi":
            source.devices.add(PoolDevice.new(path=src.iqn))
            source.initiator_iqn = src.initiator_iqn or None
        if ptype in ("logical", "rbd"):
            source.name = src.name or spec.name
        source.format = src.format or {"logical": "lvm2"}.get(ptype)
        if src.auth:
            _source_auth(source, src.auth, "ceph" if ptype == "rbd" else "chap")
    path = spec.path or DEFAULT_TARGETS.get(ptype)
    if ptype == "logical" and not path:
        path = f"/dev/{src.name or spec.name}"
    if path and ptype != "rbd":  # rbd images have no local path
        pool.path = path
    return pool.el


def build_pool_xml(spec: PoolSpec) -> str:
    return to_string(build_pool(spec))


def build_volume_xml(name: str, capacity_bytes: int, fmt: str | None, *, sparse: bool = True,
                     backing: dict[str, str] | None = None) -> str:
    """A volume definition. `fmt` None for block pools (an LV or a partition has no image format);
    `sparse` gives allocation 0 (a file costs nothing until written); `backing` {path, format} makes the
    volume a qcow2 overlay of it."""
    vol = Volume.new(name=name, capacity_bytes=capacity_bytes, allocation_bytes=0 if sparse else capacity_bytes,
                     format=fmt or None)
    if fmt == "qcow2":
        # qcow2 v3 (compat 1.1, QEMU >= 1.1): libvirt's storage backend makes v2 (0.10) when not told, which
        # lacks zero clusters, lazy refcounts and extended features; qemu-img itself defaults to 1.1
        vol.compat = QCOW2_COMPAT
    if backing:
        vol.backing_path, vol.backing_format = backing["path"], backing["format"]
    return to_string(vol.el)


def read_volume(xml: str, pool: str) -> VolumeView:
    """A volume's view from libvirt's XML (what libvirt tells: no usage, no node)."""
    vol = Volume(parse(xml))
    return VolumeView(name=vol.name, pool=pool, key=vol.key, type=vol.type, path=vol.path, format=vol.format,
                      capacity_bytes=vol.capacity_bytes, allocation_bytes=vol.allocation_bytes,
                      physical_bytes=vol.physical_bytes, mtime=vol.mtime,
                      backing=BackingView(vol.backing_path, vol.backing_format) if vol.backing_path else None)


def _source_path(source: DiskSource | None) -> str | None:
    """The image a disk source opens: a file, device or directory; a network source's name (an rbd pool
    lists its images by that `pool/image` path)."""
    if source is None or not source.exists():
        return None
    return source.file or source.dev or source.dir or (source.name if source.protocol else None)


def domain_disks(xml: str) -> list[VmDisk]:
    """disks_of a domain's XML text."""
    return disks_of(parse(xml))


def disks_of(root: etree._Element, live: bool = False) -> list[VmDisk]:
    """Every image a domain opens: each disk with its target, the image it opens (path, or pool+volume for
    `type='volume'` disks) and the images under it (its backing chain, as far as libvirt shows it); then the
    files its <os> names (kernel, initrd, dtb, loader, NVRAM: `device` says which, no target). `live`: what
    each VmDisk says (the running definition has it)."""
    # Plain lxml over the elements the mapping classes name (Domain.disks `./devices/disk`, Disk.source,
    # Disk.target `./target/@dev`, Disk.device with its default, DiskSource's attributes): this runs for every
    # definition the reference index maps (1,000 domains and their next-boot XML in a first build), where the
    # descriptors' per-field cost was most of the mapping. tests/unit/test_storage_xml.py holds it to the
    # mapping classes' answers.
    out = []
    for devices in root.iterchildren("devices"):
        for disk in devices.iterchildren("disk"):
            source = next(disk.iterchildren("source"), None)
            target = next(disk.iterchildren("target"), None)
            chain = [p for p in (_source_el_path(bs.find("source")) for bs in disk.iter("backingStore")) if p]
            out.append(VmDisk(target=target.get("dev") if target is not None else None,
                              device=disk.get("device", "disk"), path=_source_el_path(source),
                              pool=source.get("pool") if source is not None else None,
                              volume=source.get("volume") if source is not None else None,
                              backing_paths=tuple(chain), live=live))
    os_el = next(root.iterchildren("os"), None)
    if os_el is not None:
        named = {child.tag for child in os_el}  # read only the boot files the domain has
        if not named.isdisjoint(BOOT_FILES):
            os_ = Domain(root).os
            for role in BOOT_FILES:
                if role not in named:
                    continue
                path = (getattr(os_, "nvram_file" if role == "nvram" else role) or "").strip()
                if path.startswith("/"):
                    out.append(VmDisk(target=None, device=role, path=path, pool=None, volume=None, live=live))
    return out


def _source_el_path(source: etree._Element | None) -> str | None:
    """_source_path of a disk's <source> element."""
    if source is None:
        return None
    return source.get("file") or source.get("dev") or source.get("dir") or \
        (source.get("name") if source.get("protocol") else None)
