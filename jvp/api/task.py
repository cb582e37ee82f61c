"""Task actions (SPEC §1, long work)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import FullMatch, NodeFilter, RequestSchema, Text
from jvp.domain.task import STATES, TaskListResponse, TaskResponse

TAG = "task"
TASK_ID = dict(required=True, validate=FullMatch(r"^[a-f0-9-]{8,64}$", error="Not a task id."))


class ListTasksRequest(RequestSchema):
    state = fields.String(validate=validate.OneOf(STATES))
    kind = Text(max_length=64)
    node = NodeFilter()
    limit = fields.Integer(strict=True, validate=validate.Range(min=1, max=100000),
                           metadata={"description": "at most this many tasks (the newest)"})


class TaskIdRequest(RequestSchema):
    id = fields.String(**TASK_ID)


@registry.action("list-tasks", request=ListTasksRequest, response=TaskListResponse, role=Role.VIEWER, tag=TAG)
def list_tasks(ctx, req):
    """Tasks of every process, newest first (finished ones are kept for task_retention_days, at most
    task_retention_count of them)."""
    return ctx.services.tasks.list(state=req.get("state"), kind=req.get("kind"), node=req.get("node"),
                                   limit=req.get("limit"))


@registry.action("describe-task", request=TaskIdRequest, response=TaskResponse, role=Role.VIEWER, tag=TAG,
                 errors=("TaskNotFound",))
def describe_task(ctx, req):
    """One task: state, progress, message, result or error."""
    return {"task": ctx.services.tasks.describe(req["id"])}


@registry.action("cancel-task", request=TaskIdRequest, response=TaskResponse, role=Role.OPERATOR, tag=TAG,
                 errors=("TaskNotFound", "TaskFinished"))
def cancel_task(ctx, req):
    """Ask a pending or running task to stop; its partial output is removed."""
    return {"task": ctx.services.tasks.cancel(req["id"])}
