"""Audit actions (SPEC §1)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import RequestSchema, Text
from jvp.domain.base import ResponseSchema


class ListAuditEventsRequest(RequestSchema):
    since = fields.AwareDateTime(format="iso", metadata={"description": "RFC 3339; newer entries only"})
    action = Text(max_length=64)
    target = Text(max_length=128, metadata={
        "description": "entries whose target (node, pool, vm, network or name) equals this"})
    outcome = fields.String(validate=validate.OneOf(["ok", "error"]))
    limit = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=1, max=10000))


class AuditEventSchema(ResponseSchema):
    time = fields.String(required=True)
    request_id = fields.String(required=True)
    token_name = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    action = fields.String(required=True)
    target = fields.Dict(allow_none=True)
    params = fields.Dict(allow_none=True, metadata={"description": "the request, secrets redacted"})
    outcome = fields.String(required=True)
    status = fields.Integer()
    error_code = fields.String(allow_none=True)
    duration_ms = fields.Float()
    remote_addr = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True, metadata={"description": "the task this request started (a 202)"})
    task_state = fields.String(allow_none=True, metadata={
        "description": "the task's final state (succeeded, failed, cancelled); null while it runs or without task"})
    task_error_code = fields.String(allow_none=True, metadata={"description": "the failed task's error code"})
    task_finished_at = fields.String(allow_none=True)


class AuditEventsResponse(ResponseSchema):
    events = fields.List(fields.Nested(AuditEventSchema), required=True)
    actions = fields.List(fields.String(), required=True, metadata={
        "description": "every action an entry can name (the mutating actions and the console websocket's), "
                       "sorted: the values of the `action` filter"})


# written by the console websocket (jvp/api/console_ws.py), not by an action of the registry
WEBSOCKET_ACTIONS = ("open-vm-console", "close-vm-console")


@registry.action("list-audit-events", request=ListAuditEventsRequest, response=AuditEventsResponse,
                 role=Role.ADMIN, tag="audit")
def list_audit_events(ctx, req):
    """The audit log, newest first; a request that started a task shows the task's final outcome once it
    ended (`task_state`, `task_error_code`: appended to the log when the task ends, folded in here)."""
    since = req.get("since")
    actions = sorted({a.name for a in registry.all() if a.mutating} | set(WEBSOCKET_ACTIONS))
    return {"events": ctx.services.audit.list(
        since=since.isoformat() if since else None, action=req.get("action"), target=req.get("target"),
        outcome=req.get("outcome"), limit=req["limit"]), "actions": actions}
