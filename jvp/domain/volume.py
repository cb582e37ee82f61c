"""Volumes (SPEC 2.3): response schemas. The naming rules shared with pools live in entity/storage_pool."""
from __future__ import annotations

from marshmallow import fields

from jvp.domain.base import ListErrorSchema, ResponseSchema


class BackingSchema(ResponseSchema):
    path = fields.String(required=True)
    format = fields.String(allow_none=True)
    pool = fields.String(allow_none=True)
    volume = fields.String(allow_none=True)


class VolumeSchema(ResponseSchema):
    name = fields.String(required=True)
    pool = fields.String(required=True)
    node = fields.String(required=True)
    path = fields.String(allow_none=True)
    key = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    format = fields.String(allow_none=True)
    capacity_bytes = fields.Integer(allow_none=True)
    allocation_bytes = fields.Integer(allow_none=True)
    backing = fields.Nested(BackingSchema, allow_none=True)
    used_by = fields.List(fields.String(), required=True, metadata={"description": "VMs that attach it"})
    internal = fields.Boolean(required=True)


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
