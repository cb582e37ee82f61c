"""Who is calling (describe-token: lets a client show the token's name and role), and the management of API
tokens by an admin (create-token, list-tokens, revoke-token; the same service as `jvp token ...`)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import EmptyRequest, Name, NameRequest, OkResponse, RequestSchema
from jvp.errors import Conflict
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


# -- token management (admin) -------------------------------------------------------------------------------
class CreateTokenRequest(RequestSchema):
    name = Name()
    role = fields.String(required=True, validate=validate.OneOf(["admin", "operator", "viewer"]))
    ttl_days = fields.Integer(strict=True, load_default=None, allow_none=True,
                              validate=validate.Range(min=1, max=3650),
                              metadata={"description": "days until it expires; absent or null: never"})


class TokenSchema(ResponseSchema):
    name = fields.String(required=True)
    role = fields.String(required=True)
    created_at = fields.String(required=True)
    expires_at = fields.String(allow_none=True)
    last_used_at = fields.String(allow_none=True, metadata={
        "description": "when it last authenticated a request, exact to about a minute (written at most once a "
                       "minute per token and server process); null: not used since it was created"})


class NewTokenResponse(ResponseSchema):
    token = fields.Nested(TokenSchema, required=True)
    secret = fields.String(required=True, metadata={
        "description": "the bearer token itself: in this answer only (only its SHA-256 is stored)"})


class TokenListResponse(ResponseSchema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


@registry.action("create-token", request=CreateTokenRequest, response=NewTokenResponse, role=Role.ADMIN,
                 tag="auth", errors=("TokenExists",))
def create_token(ctx, req):
    """Create an API token; its secret is in this answer only (never stored, listed or audited)."""
    secret, record = ctx.services.tokens.create(req["name"], req["role"], req.get("ttl_days"))
    return {"token": {**record, "last_used_at": None}, "secret": secret}


@registry.action("list-tokens", request=EmptyRequest, response=TokenListResponse, role=Role.ADMIN, tag="auth")
def list_tokens(ctx, req):
    """Every API token: name, role, creation, expiry and last use (never the secret nor its hash)."""
    return {"tokens": ctx.services.tokens.list_with_usage()}


@registry.action("revoke-token", request=NameRequest, response=OkResponse, role=Role.ADMIN, tag="auth",
                 errors=("TokenNotFound", "RevokeOwnToken"))
def revoke_token(ctx, req):
    """Revoke a token at once, in every server process. The calling token cannot revoke itself (409
    RevokeOwnToken): that keeps an admin from locking themselves out; use another admin token or
    `jvp token revoke NAME` on the controller."""
    if ctx.principal.name == req["name"]:
        raise Conflict(f"token '{req['name']}' is the one making this request and cannot revoke itself; "
                       "revoke it with another admin token or `jvp token revoke` on the controller",
                       code="RevokeOwnToken", details={"name": req["name"]})
    ctx.services.tokens.revoke(req["name"])
    return {"ok": True}
