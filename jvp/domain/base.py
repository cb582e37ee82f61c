"""Base of every response schema."""
from __future__ import annotations

from marshmallow import Schema, fields


class ResponseSchema(Schema):
    class Meta:
        ordered = True


class ListErrorSchema(ResponseSchema):
    """A part of a listing that could not be produced (a node down, a corrupt metadata file)."""
    node = fields.String(allow_none=True)
    path = fields.String(allow_none=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
