"""Schema building blocks shared by every api module."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate, RAISE, ValidationError

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


class RequestSchema(Schema):
    """Requests reject unknown fields (a typo must not pass silently)."""

    class Meta:
        unknown = RAISE
        ordered = True


def Name(**kwargs: Any) -> fields.String:  # noqa: N802 - a field factory reads like a field class
    kwargs.setdefault("required", True)
    return fields.String(validate=_valid_name, metadata={"description": NAME_HELP,
                                                         **kwargs.pop("metadata", {})}, **kwargs)


def Ref(**kwargs: Any) -> fields.String:  # noqa: N802
    """An existing VM, network, pool, volume or snapshot, by its exact libvirt name."""
    kwargs.setdefault("required", True)
    meta = kwargs.pop("metadata", {})
    return fields.String(validate=_valid_ref, metadata={**meta, "description": (
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
    return fields.Dict(keys=fields.String(validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")),
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
