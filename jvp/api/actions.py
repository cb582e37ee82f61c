"""The action registry: one declaration per action feeds the routes, the role check, the audit log, the
OpenAPI document, `jvp call` and the web client's types.

    @registry.action("describe-node", request=NodeNameRequest, response=NodeResponse, role=Role.VIEWER)
    def describe_node(ctx, req):
        return {"node": ctx.services.nodes.describe(req["name"])}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from marshmallow import Schema

from jvp.domain.principal import Principal, Role  # noqa: F401 - re-exported for api modules


@dataclass
class ActionContext:
    services: Any
    principal: Principal
    request_id: str
    action: "Action"
    # Set by handlers that answer 202 with a task, or stream a body instead of JSON.
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


STREAM_UPLOAD = "upload"      # request body is raw bytes; parameters come from the query string
STREAM_DOWNLOAD = "download"  # response is raw bytes; parameters come from the JSON body or query string
# The body limit of a streaming upload. Flask 3.1 reads `request.max_content_length = None` as "use the app's
# MAX_CONTENT_LENGTH" (the JSON limit), so uploads get an explicit bound instead; the handler checks the
# real one (the pool's free space) before reading a byte.
UPLOAD_MAX_BYTES = 64 * 1024 ** 4


@dataclass
class ByteStream:
    """What a download handler returns: the body's chunks, produced while the response is sent."""
    chunks: Iterable[bytes]
    length: int | None
    filename: str
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    name: str
    handler: Callable[[ActionContext, dict[str, Any]], Any]
    request: type[Schema]
    response: type[Schema] | None
    role: Role
    summary: str
    tag: str
    mutating: bool
    status: int = 200
    stream: str | None = None
    errors: tuple[str, ...] = ()

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[0]


READ_VERBS = ("list", "describe", "check")


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def action(self, name: str, *, request: type[Schema], response: type[Schema] | None, role: Role,
               tag: str, summary: str = "", mutating: bool | None = None, status: int = 200,
               stream: str | None = None, errors: tuple[str, ...] = ()) -> Callable:
        """Declare an action. `mutating` defaults to False for list-/describe-/check- verbs, True otherwise;
        every mutating action is audited."""
        def register(fn: Callable) -> Callable:
            if name in self._actions:
                raise ValueError(f"action {name} declared twice")
            self._actions[name] = Action(
                name=name, handler=fn, request=request, response=response, role=role,
                summary=summary or (fn.__doc__ or "").strip().split("\n")[0], tag=tag,
                mutating=(not name.startswith(tuple(v + "-" for v in READ_VERBS)))
                if mutating is None else mutating,
                status=status, stream=stream, errors=errors)
            return fn
        return register

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def all(self) -> list[Action]:
        return [self._actions[n] for n in self.names()]


registry = ActionRegistry()
