"""Every request field of every action follows issue 14's input rules (a static walk of the registry's schemas):
free text is a Text() field (hostile characters refused, tab and newline only where the text has lines), any
other string is a closed vocabulary (a name, an enum, a pattern), and integers are strict (1.5, "2" and true
are refused, never truncated or converted)."""
from __future__ import annotations

import importlib
from typing import Iterator

import pytest
from marshmallow import Schema, fields, validate

from jvp.api.actions import registry
from jvp.api.schemas import RequestSchema, Text, TextField, text_problem
from jvp.app import API_MODULES

for _name in API_MODULES:
    importlib.import_module(f"jvp.api.{_name}")


def _fields(schema: Schema, where: str) -> Iterator[tuple[str, fields.Field]]:
    for name, field in schema.load_fields.items():
        yield from _walk(field, f"{where}.{name}")


def _walk(field: fields.Field, where: str) -> Iterator[tuple[str, fields.Field]]:
    if isinstance(field, fields.Nested):
        yield from _fields(field.schema, where)
    elif isinstance(field, fields.List):
        yield from _walk(field.inner, f"{where}[]")
    elif isinstance(field, fields.Dict):
        if field.key_field is not None:
            yield from _walk(field.key_field, f"{where}{{key}}")
        if field.value_field is not None:
            yield from _walk(field.value_field, f"{where}{{value}}")
    else:
        yield where, field


ALL = [(f"{a.name}:{where}", field) for a in registry.all() if a.request
       for where, field in _fields(a.request(), a.name)]


def _closed(field: fields.Field) -> bool:
    """A string that can only be one of a known set or shape (a name, an enum, a pattern)."""
    validators = field.validators if hasattr(field, "validators") else []
    return any(isinstance(v, (validate.OneOf, validate.Regexp)) or getattr(v, "__name__", "").startswith("_valid")
               for v in validators)


def test_the_walk_sees_every_action():
    assert len({name.split(":")[0] for name, _ in ALL}) >= 60


def test_every_integer_is_strict():
    loose = [name for name, f in ALL if isinstance(f, fields.Integer) and not f.strict]
    assert loose == []


def test_every_string_is_text_or_a_closed_vocabulary():
    open_strings = [name for name, f in ALL if isinstance(f, fields.String) and not isinstance(f, TextField)
                    and not _closed(f)]
    assert open_strings == []


def test_every_request_schema_has_the_hostile_text_net():
    """The net (RequestSchema's pre-load check) covers strings of every field, also closed vocabularies whose
    pattern ends in `$` (which lets a trailing newline through): every request and nested schema has it."""
    def schemas(schema_cls, seen):
        seen.add(schema_cls)
        for field in schema_cls().load_fields.values():
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, fields.Nested) and type(inner.schema) not in seen:
                schemas(type(inner.schema), seen)
        return seen
    found = set()
    for action in registry.all():
        if action.request:
            schemas(action.request, found)
    assert len(found) > 40 and [s.__name__ for s in found if not issubclass(s, RequestSchema)] == []


@pytest.mark.parametrize("value,multiline,ok", [
    ("plain text, accents é, emoji \U0001f600", False, True),
    ("tab\tand\nnewline\r\n", True, True),
    ("tab\t", False, False), ("new\nline", False, False), ("cr\r", False, False), ("ls\u2028", False, False),
    ("nul\x00", True, False), ("esc\x1b", True, False), ("del\x7f", True, False), ("c1\x85", True, False),
    ("surrogate\ud800", True, False), ("low\udc00", True, False),
    ("nonchar\ufffe", True, False), ("nonchar\uffff", True, False), ("nonchar\ufdd0", True, False),
    ("nonchar\U0010ffff", True, False), ("nbsp\xa0 and \ufdf0 are fine", False, True),
])
def test_text_problem(value, multiline, ok):
    problem = text_problem(value, multiline)
    assert (problem is None) == ok, problem
    if problem:
        assert "U+" in problem and value not in problem


def test_text_field_names_the_character_and_keeps_good_text():
    class S(RequestSchema):
        one = Text(max_length=5)
        many = Text(multiline=True)
    assert S().load({"one": "abc", "many": "a\nb"}) == {"one": "abc", "many": "a\nb"}
    from marshmallow import ValidationError
    with pytest.raises(ValidationError) as exc:
        S().load({"one": "a\tb", "many": "x\ud800"})
    assert set(exc.value.messages) == {"one", "many"}
    assert "U+0009" in exc.value.messages["one"][0] and "U+D800" in exc.value.messages["many"][0]
    with pytest.raises(ValidationError) as exc:
        S().load({"one": "abcdef"})
    assert "Longer than maximum length 5" in exc.value.messages["one"][0]
