"""`GET /api/openapi.json`: OpenAPI 3 generated from the action registry's marshmallow schemas.

Errors come from the one code table (jvp/domain/errors.py): each action's declared codes appear under the
response of their status, one example each (its summary is the code's meaning), and are listed in
`x-jvp-errors`; the codes any action can answer with (auth, validation, node lookup, internal) are in the
document's `x-jvp-error-codes` with every other code, marked `generic`."""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields

import jvp
from jvp.api.actions import ActionRegistry, STREAM_DOWNLOAD, STREAM_UPLOAD
from jvp.api.schemas import NAME_RE, ErrorResponse, _valid_name
from jvp.domain.errors import ERRORS

_STATUS_TEXT = {400: "invalid input", 401: "missing or bad token", 403: "role not allowed",
                404: "not found", 405: "not POST", 408: "the request did not arrive in time (`RequestTimeout`)",
                409: "conflict", 411: "length required", 413: "body too large (`PayloadTooLarge`)",
                414: "request line too long (`UriTooLong`)", 422: "precondition on the host",
                431: "headers too large (`HeadersTooLarge`)", 500: "bug", 502: "node unreachable",
                503: "too busy (`ServerBusy`)"}
# Every action answers these (the generic codes of the table can come with any of them; 405, 408, 411, 414,
# 431 and 503 are refusals of the HTTP layer, in the same error shape).
_ALWAYS = (400, 401, 403, 404, 405, 408, 409, 411, 413, 414, 422, 431, 500, 502, 503)


def _error_responses(action, error_ref: dict[str, Any]) -> dict[str, Any]:
    """One response per status: the generic ones, plus the statuses of the action's declared codes, each
    declared code an example under its status (and under its other statuses, if any)."""
    by_status: dict[int, list[str]] = {s: [] for s in _ALWAYS}
    for code in action.errors:
        for status in ERRORS[code].statuses:
            by_status.setdefault(status, []).append(code)
    out: dict[str, Any] = {}
    for status in sorted(by_status):
        codes = by_status[status]
        content: dict[str, Any] = {"schema": error_ref}
        if codes:
            content["examples"] = {c: {"summary": ERRORS[c].meaning, "value": {"error": {
                "code": c, "message": ERRORS[c].meaning, "details": {}, "request_id": "-"}}} for c in codes}
        text = _STATUS_TEXT.get(status, "error")
        if codes:
            text += ": " + "; ".join(f"`{c}` {ERRORS[c].meaning}" for c in codes)
        out[str(status)] = {"description": text, "content": {"application/json": content}}
    return out


# The pattern JSON Schema readers (clients, Schemathesis) can check a name against: NAME_RE, anchored at both
# ends (in JSON Schema's regex dialect `$` is the end of the text; the '..' rule stays in the description).
NAME_PATTERN = "^" + NAME_RE.pattern.removeprefix("^").removesuffix("$") + "$"


def _jvp_field_attributes(self, field, ret: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """What apispec does not see in JVP's fields: a name's pattern (its validator is a function, not a
    validate.Regexp), and the bounds of a dict (Length on a Dict counts its keys: min/maxProperties, where
    apispec writes minLength/maxLength, which JSON Schema ignores for objects)."""
    out: dict[str, Any] = {}
    if isinstance(field, fields.Dict):
        for length, properties in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if length in ret:
                out[properties] = ret.pop(length)
    if "pattern" not in ret and any(v is _valid_name for v in field.validators):
        out["pattern"] = NAME_PATTERN
    return out


def _schema_name(resolver_schema) -> str:
    cls = resolver_schema if isinstance(resolver_schema, type) else type(resolver_schema)
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") and len(name) > 6 else name


def build_spec(registry: ActionRegistry) -> dict[str, Any]:
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="JVP API", version=jvp.__version__, openapi_version="3.0.3",
        info={"description": "Every operation is an action: POST /api/<verb>-<noun> with a JSON body. "
                             "Errors share one shape (components/schemas/ErrorResponse)."},
        plugins=[plugin],
    )
    plugin.converter.add_attribute_function(_jvp_field_attributes)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("ErrorResponse", schema=ErrorResponse)
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for action in registry.all():
        responses: dict[str, Any] = {}
        ok = str(action.status)
        if action.stream == STREAM_DOWNLOAD:
            responses[ok] = {"description": "the volume's bytes",
                             "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}}
        elif action.response is not None:
            responses[ok] = {"description": "success",
                             "content": {"application/json": {"schema": action.response}}}
        else:
            responses[ok] = {"description": "success"}
        responses.update(_error_responses(action, error_ref))
        operation: dict[str, Any] = {
            "operationId": action.name, "summary": action.summary or action.name, "tags": [action.tag],
            "security": [{"bearer": []}], "responses": responses,
            "x-jvp-role": str(action.role), "x-jvp-mutating": action.mutating,
        }
        if action.errors:
            operation["x-jvp-errors"] = list(action.errors)
        if action.stream == STREAM_UPLOAD:
            operation["parameters"] = [{"in": "query", "schema": action.request}]
            operation["requestBody"] = {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
        else:
            operation["requestBody"] = {"required": False, "content": {
                "application/json": {"schema": action.request}}}
        spec.path(path=f"/api/{action.name}", operations={"post": operation})
    doc = spec.to_dict()
    doc["x-jvp-error-codes"] = {c: {"status": e.status, "meaning": e.meaning, "generic": e.generic,
                                    **({"also": list(e.also)} if e.also else {})} for c, e in ERRORS.items()}
    return doc
