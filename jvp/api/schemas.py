"""Schema building blocks shared by every api module."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate, RAISE, ValidationError

from jvp.domain.base import ResponseSchema, ListErrorSchema  # noqa: F401 - shared with api modules

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
NAME_HELP = ("1-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit "
             "(no '/', no '..')")


def _valid_name(value: str) -> bool:
    if not NAME_RE.match(value) or ".." in value:
        raise ValidationError(f"Invalid name {value!r}: {NAME_HELP}.")
    return True


class RequestSchema(Schema):
    """Requests reject unknown fields (a typo must not pass silently)."""

    class Meta:
        unknown = RAISE
        ordered = True


def Name(**kwargs: Any) -> fields.String:  # noqa: N802 - a field factory reads like a field class
    kwargs.setdefault("required", True)
    return fields.String(validate=_valid_name, metadata={"description": NAME_HELP,
                                                         **kwargs.pop("metadata", {})}, **kwargs)


def NodeRef(**kwargs: Any) -> fields.String:  # noqa: N802
    return fields.String(load_default="local", validate=_valid_name,
                         metadata={"description": "node name (default: local)"}, **kwargs)


def NodeFilter(**kwargs: Any) -> fields.String:  # noqa: N802
    """An optional node filter of a list action (absent: every node); validated like NodeRef, so a malformed
    name is a 400, never a store error."""
    return fields.String(validate=_valid_name, metadata={"description": "node name (default: all nodes)"},
                         **kwargs)


def Labels(**kwargs: Any) -> fields.Dict:  # noqa: N802
    return fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")),
                       values=fields.String(validate=validate.Length(max=256)),
                       validate=validate.Length(max=64), **kwargs)


class EmptyRequest(RequestSchema):
    pass


class NameRequest(RequestSchema):
    name = Name()


class OkResponse(ResponseSchema):
    ok = fields.Boolean(required=True)


class ErrorBody(ResponseSchema):
    code = fields.String(required=True, metadata={"description": "stable error code"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)
    request_id = fields.String(required=True)


class ErrorResponse(ResponseSchema):
    error = fields.Nested(ErrorBody, required=True)
