"""Volumes (SPEC 2.3): response schemas. The naming rules shared with pools live in entity/storage_pool."""
from __future__ import annotations

from dataclasses import dataclass

from marshmallow import fields

from jvp.domain.base import ListErrorSchema, ResponseSchema, answer_schema, shown
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
    `used_by` (VMs that attach it). `physical_bytes` serves the service only (not answered)."""
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
    backing: BackingView | None = None
    used_by: list[str] = shown(factory=list, doc="VMs that attach it")

    @property
    def internal(self) -> bool:
        return is_internal_volume(self.pool, self.name)


@dataclass(frozen=True)
class SkippedPool:
    """A pool whose volumes could not be listed (inactive), with the error code and message a listing shows."""
    pool: str
    code: str
    message: str


@dataclass(frozen=True)
class VmDisk:
    """One disk of one VM as the usage scan sees it: the image it opens (path, or pool+volume for
    `type='volume'` disks), the images under it, and whether the running definition has it (`live`)."""
    target: str | None
    device: str | None
    path: str | None
    pool: str | None
    volume: str | None
    backing_paths: tuple[str, ...] = ()
    live: bool = False


@dataclass(frozen=True)
class DiskUser:
    """A VM disk that opens an image: directly, or (`backing`) through the image's backing chain."""
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


BackingSchema = answer_schema(BackingView, "BackingSchema")
VolumeSchema = answer_schema(VolumeView, "VolumeSchema", exclude=("physical_bytes",),
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
