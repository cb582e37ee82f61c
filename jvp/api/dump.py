"""Answers dumped without marshmallow's per-request cost, to exactly what marshmallow would produce.

`action.response().dump(result)` built the response schema on every request: `Schema.__init__` deep-copies
every declared field and every Nested field builds its own schema again on first use, which was 26% of
describe-vm. `Dumper(schema_class)` builds one schema instance per action, once, and compiles it into plain
functions, one per field, that do what marshmallow's `Schema.dump` does for that field:

- the value is read as `marshmallow.utils.get_value` reads it (a dict's key, else the attribute), a missing
  one takes the field's `dump_default` or leaves the key out; `attribute=` and `data_key=` are honoured;
- `String` -> `str` (bytes decoded), `Integer` -> `int(v)`, `Float` -> `float(v)` (a value already of that
  exact type is taken as it is: same result, no call), `Boolean`/`Raw` as they are, a `Dict` without key or
  value fields -> a `dict` copy, `List` item by item, `Nested` through the nested schema's own compiled dumper;
  None stays None.
- anything else (a field class that overrides how it serializes, e.g. TrustedRows, Pluck, a custom field; a
  field with `as_string`; a schema with pre/post-dump hooks or its own get_attribute) is handed to
  marshmallow's own code for that field or schema, on the same cached instance.

So the answer is the same JSON, byte for byte (tests/api/test_golden.py replays recorded answers; the API test
fixture sets `JVP_CHECK_DUMP`, which makes every answer of the API tests compare this dump with marshmallow's),
and the OpenAPI document is unchanged (it reads the schema classes). Request schemas are instantiated once
per action the same way (`Schema.load` keeps no state between calls).
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type, get_value

# (value, attr, obj) -> serialized value; attr and obj only matter to the fields handed to marshmallow
Serializer = Callable[[Any, str, Any], Any]
_NOTHING = object()  # a dict's key is not there (marshmallow then tries the attribute)


def _same(cls: type, base: type, *names: str) -> bool:
    """`cls` serializes as `base` does (it does not override these methods)."""
    return all(getattr(cls, n) is getattr(base, n) for n in names)


class _Compiler:
    """Compiles schemas on request threads: a Nested field compiles its schema on first use, which may be two
    requests' first use at once. A dump is put in `_schemas` only once complete, under the lock, so no thread
    ever uses a half-built one. Compiling a schema never compiles another (a Nested field's schema is compiled
    when a dump first reaches it), so a schema nesting itself needs nothing more; the lock is re-entrant
    because that first use, already holding it, asks `schema` for the nested one."""

    def __init__(self) -> None:
        self._schemas: dict[int, Callable[[Any, bool], Any]] = {}
        self._lock = threading.RLock()

    def schema(self, schema: Schema) -> Callable[[Any, bool], Any]:
        """dump(obj, many) of this schema instance."""
        known = self._schemas.get(id(schema))
        if known is not None:
            return known
        with self._lock:
            known = self._schemas.get(id(schema))
            if known is None:
                known = self._schemas[id(schema)] = self._compile(schema)
            return known

    def _compile(self, schema: Schema) -> Callable[[Any, bool], Any]:
        cls = type(schema)
        if (schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.dict_class is not dict
                or not _same(cls, Schema, "dump", "_serialize", "get_attribute")):
            return lambda obj, many: schema.dump(obj, many=many)
        plan: list[tuple[str, str, str, Any, Serializer]] = []
        by_getattr: list[Callable[[Any], dict[str, Any]]] = []  # the plan as one function: _straight_line

        def dump(obj: Any, many: bool) -> Any:
            if many and obj is not None:
                return [dump(each, False) for each in obj]
            out = {}
            exact_dict = type(obj) is dict
            # marshmallow's get_value reads an object without __getitem__ (a view dataclass) by getattr alone
            plain = not exact_dict and not hasattr(obj, "__getitem__")
            if plain:
                return by_getattr[0](obj)
            for key, attr, src, default, ser in plan:
                if src is None:  # a field marshmallow serializes whole (it reads its own value)
                    value = ser(None, attr, obj)
                    if value is not missing:
                        out[key] = value
                    continue
                if exact_dict:
                    value = obj.get(src, _NOTHING)
                    if value is _NOTHING:  # get_value falls back to the attribute when the key is not there
                        value = get_value(obj, src, missing)
                else:
                    value = get_value(obj, src, missing)
                if value is missing:
                    if default is missing:
                        continue
                    value = default() if callable(default) else default
                    if value is missing:
                        continue
                out[key] = ser(value, attr, obj)
            return out

        for attr, field in schema.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr
            if not (field._CHECK_ATTRIBUTE and _same(type(field), fields.Field, "serialize", "get_value")) \
                    or "." in (field.attribute or attr):  # a dotted path: marshmallow walks it
                plan.append((key, attr, None, missing, self._whole(field, schema)))
                continue
            src = field.attribute if field.attribute is not None else attr
            plan.append((key, attr, src, field.dump_default, self.field(field)))
        by_getattr.append(_straight_line(plan))
        return dump

    @staticmethod
    def _whole(field: fields.Field, schema: Schema) -> Serializer:
        return lambda _value, attr, obj: field.serialize(attr, obj, accessor=schema.get_attribute)

    def field(self, field: fields.Field) -> Serializer:
        cls = type(field)
        own = cls._serialize
        if own is fields.String._serialize:
            return _as_str
        if own is fields.Number._serialize and not field.as_string and field.num_type in (int, float) \
                and _same(cls, fields.Number, "_format_num", "_to_string"):
            return _as_int if field.num_type is int else _as_float
        if own is fields.Field._serialize:  # Boolean, Raw: the value as it is
            return _as_is
        if own is fields.Mapping._serialize and field.key_field is None and field.value_field is None:
            mapping = field.mapping_type
            return lambda v, a, o: None if v is None else mapping(v)
        if own is fields.List._serialize:
            inner = self.field(field.inner)
            return lambda v, a, o: None if v is None else [inner(each, a, o) for each in v]
        if own is fields.Nested._serialize and cls is fields.Nested:
            compiled: list[tuple[Callable[[Any, bool], Any], bool]] = []

            def nested(v: Any, a: str, o: Any) -> Any:
                if v is None:
                    return None
                if not compiled:  # on first use, as marshmallow builds it (a schema may nest itself)
                    with self._lock:  # field.schema is built once, and compiled[0] set once, whatever the threads
                        if not compiled:
                            schema = field.schema
                            compiled.append((self.schema(schema), bool(schema.many or field.many)))
                dump, many = compiled[0]
                return dump(v, many)
            return nested
        return field._serialize  # marshmallow's own (TrustedRows, Pluck, a custom field, as_string, ...)


def _as_str(v: Any, a: str, o: Any) -> Any:
    return v if v is None or type(v) is str else ensure_text_type(v)


def _as_int(v: Any, a: str, o: Any) -> Any:
    return v if v is None or type(v) is int else int(v)


def _as_float(v: Any, a: str, o: Any) -> Any:
    return v if v is None or type(v) is float else float(v)


def _as_is(v: Any, a: str, o: Any) -> Any:
    return v


# the serializers written inline by _straight_line ({} is the value's variable)
_INLINE = {_as_str: "{v} if {v} is None or type({v}) is str else _text({v})",
           _as_int: "{v} if {v} is None or type({v}) is int else int({v})",
           _as_float: "{v} if {v} is None or type({v}) is float else float({v})",
           _as_is: "{v}"}


def _straight_line(plan: list[tuple[str, str, str | None, Any, Serializer]]) -> Callable[[Any], dict[str, Any]]:
    """The dump of an object read by getattr (a view dataclass), as one function with a statement per field
    instead of the loop over the plan: the same reads, defaults, serializers and key order as that loop
    (`dump` above, `plain` objects), without a tuple, a branch and a call per field (list-nodes' dump of two
    nodes: 24 -> ~10 us). The generated text holds no value from a request: keys and attribute names come
    from the schema's declaration (written with repr), everything else is passed in by name."""
    names: dict[str, Any] = {"_missing": missing, "_text": ensure_text_type, "_getattr": getattr}
    lines = ["def dump_plain(obj):", "    out = {}"]
    for i, (key, attr, src, default, ser) in enumerate(plan):
        names[f"_ser{i}"] = ser
        names[f"_default{i}"] = default
        inline = _INLINE.get(ser)
        expr = inline.replace("{v}", "v") if inline is not None else f"_ser{i}(v, {attr!r}, obj)"
        if src is None:  # a field marshmallow serializes whole (it reads its own value)
            lines += [f"    v = _ser{i}(None, {attr!r}, obj)", f"    if v is not _missing: out[{key!r}] = v"]
            continue
        lines.append(f"    v = _getattr(obj, {src!r}, _missing)")
        if default is missing:
            lines += ["    if v is not _missing:", f"        out[{key!r}] = {expr}"]
            continue
        lines += ["    if v is _missing:", f"        v = _default{i}()" if callable(default) else f"        v = _default{i}",
                  "    if v is not _missing:", f"        out[{key!r}] = {expr}"]
    lines.append("    return out")
    exec(compile("\n".join(lines), "<jvp.api.dump>", "exec"), names)  # noqa: S102 - the text is ours, see above
    return names["dump_plain"]


class Dumper:
    """One action's answer: the schema instance, built once, and its compiled dump."""

    def __init__(self, schema_class: type[Schema], compiler: _Compiler | None = None) -> None:
        self.schema = schema_class()
        self._dump = (compiler or _Compiler()).schema(self.schema)

    def __call__(self, obj: Any) -> Any:
        return self._dump(obj, bool(self.schema.many))

    def by_marshmallow(self, obj: Any) -> Any:
        """What marshmallow's own dump answers (a fresh instance, as before): the check of the tests."""
        return type(self.schema)().dump(obj)
