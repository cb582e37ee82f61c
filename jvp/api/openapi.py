"""`GET /api/openapi.json`: OpenAPI 3 generated from the action registry's marshmallow schemas."""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

import jvp
from jvp.api.actions import ActionRegistry, STREAM_DOWNLOAD, STREAM_UPLOAD
from jvp.api.schemas import ErrorResponse

_STATUS_TEXT = {400: "invalid input", 401: "missing or bad token", 403: "role not allowed",
                404: "not found", 409: "conflict", 413: "body too large", 422: "precondition on the host",
                500: "bug", 502: "node unreachable"}


def _schema_name(resolver_schema) -> str:
    cls = resolver_schema if isinstance(resolver_schema, type) else type(resolver_schema)
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") and len(name) > 6 else name


def build_spec(registry: ActionRegistry) -> dict[str, Any]:
    spec = APISpec(
        title="JVP API", version=jvp.__version__, openapi_version="3.0.3",
        info={"description": "Every operation is an action: POST /api/<verb>-<noun> with a JSON body. "
                             "Errors share one shape (components/schemas/ErrorResponse)."},
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
    )
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
        for status, text in _STATUS_TEXT.items():
            responses[str(status)] = {"description": text, "content": {"application/json": {"schema": error_ref}}}
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
    return spec.to_dict()
