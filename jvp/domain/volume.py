"""Volumes (SPEC 2.3): response schemas. The naming rules shared with pools live in entity/storage_pool."""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from typing import Iterable

from marshmallow import fields

from jvp.domain.base import PROBLEMS_DOC, ListErrorSchema, Problem, ResponseSchema, answer_schema, shown
from jvp.domain.storage_pool import is_internal_volume


# -- views (built by jvp/hypervisor/volume.py from the volume mapping, dumped by VolumeSchema) -------------
@dataclass(frozen=True)
class BackingView:
    """The image under a qcow2 overlay; `pool`/`volume` name it when a pool of the node holds it (the
    service resolves them)."""
    path: str
    format: str | None
    pool: str | None = None
    volume: str | None = None


@dataclass(frozen=True, kw_only=True)
class VolumeView:
    """One volume (SPEC 2.3). The hypervisor layer fills what libvirt tells; the service adds `node` and
    `used_by` (VMs that attach it). `physical_bytes` and `mtime` serve the service only (not answered)."""
    name: str
    pool: str
    node: str | None = shown(None, required=True, nullable=False)
    path: str | None
    key: str | None = None
    type: str | None = None
    format: str | None = None
    capacity_bytes: int | None = None
    allocation_bytes: int | None = None
    physical_bytes: int | None = None
    mtime: str | None = None        # the file's modification time (libvirt's target/timestamps; not answered)
    backing: BackingView | None = None
    used_by: list[str] = shown(factory=list, doc=(
        "VMs that reference it: as a disk or cdrom, kernel, initrd, dtb, loader or NVRAM file, or under one of "
        "their disks (a backing chain)"))
    problems: list[Problem] = shown(factory=list, doc=PROBLEMS_DOC)

    @property
    def internal(self) -> bool:
        return is_internal_volume(self.pool, self.name)


@dataclass(frozen=True)
class SkippedPool:
    """A pool whose volumes could not be listed (inactive), with the error code and message a listing shows."""
    pool: str
    code: str
    message: str


# -- who references an image (built by jvp/hypervisor/volume.py's one scan, read by every caller) -----------
DISK_DEVICES = ("disk", "cdrom", "floppy", "lun")   # a <disk>'s device
BOOT_FILES = ("kernel", "initrd", "dtb", "loader", "nvram")  # files <os> names (direct kernel boot, UEFI)


@dataclass(frozen=True)
class VmDisk:
    """One image a VM opens as the usage scan sees it: a disk (`device` disk, cdrom, floppy, lun) with its
    path (or pool+volume for `type='volume'` disks) and the images under it, or a file of the VM's <os>
    (`device` kernel, initrd, dtb, loader, nvram; no target). `live`: the running definition has it."""
    target: str | None
    device: str | None
    path: str | None
    pool: str | None
    volume: str | None
    backing_paths: tuple[str, ...] = ()
    live: bool = False


@dataclass(frozen=True)
class DiskUser:
    """A VM that opens an image: through a disk or a boot file, directly, or (`backing`) through the image's
    backing chain."""
    vm: str
    running: bool
    disk: VmDisk
    backing: bool = False

    @property
    def target(self) -> str | None:
        return self.disk.target

    @property
    def live(self) -> bool:
        return self.disk.live

    @property
    def is_disk(self) -> bool:
        """A <disk> of the VM (not a kernel, initrd, dtb, loader or NVRAM file)."""
        return self.disk.device in DISK_DEVICES or self.disk.device is None

    @property
    def role(self) -> str:
        """How the VM uses the image: disk, cdrom, kernel, nvram, ... or `backing` (under one of its disks)."""
        return "backing" if self.backing else (self.disk.device or "disk")


@dataclass(frozen=True)
class VolumeLink:
    """A volume as the usage scan sees it: where it is and the file under it (qcow2 backing)."""
    pool: str
    name: str
    path: str | None
    backing: str | None = None


def disk_format(driver_type: str | None, volume_format: str | None) -> str | None:
    """The one name of a disk's format: what the domain tells QEMU (`<driver type>`), else what the volume's
    pool says of the image, else None (unknown). Every answer that names a disk's format uses it."""
    return driver_type or volume_format or None


def format_label(driver_type: str | None, volume_format: str | None) -> str:
    """disk_format for a message: `unknown` when neither says."""
    return disk_format(driver_type, volume_format) or "unknown"


def normal_path(path: str) -> str:
    """A path with `//`, `/./`, `..` and a trailing `/` folded (what a symlink-free node resolves it to)."""
    return posixpath.normpath(path) if path.startswith("/") else path


@dataclass
class References:
    """Who references which image on a node: every VM's disks (cdroms too), kernel, initrd, dtb, loader and
    NVRAM files, and the backing chains under its disks, both as the domain XML shows them and as the volumes'
    own backing files continue them. The one answer to "who uses this volume": used_by, delete-volume,
    resize, delete-storage-pool, attach-volume and create-vm's checks, delete-vm's keep rule and template
    usage all read it, so they cannot disagree.

    Paths match canonically: `canonical` maps a path to what the node resolves it to (symlinks resolved on the
    local node; `..` and `//` folded everywhere), and a `type='volume'` disk matches by pool+volume."""
    users_: list[DiskUser] = field(default_factory=list)     # every direct reference of every VM
    volumes: list[VolumeLink] = field(default_factory=list)  # the volumes of the running pools
    canonical: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_key: dict[str, list[DiskUser]] = {}
        self._by_ref: dict[tuple[str, str], list[DiskUser]] = {}
        vol_key = {(v.pool, v.name): self.key(v.path) for v in self.volumes if v.path}
        backing_of = {self.key(v.path): self.key(v.backing) for v in self.volumes if v.path and v.backing}
        for u in self.users_:
            d, direct = u.disk, replace(u, backing=False)
            start = self.key(d.path) if d.path else vol_key.get((d.pool or "", d.volume or ""))
            if start:
                self._by_key.setdefault(start, []).append(direct)
            if d.pool and d.volume:
                self._by_ref.setdefault((d.pool, d.volume), []).append(direct)
            chain = [self.key(p) for p in d.backing_paths]
            step = chain[-1] if chain else start
            seen = {start, *chain}
            while step in backing_of and backing_of[step] not in seen:  # the volumes continue the chain
                step = backing_of[step]
                seen.add(step)
                chain.append(step)
            for k in dict.fromkeys(chain):
                if k != start:
                    self._by_key.setdefault(k, []).append(replace(u, backing=True))
        self._backing_of = backing_of

    def key(self, path: str | None) -> str:
        if not path:
            return ""
        return self.canonical.get(path) or normal_path(path)

    def users(self, pool: str | None, name: str | None, path: str | None) -> list[DiskUser]:
        """Every reference to the volume (pool, name) at `path`: direct ones first, then through chains."""
        found = (self._by_key.get(self.key(path), []) if path else []) + \
            (self._by_ref.get((pool, name), []) if pool and name else [])
        out = list(dict.fromkeys(found))
        return [u for u in out if not u.backing] + [u for u in out if u.backing]

    def vm_names(self, pool: str | None, name: str | None, path: str | None) -> list[str]:
        return vm_names(self.users(pool, name, path))

    def under(self, directory: str) -> list[DiskUser]:
        """References to images in a directory (an inactive dir pool's volumes cannot be listed)."""
        prefix = self.key(directory).rstrip("/") + "/"
        return [u for k, us in self._by_key.items() if k.startswith(prefix) for u in us]

    def of_pool(self, pool: str) -> list[DiskUser]:
        """`type='volume'` disks that name the pool."""
        return [u for (p, _), us in self._by_ref.items() if p == pool for u in us]

    def dependents(self, paths: Iterable[str | None]) -> list[VolumeLink]:
        """Volumes whose backing chain reaches one of `paths` (those themselves left out)."""
        wanted = {self.key(p) for p in paths if p}
        out = []
        for v in self.volumes:
            k, seen = self.key(v.path), set()
            if not v.path or k in wanted:
                continue
            step = self._backing_of.get(k)
            while step and step not in seen:
                if step in wanted:
                    out.append(v)
                    break
                seen.add(step)
                step = self._backing_of.get(step)
        return sorted(out, key=lambda x: (x.pool, x.name))

    def paths_of(self, vm: str) -> frozenset[str]:
        """Every image the VM opens, through chains too: as written, canonical, and as the pools list them."""
        if not hasattr(self, "_paths"):
            keys: dict[str, set[str]] = {}
            for k, us in self._by_key.items():
                for u in us:
                    keys.setdefault(u.vm, set()).add(k)
            for u in self.users_:
                keys.setdefault(u.vm, set()).update(p for p in (u.disk.path, *u.disk.backing_paths) if p)
            listed: dict[str, set[str]] = {}
            for v in self.volumes:
                if v.path:
                    listed.setdefault(self.key(v.path), set()).add(v.path)
            self._paths = {name: frozenset(ks | {p for k in ks for p in listed.get(k, ())})
                           for name, ks in keys.items()}
        return self._paths.get(vm, frozenset())


def vm_names(users: Iterable[DiskUser]) -> list[str]:
    return sorted({u.vm for u in users})


BackingSchema = answer_schema(BackingView, "BackingSchema")
VolumeSchema = answer_schema(VolumeView, "VolumeSchema", exclude=("physical_bytes", "mtime"),
                             internal=fields.Boolean(required=True))


class VolumeResponse(ResponseSchema):
    volume = fields.Nested(VolumeSchema, required=True)


class VolumeResizeResponse(ResponseSchema):
    volume = fields.Nested(VolumeSchema, required=True)
    live_vms = fields.List(fields.String(), required=True, metadata={
        "description": "running VMs that were grown live (virDomainBlockResize): their guests see the new size"})


class VolumeListErrorSchema(ListErrorSchema):
    pool = fields.String(allow_none=True)


class VolumeListResponse(ResponseSchema):
    volumes = fields.List(fields.Nested(VolumeSchema), required=True)
    errors = fields.List(fields.Nested(VolumeListErrorSchema), required=True, metadata={
        "description": "pools whose volumes could not be listed (e.g. inactive), with the reason"})
