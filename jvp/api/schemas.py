"""Schema building blocks shared by every api module."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, pre_load, validate, RAISE, ValidationError

from jvp.domain.base import ResponseSchema, ListErrorSchema  # noqa: F401 - shared with api modules

# Two kinds of names (SPEC 1, Validation; README "Names"):
# - a *creation name* (`Name()`): the name of an object JVP makes, matched in full (fullmatch: a trailing
#   newline is refused, where `$` would let it through); objects JVP keeps files for (nodes, keypairs,
#   templates, tokens) are only ever addressed by such names, so no other name can reach a file path;
# - a *reference* (`Ref()`): an object that exists in libvirt already (a VM, network, pool, volume or snapshot
#   made by virsh, virt-manager, an import) is addressed by its exact libvirt name, whatever it contains
#   ('foo bar', 'ünïcode', 'internal-root-child1&'), within bounds: 1-1024 characters, no control character
#   but tab (no NUL, no newline: libvirt refuses a newline in a domain name, and it would break HTTP headers
#   and logs), no lone surrogate and no U+FFFE/U+FFFF (characters XML cannot carry, so libvirt cannot hold
#   them in a name either). A reference is only ever handed to libvirt's lookups (and quoted in messages):
#   JVP never builds a path from it.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
NAME_HELP = ("1-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit "
             "(no '/', no '..')")
REF_MAX = 1024
REF_HELP = (f"the object's exact name: 1-{REF_MAX} characters, no control characters other than tab, "
            "no lone surrogates")
_REF_BAD = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def valid_name(value: str) -> bool:
    """A name JVP gives a new object: NAME_RE in full, never '..'."""
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None and ".." not in value


def valid_ref(value: str) -> bool:
    """The exact name of an existing object (see above)."""
    return isinstance(value, str) and 0 < len(value) <= REF_MAX and _REF_BAD.search(value) is None


class FullMatch(validate.Regexp):
    """validate.Regexp matched against the whole value (`$` alone also matches before a final newline, so
    'web1\n' passed); the OpenAPI document shows the same pattern."""

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def _valid_name(value: str) -> bool:
    if not valid_name(value):
        raise ValidationError(f"Invalid name {value!r}: {NAME_HELP}.")
    return True


def _valid_ref(value: str) -> bool:
    if not valid_ref(value):
        raise ValidationError(f"Invalid name {value[:80]!r}: {REF_HELP}.")
    return True


# -- free text ------------------------------------------------------------------------------------------
# Characters no request string may hold, whatever the field: NUL and the other C0 controls but tab, newline and
# carriage return; DEL and the C1 controls; UTF-16 surrogates (JSON's "\ud800" escape decodes to a lone one,
# which no UTF-8 file, YAML document or libvirt XML can carry); Unicode non-characters (U+FDD0..U+FDEF and the
# last two code points of every plane: U+FFFE, U+FFFF, U+1FFFE, ...).
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(chr(plane * 0x10000 + 0xfffe) + chr(plane * 0x10000 + 0xffff)
                                            for plane in range(17))
_NEVER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + _NONCHARACTERS + "]")
# ...and, in one-line text (labels, passwords, paths, names of things), no tab and no line break either.
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029]")
TEXT_HELP = "no NUL, control characters, lone surrogates or Unicode non-characters"


def _kind_of(char: str) -> str:
    code = ord(char)
    if code == 0:
        return "NUL"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone UTF-16 surrogate"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a tab or line break" if char in "\t\n\r" else "a control character"
    if code in (0x2028, 0x2029):
        return "a line break"
    return "a Unicode non-character"


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why `value` cannot be stored as text, or None. Tab, newline and carriage return pass only when
    `multiline` (user-data, file contents, scripts, descriptions)."""
    match = _NEVER.search(value) or (None if multiline else _LINE_BREAKS.search(value))
    if match is None:
        return None
    char = match.group()
    rule = f"text may hold {TEXT_HELP}" + ("" if multiline else "; this field is one line: no tab or line break")
    return f"Contains {_kind_of(char)} (U+{ord(char):04X}) at character {match.start()}: {rule}."


class TextField(fields.String):
    """A string refused with a 400 when it holds a character `text_problem` names (see Text())."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any):
        self.multiline = multiline
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, self.multiline)
        if problem:
            raise ValidationError(problem)
        return text


def Text(*, multiline: bool = False, max_length: int | None = None, min_length: int | None = None,  # noqa: N802
         **kwargs: Any) -> TextField:
    """The field of every free-text request value (descriptions, label values, passwords, user-data, paths,
    cloud-init fields): NUL, control characters, lone surrogates and non-characters are refused with a 400
    naming the field; tab and line breaks only where `multiline` (the text has lines: user-data, file contents,
    scripts, descriptions). `max_length`/`min_length` bound the length in characters."""
    validators = kwargs.pop("validate", None)
    validators = [] if validators is None else list(validators) if isinstance(validators, (list, tuple)) \
        else [validators]
    if max_length is not None or min_length is not None:
        validators.insert(0, validate.Length(min=min_length, max=max_length))
    return TextField(multiline=multiline, validate=validators, **kwargs)


def _allows_lines(field: fields.Field | None) -> bool:
    return bool(getattr(field, "multiline", False))


def _scan(value: Any, field: fields.Field | None, path: str = "") -> str | None:
    """The first hostile character in a raw request value (any depth), with where it is, or None. Values of
    nested request schemas are left to those schemas (their own pre-load check names the inner field)."""
    if isinstance(field, fields.Nested) and isinstance(field.schema, RequestSchema):
        return None
    if isinstance(field, RefField):  # a libvirt name: its own rule (valid_ref) applies
        return None
    if isinstance(value, str):
        problem = text_problem(value, _allows_lines(field))
        return f"{problem[:-1]} (at {path})." if problem and path else problem
    if isinstance(value, dict):
        values = field.value_field if isinstance(field, fields.Dict) else None
        for key, item in value.items():
            problem = text_problem(key) if isinstance(key, str) else None  # keys are one line
            if problem:
                return f"{problem[:-1]} (in a key{f' under {path}' if path else ''})."
            problem = _scan(item, values, f"{path}.{key}" if path else str(key))
            if problem:
                return problem
        return None
    if isinstance(value, list):
        inner = field.inner if isinstance(field, fields.List) else (field if _allows_lines(field) else None)
        for index, item in enumerate(value):
            problem = _scan(item, inner, f"{path}.{index}" if path else str(index))
            if problem:
                return problem
    return None


class RequestSchema(Schema):
    """Requests reject unknown fields (a typo must not pass silently), and every string in them, whatever its
    field (a key, a filter, an enum), is checked for hostile characters before the fields load: free text has
    its Text() field; this is the net for everything else, so nothing JVP cannot store reaches a service."""

    class Meta:
        unknown = RAISE
        ordered = True

    @pre_load
    def _refuse_hostile_text(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        by_key = {f.data_key or name: f for name, f in self.load_fields.items()}
        errors = {}
        for key, value in data.items():
            if key not in by_key:
                continue  # an unknown field: refused by name
            problem = _scan(value, by_key[key])
            if problem:
                errors[key] = [problem]
        if errors:
            raise ValidationError(errors)
        return data


def Name(**kwargs: Any) -> fields.String:  # noqa: N802 - a field factory reads like a field class
    kwargs.setdefault("required", True)
    return fields.String(validate=_valid_name, metadata={"description": NAME_HELP,
                                                         **kwargs.pop("metadata", {})}, **kwargs)


class RefField(fields.String):
    """A reference to an existing object: validated by its own rule (`valid_ref`: what libvirt itself lets a name
    hold, a tab included), not by the free-text net of RequestSchema."""


def Ref(**kwargs: Any) -> fields.String:  # noqa: N802
    """An existing VM, network, pool, volume or snapshot, by its exact libvirt name."""
    kwargs.setdefault("required", True)
    meta = kwargs.pop("metadata", {})
    return RefField(validate=_valid_ref, metadata={**meta, "description": (
        f"{meta['description']}; " if "description" in meta else "") + REF_HELP}, **kwargs)


def NodeRef(**kwargs: Any) -> fields.String:  # noqa: N802
    return fields.String(load_default="local", validate=_valid_name,
                         metadata={"description": "node name (default: local)"}, **kwargs)


def NodeFilter(**kwargs: Any) -> fields.String:  # noqa: N802
    """An optional node filter of a list action (absent: every node); validated like NodeRef, so a malformed
    name is a 400, never a store error."""
    return fields.String(validate=_valid_name, metadata={"description": "node name (default: all nodes)"},
                         **kwargs)


def Labels(**kwargs: Any) -> fields.Dict:  # noqa: N802
    return fields.Dict(keys=Text(validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")),
                       values=Text(max_length=256), validate=validate.Length(max=64), **kwargs)


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
