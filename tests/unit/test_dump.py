"""The compiled answer dumper (jvp/api/dump.py) answers what marshmallow's own dump answers, field by field and
edge by edge; every action's answer schema compiles; the schema instances are built once per action."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from jvp.api.actions import registry
from jvp.api.dump import Dumper
from jvp.app import API_MODULES
from jvp.domain.base import Problem, ResponseSchema
from jvp.domain.vm import VmListResponse, VmSummarySchema
from jvp.hypervisor import domain_summary


class Inner(ResponseSchema):
    code = fields.String(required=True)
    n = fields.Integer(allow_none=True)


class Everything(ResponseSchema):
    s = fields.String()
    i = fields.Integer()
    f = fields.Float()
    b = fields.Boolean()
    raw = fields.Raw()
    d = fields.Dict()
    typed = fields.Dict(keys=fields.String(), values=fields.Integer())
    li = fields.List(fields.Integer())
    nested = fields.Nested(Inner, allow_none=True)
    many = fields.List(fields.Nested(Inner))
    many_flag = fields.Nested(Inner, many=True)
    renamed = fields.String(data_key="other-name")
    sourced = fields.String(attribute="elsewhere")
    dotted = fields.String(attribute="deep.key")
    defaulted = fields.String(dump_default="dflt")
    called = fields.Integer(dump_default=lambda: 7)
    as_text = fields.Integer(as_string=True)
    method = fields.Method("_shout")
    function = fields.Function(lambda obj: "fn")
    constant = fields.Constant(42)
    plucked = fields.Pluck(Inner, "code")
    only = fields.Nested(Inner, only=("code",))

    def _shout(self, obj: Any) -> str:
        return "method"


class Hooked(ResponseSchema):
    a = fields.String()

    @post_dump
    def _add(self, data: dict, **_kwargs: Any) -> dict:
        return {**data, "hooked": True}


@dataclasses.dataclass
class Obj:
    s: Any = "x"
    i: Any = 1
    code: str = "c"
    n: Any = None


VALUES: list[dict[str, Any]] = [
    {},  # every key missing: left out, or the dump default
    {"s": "x", "i": 3, "f": 1.5, "b": True, "raw": [1, {"a": None}], "d": {"k": [1]}, "typed": {"a": "5"},
     "li": ["1", 2, True], "nested": {"code": "c", "n": "4"}, "many": [{"code": "a"}, {"code": "b", "n": 1}],
     "many_flag": [{"code": "m"}], "renamed": "r", "elsewhere": "src", "deep": {"key": "v"}, "as_text": 12,
     "plucked": {"code": "p"}, "only": {"code": "o", "n": 9}, "defaulted": "given", "called": 1},
    {"s": None, "i": None, "f": None, "b": None, "d": None, "li": None, "nested": None, "many": None,
     "typed": None, "as_text": None, "plucked": None, "only": None},
    {"s": b"bytes", "i": True, "f": 2, "b": 0, "li": [False, 3.9], "nested": Obj(n=2.7), "many": [Obj()],
     "s_extra": "ignored"},
    {"s": 5, "i": 4.9, "f": "1e3", "many": (Obj(code="t"),), "nested": {"code": 1}},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_compiled_dump_is_marshmallows_to_the_byte(value):
    dumper = Dumper(Everything)
    assert json.dumps(dumper(value)) == json.dumps(Everything().dump(value))
    assert dumper(value) == dumper.by_marshmallow(value)


def test_objects_are_read_by_attribute_as_marshmallow_reads_them():
    dumper = Dumper(Inner)
    for obj in (Obj(), Obj(code="z", n="12"), dataclasses.replace(Obj(), n=None)):
        assert json.dumps(dumper(obj)) == json.dumps(Inner().dump(obj))


def test_a_dict_missing_a_key_falls_back_to_the_attribute_as_marshmallow_does():
    class Odd(ResponseSchema):
        keys = fields.Raw()  # a dict has no key "keys" here, but an attribute of that name
    dumper, value = Dumper(Odd), {}
    assert set(dumper(value)) == set(Odd().dump(value)) == {"keys"}


def test_a_schema_with_dump_hooks_is_left_to_marshmallow():
    assert Dumper(Hooked)({"a": "1"}) == {"a": "1", "hooked": True}


def test_a_schema_nesting_itself_compiles():
    class Tree(Schema):
        name = fields.String()
        children = fields.List(fields.Nested(lambda: Tree()))
    value = {"name": "a", "children": [{"name": "b", "children": [{"name": "c", "children": []}]}]}
    assert Dumper(Tree)(value) == Tree().dump(value)


def test_first_dumps_on_several_threads_at_once_each_get_the_whole_answer():
    """A Nested field compiles its schema on the first dump that reaches it: several requests' first dump at
    once (a fresh worker) must each wait for the whole compiled dump, never use a half-compiled one (a real
    describe-vm under concurrent requests answered 500, IndexError, before the compiler's lock)."""
    import threading
    import time

    from jvp.api.dump import _Compiler

    class SlowCompiler(_Compiler):  # widens the window in which another thread could see a half-built dump
        def field(self, field: fields.Field) -> Any:
            time.sleep(0.002)
            return super().field(field)

    @dataclasses.dataclass
    class Row:
        code: str
        n: int

    @dataclasses.dataclass
    class Outer:
        rows: list
        one: Row

    class OuterSchema(ResponseSchema):
        rows = fields.List(fields.Nested(Inner))
        one = fields.Nested(Inner)

    value = Outer(rows=[Row("a", 1), Row("b", 2)], one=Row("c", 3))
    expected = OuterSchema().dump(value)
    for _ in range(5):
        dumper = Dumper(OuterSchema, compiler=SlowCompiler())
        start, answers, errors = threading.Barrier(6), [], []

        def first_dump() -> None:
            start.wait()
            try:
                answers.append(dumper(value))
            except Exception as exc:  # noqa: BLE001 - what the request thread would have turned into a 500
                errors.append(exc)
        threads = [threading.Thread(target=first_dump) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and answers == [expected] * 6


def test_every_action_answer_compiles_and_dumps_nothing_as_marshmallow_does():
    import importlib
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    for action in registry.all():
        if action.response is None:
            continue
        dumper = Dumper(action.response)
        assert dumper({}) == action.response().dump({}), action.name


def test_list_rows_are_built_in_the_answers_order_so_the_dump_takes_them_as_they_stand():
    facts = domain_summary.unreadable_facts("vm", "u")
    row = domain_summary.summary(facts, node="n", state="running", ips={},
                                 problems=[{"code": "X", "message": "m"}])
    assert tuple(row) == tuple(VmSummarySchema().fields)
    answer = Dumper(VmListResponse)({"vms": [row], "errors": []})
    assert answer["vms"][0] is row  # no copy
    # a row in another order (or with more keys) is still answered in the schema's order, with its keys only
    shuffled = {**dict(reversed(list(row.items()))), "extra": 1}
    again = Dumper(VmListResponse)({"vms": [shuffled], "errors": []})["vms"][0]
    assert list(again) == list(row) and again == row


def test_problem_views_dump_as_before():
    dumper = Dumper(type("P", (ResponseSchema,), {"p": fields.Nested(
        type("PS", (ResponseSchema,), {"code": fields.String(), "message": fields.String()}))}))
    assert dumper({"p": Problem(code="A", message="b")}) == {"p": {"code": "A", "message": "b"}}


class _Bare:
    """An object with none of the fields' attributes: every field missing (left out, or its dump default)."""


@pytest.mark.parametrize("value", [v for v in VALUES if v] , ids=range(len(VALUES) - 1))
def test_objects_read_by_attribute_dump_as_marshmallow_does(value):
    # the straight-line dump of an object without __getitem__ (a view dataclass), every kind of field: the
    # same keys, order, defaults and values as marshmallow's (and as the dict's)
    fields_ = {k.replace("-", "_"): v for k, v in value.items()}
    deep = fields_.pop("deep", None)
    obj = type("View", (), {})()
    for k, v in fields_.items():
        setattr(obj, k, v)
    if deep is not None:
        obj.deep = type("Deep", (), {"key": deep["key"]})()
    dumper = Dumper(Everything)
    assert json.dumps(dumper(obj)) == json.dumps(Everything().dump(obj))
    assert json.dumps(dumper(_Bare())) == json.dumps(Everything().dump(_Bare()))
    assert list(dumper(_Bare())) == ["defaulted", "called", "method", "function", "constant"]
