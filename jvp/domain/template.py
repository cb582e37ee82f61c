"""Template (SPEC 2.4): a read-only base image in a pool's `_templates_` directory plus its metadata.

The response schemas of the template actions. The metadata file's own shape is metadata_schema/template.v3.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from marshmallow import fields

from jvp.domain.base import ResponseSchema, envelopes
from jvp.domain.storage_pool import TEMPLATE_POOL_SUFFIX
from jvp.domain.volume import VolumeView

SOURCE_TYPES = ("url", "file", "volume", "snapshot")
TEMPLATE_TYPES = ("cloud", "snapshot")


class TemplateStorageSchema(ResponseSchema):
    pool = fields.String(required=True, metadata={"description": "the storage pool the template belongs to"})
    template_pool = fields.String(required=True, metadata={"description": "JVP's dir pool holding the image"})
    volume = fields.String(required=True)
    path = fields.String(required=True)
    format = fields.String(required=True, metadata={"description": "qcow2 | raw"})
    size = fields.Integer(allow_none=True, metadata={"description": "bytes of the image file"})
    virtual_size = fields.Integer(allow_none=True, metadata={"description": "bytes the guest sees"})
    version = fields.Integer(required=True, metadata={"description": "1, then +1 per update-template-image"})


class TemplateOsSchema(ResponseSchema):
    name = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    arch = fields.String(allow_none=True)
    kernel = fields.String(allow_none=True)


class TemplateSourceSchema(ResponseSchema):
    type = fields.String(required=True, metadata={"description": "|".join(SOURCE_TYPES)})
    url = fields.String(allow_none=True)
    checksum_url = fields.String(allow_none=True)
    checksum = fields.String(allow_none=True, metadata={
        "description": "sha256:<hex> of the image (always a sha256, computed while the image was read)"})
    verified_checksum = fields.String(allow_none=True, metadata={
        "description": "the digest the image was verified with when it is not a sha256 (sha512:<hex>)"})
    verified = fields.Boolean(metadata={"description": "a given or published checksum matched the image"})
    etag = fields.String(allow_none=True)
    last_modified = fields.String(allow_none=True)
    length = fields.Integer(allow_none=True)
    path = fields.String(allow_none=True)
    pool = fields.String(allow_none=True)
    volume = fields.String(allow_none=True)
    vm = fields.String(allow_none=True)
    snapshot = fields.String(allow_none=True)
    fetched_at = fields.String(allow_none=True)


class TemplateFeaturesSchema(ResponseSchema):
    cloud_init = fields.Boolean(allow_none=True)
    virtio = fields.Boolean(allow_none=True)
    qemu_guest_agent = fields.Boolean(allow_none=True)


class TemplateVmSchema(ResponseSchema):
    name = fields.String(required=True)
    running = fields.Boolean(required=True)
    created_at = fields.String(allow_none=True)
    by_metadata = fields.Boolean(required=True, metadata={"description": "JVP's metadata names the template"})
    disks = fields.List(fields.String(), required=True, metadata={"description": "its disks on the template"})


class TemplateVolumeSchema(ResponseSchema):
    pool = fields.String(required=True)
    name = fields.String(required=True)
    path = fields.String(required=True)
    base = fields.String(required=True, metadata={"description": "the template image it is backed by"})


class TemplateUsageSchema(ResponseSchema):
    vm_count = fields.Integer(allow_none=True, metadata={"description": "null when the node cannot be asked"})
    last_used = fields.String(allow_none=True, metadata={"description": "when create-vm last took it"})
    vms = fields.List(fields.Nested(TemplateVmSchema), metadata={"description": "describe-template only"})
    volumes = fields.List(fields.Nested(TemplateVolumeSchema), metadata={"description": "describe-template only"})


class TemplatePreviousSchema(ResponseSchema):
    volume = fields.String(required=True)
    path = fields.String(required=True)
    format = fields.String(required=True)
    size = fields.Integer(allow_none=True)
    virtual_size = fields.Integer(allow_none=True)
    version = fields.Integer(required=True)
    checksum = fields.String(allow_none=True)
    verified_checksum = fields.String(allow_none=True)
    etag = fields.String(allow_none=True)
    last_modified = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    registered_at = fields.String(allow_none=True)
    replaced_at = fields.String(allow_none=True)
    dependents = fields.List(fields.String(), metadata={"description": "pool/volume backed by this old image"})


class UpdateCheckSchema(ResponseSchema):
    checked_at = fields.String()
    update_available = fields.Boolean(allow_none=True)
    decided_by = fields.String(allow_none=True)


class IntegritySchema(ResponseSchema):
    state = fields.String(required=True, metadata={"description": "ok | broken"})
    checked_at = fields.String(required=True)
    by = fields.String(required=True, metadata={"description": "start-up | verify-template"})
    reason = fields.String(allow_none=True)


class TemplateSchema(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    uuid = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "cloud | snapshot"})
    pool = fields.String(required=True)
    state = fields.String(required=True, metadata={
        "description": "ready | image-missing (the volume is gone from the node) | unknown (node unreachable) | "
                       "broken (found missing or changed at start-up or by verify-template; see integrity)"})
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    storage = fields.Nested(TemplateStorageSchema, required=True)
    os = fields.Nested(TemplateOsSchema, required=True)
    source = fields.Nested(TemplateSourceSchema, required=True)
    features = fields.Nested(TemplateFeaturesSchema, required=True)
    usage = fields.Nested(TemplateUsageSchema, required=True)
    tags = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    previous = fields.List(fields.Nested(TemplatePreviousSchema), required=True)
    update_check = fields.Nested(UpdateCheckSchema, allow_none=True)
    integrity = fields.Nested(IntegritySchema, allow_none=True, metadata={
        "description": "the last start-up validation or verify-template (absent: not validated yet)"})


TemplateResponse, TemplateListResponse = envelopes(TemplateSchema, "template", "templates", errors=True)


class TemplateDeleteResponse(ResponseSchema):
    ok = fields.Boolean(required=True)
    deleted_volumes = fields.List(fields.String(), required=True)
    template_pool_removed = fields.Boolean(required=True, metadata={
        "description": "the template was the last one of its pool: JVP's `<pool>_templates_` pool was removed"})


class ChangeSchema(ResponseSchema):
    field = fields.String(required=True, metadata={"description": "checksum | etag | last_modified | length | url"})
    current = fields.Raw(allow_none=True)
    remote = fields.Raw(allow_none=True)


class RemoteSchema(ResponseSchema):
    url = fields.String(required=True, metadata={"description": "after redirects"})
    etag = fields.String(allow_none=True)
    last_modified = fields.String(allow_none=True)
    length = fields.Integer(allow_none=True)
    checksum = fields.String(allow_none=True)


class TemplateUpdateCheckResponse(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    update_available = fields.Boolean(allow_none=True, metadata={
        "description": "null when the source publishes nothing to compare (no checksum, ETag, date or length)"})
    decided_by = fields.String(allow_none=True, metadata={"description": "checksum | etag | last_modified | length"})
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    remote = fields.Nested(RemoteSchema, required=True)
    checked_at = fields.String(required=True)
    vms = fields.List(fields.Nested(TemplateVmSchema), required=True, metadata={
        "description": "VMs built from the template: they keep their current base after an update"})
    volumes = fields.List(fields.Nested(TemplateVolumeSchema), required=True)
    message = fields.String(required=True)


# -- who depends on a template's images (computed by the gateway's template_usage, read by the service) --
@dataclass(frozen=True)
class DomainUsage:
    """One domain as the template usage scan sees it."""
    name: str
    running: bool
    template: dict[str, str] | None        # JVP's template facts of the VM ({"name", "pool", "volume", "uuid"?})
    created_at: str | None
    paths: frozenset[str] = frozenset()    # every image its disks open, backing chains included


@dataclass(frozen=True)
class TemplateVm:
    """A VM built from a template (TemplateVmSchema)."""
    name: str
    running: bool
    created_at: str | None
    by_metadata: bool                      # JVP's metadata names the template
    disks: list[str]                       # its disks on the template's images


@dataclass(frozen=True)
class BackedVolume:
    """A volume whose backing chain reaches a template image (TemplateVolumeSchema)."""
    pool: str
    name: str
    path: str
    base: str


@dataclass
class NodeUsage:
    """A snapshot of the node: each domain's template facts and disk paths, each volume's backing."""
    domains: list[DomainUsage] = field(default_factory=list)
    volumes: list[VolumeView] = field(default_factory=list)
    skipped_pools: list[str] = field(default_factory=list)       # inactive pools
    unreadable_pools: list[dict[str, str]] = field(default_factory=list)  # {"pool", "error"}: listing failed

    def unseen_pools(self) -> set[str]:
        """Every pool whose volumes this scan could not see."""
        return set(self.skipped_pools) | {u["pool"] for u in self.unreadable_pools}

    def unknown_pools(self) -> list[dict[str, str]]:
        """The pools whose volumes this scan could not see and that may hold a volume backed by a template
        image, each with why: {"pool", "reason": inactive|unreadable, "error"?}. JVP's own template pools are
        left out: they hold flat images only (a registration refuses images with a backing file, and copies
        flatten), so nothing in them depends on another image."""
        out = [{"pool": p, "reason": "inactive"} for p in self.skipped_pools]
        out += [{"pool": u["pool"], "reason": "unreadable", "error": u["error"]} for u in self.unreadable_pools]
        return sorted((p for p in out if not p["pool"].endswith(TEMPLATE_POOL_SUFFIX)), key=lambda x: x["pool"])

    def _backing_of(self) -> dict[str, str]:
        return {v.path: v.backing.path for v in self.volumes if v.path and v.backing}

    def backed_volumes(self, bases: Iterable[str]) -> list[BackedVolume]:
        """Volumes whose backing chain reaches one of `bases` (the bases themselves excluded)."""
        wanted = set(bases)
        backing = self._backing_of()
        out = []
        for v in self.volumes:
            path, seen = v.path, set()
            if not path or path in wanted:
                continue
            step = backing.get(path)
            while step and step not in seen:
                if step in wanted:
                    out.append(BackedVolume(pool=v.pool, name=v.name, path=path, base=step))
                    break
                seen.add(step)
                step = backing.get(step)
        return sorted(out, key=lambda x: (x.pool, x.name))

    def vms(self, template: dict[str, Any], bases: Iterable[str]) -> list[TemplateVm]:
        """VMs built from the template: named in their metadata, or with a disk on or above one of `bases`."""
        wanted = set(bases)
        derived = wanted | {v.path for v in self.backed_volumes(wanted)}
        out = []
        for d in self.domains:
            facts = d.template or {}
            named = bool(facts) and (facts.get("uuid") == template.get("uuid") if facts.get("uuid")
                                     else facts.get("name") == template.get("name"))
            on_disk = sorted(derived & d.paths)
            if named or on_disk:
                out.append(TemplateVm(name=d.name, running=d.running, created_at=d.created_at, by_metadata=named,
                                      disks=on_disk))
        return sorted(out, key=lambda x: x.name)

    def paths_in_use(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """path -> VMs whose disks open it directly or through a backing chain the XML shows."""
        wanted = set(paths)
        out: dict[str, list[str]] = {}
        for d in self.domains:
            for p in d.paths & wanted:
                out.setdefault(p, []).append(d.name)
        return out


def describe_pools(pools: list[dict[str, str]]) -> str:
    """"'cold' (inactive), 'nfs' (unreadable: <libvirt's text>)" for messages."""
    return ", ".join(f"'{p['pool']}' ({p['reason']}" + (f": {p['error']}" if p.get("error") else "") + ")"
                     for p in pools)


# -- history, batch checks, verification ------------------------------------------------------------------
class HistoryImageSchema(ResponseSchema):
    volume = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    checksum = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True, metadata={"description": "bytes of the image file"})


class HistoryEntrySchema(ResponseSchema):
    at = fields.String(required=True)
    event = fields.String(required=True, metadata={"description": "check | update | verify | validate | rebuild"})
    outcome = fields.String(required=True, metadata={
        "description": "check: up-to-date | update-available | unknown | failed; update, rebuild: succeeded | "
                       "failed; verify, validate: ok | broken"})
    by = fields.String(allow_none=True, metadata={"description": "the token's principal; jvp: the start-up check"})
    task = fields.String(allow_none=True)
    vm = fields.String(allow_none=True, metadata={"description": "rebuild: the VM"})
    old = fields.Nested(HistoryImageSchema, allow_none=True, metadata={"description": "the image before"})
    new = fields.Nested(HistoryImageSchema, allow_none=True, metadata={"description": "the image after"})
    message = fields.String()


class TemplateHistoryResponse(ResponseSchema):
    node = fields.String(required=True)
    name = fields.String(required=True)
    entries = fields.List(fields.Nested(HistoryEntrySchema), required=True, metadata={
        "description": "newest first, at most `limit`"})
