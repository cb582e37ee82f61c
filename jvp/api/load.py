"""Requests loaded without marshmallow's per-call machinery, to exactly what marshmallow's `Schema.load` answers.

`Schema.load` runs a general pipeline on every call (an error store, the hook lookups of five kinds, a closure
and an error-catching wrapper per field, the partial and unknown options, the unknown-field scan), which cost
more than the rest of a small action's validation. `Loader(schema_class)` builds the schema instance once and,
for a request that is valid, does only what that pipeline does for it:

- the schema's pre-load hooks, called as marshmallow calls them (RequestSchema's hostile-text check);
- a body with a key no field reads goes to marshmallow (which refuses it: `unknown = RAISE`);
- every field in declaration order: `field.deserialize(raw value or missing, data key, data)`, marshmallow's own
  per-field code (required, load_default, allow_none, the type, the validators, Nested loads); a result other
  than `missing` is stored under the field's attribute name.

Anything else goes to marshmallow's `Schema.load` on the same instance, whose answer or error is then the
answer: a body that is not a plain dict, any ValidationError on the way (so every refusal, its message and its
field errors are marshmallow's own), and every schema the fast path does not cover (post-load hooks, field or
schema validators, partial, many, a dotted attribute, a schema class that overrides how it loads). A valid
request costs one extra dict per call at most; an invalid one is loaded twice (the second time by marshmallow,
for its error). The API tests compare each loaded request with a fresh schema's `load` (`JVP_CHECK_DUMP`).
"""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import RAISE, Schema, ValidationError, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

# the Schema methods of the load pipeline that the fast path re-does: a class overriding one is left to marshmallow
_PIPELINE = ("load", "_do_load", "_deserialize", "_invoke_load_processors", "_invoke_processors",
             "_invoke_field_validators", "_invoke_schema_validators")


class Loader:
    """One action's request schema: the instance, built once, and its load."""

    def __init__(self, schema_class: type[Schema]) -> None:
        self.schema = schema = schema_class()
        self._pre: list[Callable[..., Any]] = []
        self._plan: list[tuple[str, str, Callable[..., Any]]] | None = None
        self._keys: frozenset[str] = frozenset()
        hooks = schema._hooks
        if (schema.many or schema.partial or schema.unknown != RAISE or hooks[POST_LOAD] or hooks[VALIDATES]
                or hooks[VALIDATES_SCHEMA] or any(getattr(type(schema), n) is not getattr(Schema, n)
                                                  for n in _PIPELINE)):
            return
        for attr_name, pass_collection, kwargs in hooks[PRE_LOAD]:
            if kwargs.get("pass_original"):
                return
            # marshmallow runs the pass_collection ones first; with many=False both kinds get the one dict
            self._pre.append((0 if pass_collection else 1, getattr(schema, attr_name)))
        self._pre = [fn for _, fn in sorted(self._pre, key=lambda p: p[0])]
        plan = []
        for attr_name, field in schema.load_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            target = field.attribute or attr_name
            if "." in target:  # marshmallow's set_value builds nested dicts for it
                return
            plan.append((key, target, field.deserialize))
        self._plan = plan
        self._keys = frozenset(key for key, _, _ in plan)

    def __call__(self, data: Any) -> dict[str, Any]:
        plan = self._plan
        if plan is not None and type(data) is dict:
            try:
                processed = data
                for hook in self._pre:
                    processed = hook(processed, many=False, partial=None, unknown=RAISE)
                if type(processed) is dict and self._keys.issuperset(processed):
                    out: dict[str, Any] = {}
                    for key, target, deserialize in plan:
                        value = deserialize(processed.get(key, missing), key, processed)
                        if value is not missing:
                            out[target] = value
                    return out
            except ValidationError:
                pass  # marshmallow's own load says what is wrong, with its messages
        return self.schema.load(data)

    def by_marshmallow(self, data: Any) -> Any:
        """What marshmallow's own load answers (a fresh instance, as before): the check of the API tests."""
        return type(self.schema)().load(data)
