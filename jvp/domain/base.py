"""Base of every response schema."""
from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Problem:
    """Something wrong with one object of a listing or description (issue 13: isolation): a dangling reference,
    unreadable XML, a vanished volume, a figure libvirt reported wrapped. The object is still listed and
    described; the problem says what could not be read or is inconsistent. `code` is an error code of
    jvp/domain/errors.py's table (stable), `message` says what and where."""
    code: str
    message: str


class ProblemSchema(ResponseSchema):
    code = fields.String(required=True, metadata={"description": "stable error code of the problem"})
    message = fields.String(required=True)


def Problems(**kwargs) -> fields.List:  # noqa: N802 - a field factory reads like a field class
    """The `problems` field of a row: empty when the object is sound."""
    return fields.List(fields.Nested(ProblemSchema), required=True,
                       metadata={"description": "what is wrong with this object (empty when nothing)"}, **kwargs)
