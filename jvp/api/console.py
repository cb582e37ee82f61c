"""get-vm-console (SPEC 2.7, 2.9): a one-time token for a VM's VNC or serial console. The consoles themselves
are websockets (jvp/api/console_ws.py)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import NodeRef, Ref, RequestSchema
from jvp.domain.console import CONSOLE_TYPES, ConsoleTicketResponse


class GetConsoleRequest(RequestSchema):
    node = NodeRef()
    name = Ref()
    type = fields.String(load_default="vnc", validate=validate.OneOf(CONSOLE_TYPES),
                         metadata={"description": "vnc (the display, for noVNC) or serial (the serial console)"})


# mutating: handing out access to a VM's console is audited (the answer, with the token, is never logged)
@registry.action("get-vm-console", request=GetConsoleRequest, response=ConsoleTicketResponse, role=Role.OPERATOR,
                 tag="vm", mutating=True,
                 errors=("NodeNotFound", "NodeUnreachable", "VmNotFound", "InvalidState", "ConsoleNotAvailable",
                         "ConsoleUnreachable", "SshHostKeyUnknown", "SshHostKeyMismatch", "NodeAuthFailed"))
def get_vm_console(ctx, req):
    """A single-use token for the VM's VNC or serial console: open ws_url as a websocket before expires_at.
    For VNC the connection to the display (direct, or the SSH tunnel of a qemu+ssh node) is opened and closed
    first, so an unreachable display or an SSH host key or login problem is this call's error."""
    return ctx.services.consoles.issue(req["node"], req["name"], req["type"], ctx.principal)
