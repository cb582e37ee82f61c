"""Base of every response schema, and the schemas derived from the views' dataclasses (answer_schema)."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any

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


# -- answers derived from views --------------------------------------------------------------------------
# A view's dataclass fields are its answer's fields: `answer_schema(View, "NameSchema")` builds the response
# schema from them, in the dataclass's order, so a field is declared once. The type decides the marshmallow
# field: `str` String, `int` Integer, `bool` Boolean, `float` Float, `list[T]` List, `dict[str, T]` Dict
# (`dict[str, Any]` a free-form one), another view Nested (its schema must be built first). `T` is required;
# `T | None` may be null.
# `shown(...)` in place of `field(...)` says what the type cannot: a description, `required`/`nullable`
# against the rule, or any marshmallow keyword (`validate=`, `data_key=`, `metadata=`).
_SCHEMA_OF: dict[type, type[ResponseSchema]] = {}
_SCALARS = {str: fields.String, int: fields.Integer, bool: fields.Boolean, float: fields.Float}


def shown(default: Any = MISSING, *, factory: Any = MISSING, doc: str | None = None,
          required: bool | None = None, nullable: bool | None = None, **field_kwargs: Any) -> Any:
    """A dataclass field (default or factory as `dataclasses.field`) with how its answer shows it."""
    spec = {"doc": doc, "required": required, "nullable": nullable, "kwargs": field_kwargs}
    return field(default=default, default_factory=factory, metadata={"shown": spec})


def answer_schema(view: type, name: str, *, exclude: tuple[str, ...] = (), upto: str | None = None,
                  base: type[Schema] = ResponseSchema, **extra: fields.Field) -> type[ResponseSchema]:
    """The response schema `name` of the dataclass `view`: its fields (up to `upto`) but `exclude`, then
    `extra`. The first whole schema built from a view is the one a field of that view's type nests."""
    hints = typing.get_type_hints(view)
    attrs: dict[str, Any] = {}
    for f in dataclasses.fields(view):
        if f.name not in exclude:
            attrs[f.name] = _field_of(hints[f.name], f.metadata.get("shown", {}))
        if f.name == upto:
            break
    attrs.update(extra)
    schema = type(name, (base,), attrs)
    if upto is None:
        _SCHEMA_OF.setdefault(view, schema)
    return schema


def _field_of(hint: Any, spec: dict[str, Any]) -> fields.Field:
    inner, optional = _strip_none(hint)
    kwargs = dict(spec.get("kwargs", {}))
    nullable = optional if spec.get("nullable") is None else spec["nullable"]
    required = not optional if spec.get("required") is None else spec["required"]
    if required:
        kwargs["required"] = True
    if nullable:
        kwargs["allow_none"] = True
    if spec.get("doc"):
        kwargs["metadata"] = {"description": spec["doc"], **kwargs.get("metadata", {})}
    return _build(inner, kwargs)


def _build(hint: Any, kwargs: dict[str, Any]) -> fields.Field:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        return _SCALARS[hint](**kwargs)
    if origin in (list, tuple, set):
        return fields.List(_build(args[0], {}), **kwargs)
    if hint is dict or (origin is dict and args[1] is Any):
        return fields.Dict(**kwargs)
    if origin is dict:
        return fields.Dict(keys=fields.String(), values=_build(args[1], {}), **kwargs)
    if dataclasses.is_dataclass(hint):
        return fields.Nested(_SCHEMA_OF[hint], **kwargs)
    raise TypeError(f"no answer field for {hint!r}: give it with answer_schema(..., name=fields.X())")


def _strip_none(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if type(None) in args and (typing.get_origin(hint) in (typing.Union, types.UnionType)):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"no answer field for {hint!r}: give it with answer_schema(..., name=fields.X())")
        return rest[0], True
    return hint, False


# -- a row's problems (issue 13) -------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """Something wrong with one object of a listing or description (issue 13: isolation): a dangling reference,
    unreadable XML, a vanished volume, a figure libvirt reported wrapped. The object is still listed and
    described; the problem says what could not be read or is inconsistent. `code` is an error code of
    jvp/domain/errors.py's table (stable), `message` says what and where."""
    code: str = shown(doc="stable error code of the problem")
    message: str


ProblemSchema = answer_schema(Problem, "ProblemSchema")
PROBLEMS_DOC = "what is wrong with this object (empty when nothing)"


def Problems(**kwargs) -> fields.List:  # noqa: N802 - a field factory reads like a field class
    """The `problems` field of a row schema declared by hand: empty when the object is sound. (A view declares
    `problems: list[Problem] = shown(factory=list, doc=PROBLEMS_DOC)`, the same field.)"""
    return fields.List(fields.Nested(ProblemSchema), required=True,
                       metadata={"description": PROBLEMS_DOC}, **kwargs)


def envelopes(schema: type[Schema], key: str, plural: str, *,
              errors: bool = False) -> tuple[type[ResponseSchema], type[ResponseSchema]]:
    """The answers of describe-X and list-X for `<X>Schema`: `<X>Response` {key: X} and `<X>ListResponse`
    {plural: [X]}, with the listing's `errors` (ListErrorSchema) when `errors`."""
    prefix = schema.__name__.removesuffix("Schema")
    one = type(f"{prefix}Response", (ResponseSchema,), {key: fields.Nested(schema, required=True)})
    many: dict[str, fields.Field] = {plural: fields.List(fields.Nested(schema), required=True)}
    if errors:
        many["errors"] = fields.List(fields.Nested(ListErrorSchema), required=True)
    return one, type(f"{prefix}ListResponse", (ResponseSchema,), many)
