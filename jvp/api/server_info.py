"""describe-server: what a client (the web UI) needs to know about this server before it offers a flow."""
from __future__ import annotations

from jvp.api.actions import Role, registry
from jvp.api.schemas import EmptyRequest
from jvp.domain.server import ServerInfoResponse, server_info


@registry.action("describe-server", request=EmptyRequest, response=ServerInfoResponse, role=Role.VIEWER,
                 tag="auth")
def describe_server(ctx, req):
    """Whether this is the demo (`jvp serve --demo`), and there which flows are disabled and why."""
    return server_info(bool(ctx.services.settings.demo))
