"""Template (SPEC 2.4): a read-only base image in a pool's `_templates_` directory plus its metadata.

The response schemas of the template actions. The metadata file's own shape is metadata_schema/template.v2.yaml.
"""
from __future__ import annotations

from marshmallow import fields

from jvp.domain.base import ListErrorSchema, ResponseSchema

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


class TemplateSchema(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    uuid = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "cloud | snapshot"})
    pool = fields.String(required=True)
    state = fields.String(required=True, metadata={
        "description": "ready | image-missing (the volume is gone from the node) | unknown (node unreachable)"})
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


class TemplateResponse(ResponseSchema):
    template = fields.Nested(TemplateSchema, required=True)


class TemplateListResponse(ResponseSchema):
    templates = fields.List(fields.Nested(TemplateSchema), required=True)
    errors = fields.List(fields.Nested(ListErrorSchema), required=True)


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
