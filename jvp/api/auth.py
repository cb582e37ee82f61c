"""Who is calling: lets a client (the web UI) show the token's name and role."""
from __future__ import annotations

from marshmallow import fields

from jvp.api.actions import Role, registry
from jvp.api.schemas import EmptyRequest
from jvp.domain.base import ResponseSchema


class TokenInfoSchema(ResponseSchema):
    name = fields.String(allow_none=True)
    role = fields.String(required=True)
    expires_at = fields.String(allow_none=True)


class TokenInfoResponse(ResponseSchema):
    token = fields.Nested(TokenInfoSchema, required=True)


@registry.action("describe-token", request=EmptyRequest, response=TokenInfoResponse, role=Role.VIEWER,
                 tag="auth")
def describe_token(ctx, req):
    """The calling token's name, role and expiry (never the token itself)."""
    info = ctx.services.tokens.info(ctx.principal.name) if ctx.principal.name else None
    return {"token": {"name": ctx.principal.name, "role": str(ctx.principal.role),
                      "expires_at": (info or {}).get("expires_at")}}
