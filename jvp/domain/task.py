"""Task: work that outlives a request (SPEC §1, long work)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.domain.base import ResponseSchema

STATES = ("pending", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("pending", "running")


class TaskResourceSchema(ResponseSchema):
    kind = fields.String(required=True)
    node = fields.String(allow_none=True)
    pool = fields.String(allow_none=True, metadata={"description": "for volumes: the pool holding it"})
    name = fields.String(allow_none=True)


class TaskErrorSchema(ResponseSchema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()
    reason = fields.String(allow_none=True, metadata={"description": "`interrupted` when the process died"})


class TaskSchema(ResponseSchema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    progress = fields.Float(allow_none=True, metadata={"description": "0-100, or null when unknown"})
    message = fields.String(allow_none=True)
    resource = fields.Nested(TaskResourceSchema, allow_none=True)
    created_at = fields.String(required=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    error = fields.Nested(TaskErrorSchema, allow_none=True)
    result = fields.Dict(allow_none=True)
    created_by = fields.String(allow_none=True)
    cancel_requested = fields.Boolean()
    bytes_done = fields.Integer(allow_none=True)
    bytes_total = fields.Integer(allow_none=True)
    eta_s = fields.Float(allow_none=True)


class TaskResponse(ResponseSchema):
    task = fields.Nested(TaskSchema, required=True)


class TaskListResponse(ResponseSchema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    errors = fields.List(fields.Dict(), required=True)
