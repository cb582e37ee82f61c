"""The request loader (jvp/api/load.py) answers what marshmallow's own `Schema.load` answers: the same dict
(types and key order) for a valid request, the same ValidationError (messages) for an invalid one, for every
action's request schema and for the schemas the fast path leaves to marshmallow."""
from __future__ import annotations

import importlib
from typing import Any

import pytest
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from jvp.api.actions import registry
from jvp.api.load import Loader
from jvp.api.schemas import Name, Ref, RequestSchema, Text
from jvp.app import API_MODULES

for _name in API_MODULES:
    importlib.import_module(f"jvp.api.{_name}")


def _same(schema_class: type[Schema], data: Any) -> None:
    loader = Loader(schema_class)
    try:
        expected = schema_class().load(data)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as got:
            loader(data)
        assert got.value.messages == exc.messages
        return
    got = loader(data)
    assert repr(got) == repr(expected)


class Inner(RequestSchema):
    code = Name()
    n = fields.Integer(strict=True, load_default=None, allow_none=True)


class Everything(RequestSchema):
    name = Name()
    ref = Ref(required=False)
    text = Text(max_length=10)
    flag = fields.Boolean(load_default=False)
    count = fields.Integer(strict=True, load_default=3, validate=validate.Range(min=1, max=5))
    listed = fields.List(fields.String(), load_default=list)
    inner = fields.Nested(Inner)
    mapping = fields.Dict(keys=fields.String(), values=fields.Integer())
    renamed = fields.String(data_key="other-name")
    sourced = fields.String(attribute="elsewhere")
    choice = fields.String(validate=validate.OneOf(["a", "b"]))


class Dotted(RequestSchema):
    a = fields.String(attribute="deep.key")


class PostLoaded(RequestSchema):
    a = fields.String()

    @post_load
    def _wrap(self, data: dict, **_kwargs: Any) -> dict:
        return {"wrapped": data}


class SchemaValidated(RequestSchema):
    a = fields.Integer()
    b = fields.Integer()

    @validates_schema
    def _order(self, data: dict, **_kwargs: Any) -> None:
        if data.get("a", 0) > data.get("b", 10):
            raise ValidationError("a must not exceed b")


class Excluding(RequestSchema):
    class Meta:
        unknown = EXCLUDE

    a = fields.String()


class Rewriting(RequestSchema):
    a = fields.String()

    @pre_load
    def _lower(self, data: Any, **_kwargs: Any) -> Any:
        return {k: v.lower() if isinstance(v, str) else v for k, v in data.items()} if isinstance(data, dict) \
            else data


CASES: list[Any] = [
    {"name": "web1"},
    {"name": "web1", "ref": "foo bar\tü", "text": "hello", "flag": True, "count": 5, "listed": ["x"],
     "inner": {"code": "c1"}, "mapping": {"k": 1}, "other-name": "r", "sourced": "s", "choice": "b"},
    {"other-name": "r", "name": "web1"},               # order of the body: the answer follows the fields
    {},                                                # required missing
    {"name": "web1", "unknown": 1},                    # unknown field
    {"name": "web1", "renamed": "x"},                  # the attribute name is not the data key
    {"name": "../etc"},                                # the name rule
    {"name": "web1", "text": "a\x00b"},                # hostile text (the pre-load net)
    {"name": "web1", "text": "x" * 11},                # a validator
    {"name": "web1", "count": "3"},                    # strict integer
    {"name": "web1", "count": 9},
    {"name": "web1", "flag": None},                    # None where not allowed
    {"name": "web1", "inner": {"code": "c", "extra": 1}},
    {"name": "web1", "inner": "nope"},
    {"name": "web1", "choice": "c"},
    {"name": "web1", "mapping": {"k": "v"}},
    {"name": 7},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("schema_class", [Everything, Inner, Dotted, PostLoaded, SchemaValidated, Excluding,
                                          Rewriting])
def test_same_as_marshmallow(schema_class: type[Schema], data: Any) -> None:
    _same(schema_class, data)


def test_fast_path_covers_plain_request_schemas_only() -> None:
    assert Loader(Everything)._plan is not None
    assert Loader(Rewriting)._plan is not None  # a pre-load hook is run as marshmallow runs it
    for schema_class in (Dotted, PostLoaded, SchemaValidated, Excluding):
        assert Loader(schema_class)._plan is None, schema_class


def test_rewriting_pre_load_applies() -> None:
    assert Loader(Rewriting)({"a": "ABC"}) == {"a": "abc"}


def test_load_defaults_are_fresh() -> None:
    loader = Loader(Everything)
    first = loader({"name": "a"})
    first["listed"].append("x")
    assert loader({"name": "a"})["listed"] == []


@pytest.mark.parametrize("action", [a.name for a in registry.all()])
def test_every_action_request(action: str) -> None:
    """Every action's request schema takes the fast path, and loads an empty body and a body of unknown
    fields as marshmallow does."""
    schema_class = registry.get(action).request
    assert Loader(schema_class)._plan is not None
    for data in ({}, {"zz-unknown": 1}, {"name": "web1", "node": "local"}, {"name": "x\ny"}):
        _same(schema_class, data)
