"""The HTTP edge: `POST /api/<action>` dispatch, auth, audit, request ids and the one error shape.

Every response carries `X-Request-Id`; every failure, whatever raised it, leaves as
`{"error": {"code", "message", "details", "request_id"}}` with the status of its class.
"""
from __future__ import annotations

import difflib
import json
import logging
import os
import re
import time
from typing import Any

import orjson
from flask import Flask, Response, g, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from jvp.api.actions import (Action, ActionContext, ActionRegistry, ByteStream, Principal, Role,
                             STREAM_DOWNLOAD, STREAM_UPLOAD, UPLOAD_MAX_BYTES)
from jvp.api.dump import Dumper
from jvp.api.load import Loader
from jvp.api.streams import RequestBody, check_upload_type, stream_response
from jvp.errors import Forbidden, InternalError, InvalidInput, JvpError, NotFound, PayloadTooLarge

log = logging.getLogger(__name__)
ANONYMOUS = Principal(name="anonymous", role=Role.ADMIN)  # every caller when auth is off
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
TARGET_KEYS = ("node", "pool", "vm", "network", "name")


def error_body(exc: JvpError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "details": exc.details,
                      "request_id": getattr(g, "request_id", None) or "-"}}


def error_response(exc: JvpError) -> Response:
    resp = jsonify(error_body(exc))
    resp.status_code = exc.status
    return resp


def _field_errors(messages: Any) -> dict[str, Any]:
    return messages if isinstance(messages, dict) else {"_schema": messages}


def _summarize(field_errors: dict[str, Any]) -> str:
    parts = []
    for key, val in list(field_errors.items())[:5]:
        if isinstance(val, dict):
            inner = "; ".join(f"{key}.{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                              for k, v in list(val.items())[:3])
            parts.append(inner)
        else:
            parts.append(f"{key}: {' '.join(map(str, val)) if isinstance(val, list) else val}")
    return "; ".join(parts)


def _without_surrogates(value: Any) -> Any:
    """Field errors keyed by what the client sent (an unknown field's name): lone UTF-16 surrogates become
    U+FFFD, so the answer is valid Unicode JSON."""
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return _SURROGATES.sub("\ufffd", value) if isinstance(value, str) else value


_SURROGATES = re.compile("[\ud800-\udfff]")


class _PerAction:
    """Each action's request loader and compiled answer dumper, built on first use and kept (a schema built per
    request was a quarter of describe-vm's time: jvp/api/dump.py; marshmallow's load pipeline per request was
    most of what validating a small request cost: jvp/api/load.py)."""

    def __init__(self) -> None:
        self._loaders: dict[str, Loader] = {}
        self._dumpers: dict[str, Dumper] = {}

    def loader(self, action: Action) -> Loader:
        loader = self._loaders.get(action.name)
        if loader is None or type(loader.schema) is not action.request:
            loader = self._loaders[action.name] = Loader(action.request)
        return loader

    def request(self, action: Action) -> Schema:
        return self.loader(action).schema

    def dumper(self, action: Action) -> Dumper:
        dumper = self._dumpers.get(action.name)
        if dumper is None or type(dumper.schema) is not action.response:
            dumper = self._dumpers[action.name] = Dumper(action.response)
        return dumper


_SCHEMAS = _PerAction()


def load_request(action: Action, raw: Any, check: bool = False) -> dict[str, Any]:
    """The action's request, loaded as marshmallow loads it (ValidationFailed when invalid). `check` (the API
    tests' JVP_CHECK_DUMP): the fast load must answer what marshmallow's own load answers, types and order."""
    loader = _SCHEMAS.loader(action)
    try:
        req = loader(raw)
    except ValidationError as exc:
        fe = _without_surrogates(_field_errors(exc.messages))
        raise InvalidInput(f"invalid request for {action.name}: {_summarize(fe)}", code="ValidationFailed",
                           details={"field_errors": fe}) from exc
    if check:
        try:
            expected = loader.by_marshmallow(raw)
        except ValidationError as exc:
            raise AssertionError(f"{action.name}: the fast load accepted what marshmallow refuses: "
                                 f"{exc.messages}") from exc
        if repr(req) != repr(expected):
            raise AssertionError(f"{action.name}: the fast load differs from marshmallow's:\n{req!r}\n"
                                 f"{expected!r}")
    return req


# No action takes JSON nested deeper than a few levels; a deeper body (e.g. `[[[[...` under the size limit)
# is refused before any recursive code (validation, audit redaction) sees it.
MAX_JSON_DEPTH = 32


def _too_deep() -> InvalidInput:
    return InvalidInput(f"the request body nests JSON deeper than {MAX_JSON_DEPTH} levels",
                       code="JsonTooDeep", details={"max_depth": MAX_JSON_DEPTH})


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit` (iterative: safe for any depth)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _body_bytes() -> bytes:
    """The request's body, at most max_body_bytes of it. A body without Content-Length (chunked) is read up
    to one byte past the limit, so one over it answers 413 (Werkzeug's own limit cuts it at the limit without
    a word, and the action would run on what was cut).

    The usual request (a plain decimal Content-Length, no Transfer-Encoding) is read here without Werkzeug's
    stream wrappers (its content_length property, get_input_stream, a LimitedStream read to the end: ~10 us
    per request, issue 15): a length over the limit is the same 413, and the body is the same Content-Length
    bytes Werkzeug's get_data reads (the server ends the input there), kept where get_data keeps it."""
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if length and length.isascii() and length.isdigit() and "HTTP_TRANSFER_ENCODING" not in environ:
        size = int(length)
        limit = request.max_content_length
        if limit is not None and size > limit:
            raise RequestEntityTooLarge()
        data = environ["wsgi.input"].read(size) if size else b""
        if len(data) < size and "wsgi.input_terminated" not in environ:
            raise ClientDisconnected()  # as Werkzeug's LimitedStream says of a body cut short
        request._cached_data = data  # what get_data(cache=True) keeps: a later get_data() answers the same
        return data
    if request.content_length is not None or "wsgi.input_terminated" not in request.environ:
        return request.get_data(cache=True)
    limit = request.max_content_length
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            block = stream.read(65536 if limit is None else min(65536, limit + 1 - total))
        except OSError as exc:   # the read timeout (http.body_timeout_s), or the client went away
            raise JvpError(f"the request body stopped arriving: {exc or type(exc).__name__}",
                           code="RequestTimeout", status=408) from exc
        except Exception as exc:  # noqa: BLE001 - the server's chunked decoder refuses a malformed body
            raise InvalidInput(f"the chunked request body is malformed: {exc}", code="BadHttpRequest") from exc
        if not block:
            break
        chunks.append(block)
        total += len(block)
        if limit is not None and total > limit:
            raise RequestEntityTooLarge()
    return b"".join(chunks)


# orjson reads an integer beyond 64 bits as a float (json.loads: an int, which validation then judges): a body
# with a run of 19 digits or more (anywhere, strings included: harmless) is read by json.loads alone
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _read_json_body() -> dict[str, Any]:
    # request.mimetype's test without its parse: the type is what precedes the first ";", stripped
    if request.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower().startswith("multipart/"):
        raise InvalidInput("send the request as a JSON object (Content-Type: application/json)",
                           code="InvalidJson")
    data = _body_bytes()
    if not data.strip():
        return {}
    try:
        if _LONG_DIGITS.search(data) is not None:
            body = json.loads(data)  # an integer orjson may read as a float: see _LONG_DIGITS
        else:
            try:
                # orjson where it accepts the text: the same value json.loads gives it, in a tenth of the time;
                # what it refuses (NaN, lone surrogates, UTF-16, a BOM, invalid JSON) is json.loads' to answer
                # or refuse, with its own message, as before
                body = orjson.loads(data)
            except orjson.JSONDecodeError:
                body = json.loads(data)
    except RecursionError:
        raise _too_deep() from None  # nested deeper than the parser goes
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}", code="InvalidJson") from exc
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise _too_deep()
    if not isinstance(body, dict):
        raise InvalidInput(f"the request body must be a JSON object, not {type(body).__name__}",
                           code="InvalidJson")
    return body


def _target(action: Action, req: dict[str, Any]) -> dict[str, Any] | None:
    target = {k: req[k] for k in TARGET_KEYS if isinstance(req.get(k), (str, int))}
    if "id" in req:
        target["id"] = req["id"]
    if not target:
        return None
    return {"kind": action.tag, **target}


def _task_id(result: Any) -> str | None:
    """The task an accepted asynchronous action (202) started: its answer is `{"task": {"id": ...}}`."""
    task = result.get("task") if isinstance(result, dict) else None
    return task.get("id") if isinstance(task, dict) and isinstance(task.get("id"), str) else None


def register(app: Flask, registry: ActionRegistry, services: Any) -> None:
    settings = services.settings

    @app.before_request
    def _start() -> None:
        ctx_g = g._get_current_object()  # one proxy lookup, not one per attribute
        incoming = request.environ.get("HTTP_X_REQUEST_ID")  # the X-Request-Id header, as request.headers reads it
        # 32 random hex digits, as uuid4().hex was, without building a UUID object per request
        ctx_g.request_id = incoming if incoming and _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        ctx_g.started = time.monotonic()

    @app.after_request
    def _finish(resp: Response) -> Response:
        headers = resp.headers
        # one pass over the headers the response has (each setdefault/set of Werkzeug's Headers walks them all)
        present = {key.lower() for key, _ in headers}
        rid = getattr(g, "request_id", "-")
        if "x-request-id" in present:
            headers["X-Request-Id"] = rid
        else:
            headers.add("X-Request-Id", rid)
        if "x-content-type-options" not in present:
            headers.add("X-Content-Type-Options", "nosniff")
        if "referrer-policy" not in present:
            headers.add("Referrer-Policy", "no-referrer")
        if "cache-control" not in present and request.path.startswith("/api/"):
            headers.add("Cache-Control", "no-store")
        return resp

    def authenticate() -> Principal:
        if not settings.auth:
            return ANONYMOUS
        return services.tokens.authenticate(request.environ.get("HTTP_AUTHORIZATION"))

    g_principal_key = "principal"

    @app.post("/api/<action_name>")
    def dispatch(action_name: str):
        action = registry.get(action_name)
        if action is None:
            close = difflib.get_close_matches(action_name, registry.names(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see GET /api/openapi.json"
            raise NotFound(f"unknown action '{action_name}'{hint}", code="UnknownAction",
                           details={"action": action_name, "suggestions": close})
        ctx_g = g._get_current_object()
        # Set before authenticating: a mutating call refused with 401 is audited too (no token name, no
        # request body: nothing of the presented credential is written).
        ctx_g.action = action
        principal = authenticate()
        setattr(ctx_g, g_principal_key, principal)
        if principal.role < action.role:
            raise Forbidden(f"action '{action.name}' needs the {action.role} role; token "
                            f"'{principal.name}' has {principal.role}", code="Forbidden",
                            details={"required_role": str(action.role), "role": str(principal.role)})
        if action.stream == STREAM_UPLOAD:
            # A disk image, not a JSON body: max_body_bytes does not apply (the pool's space bounds it).
            request.max_content_length = UPLOAD_MAX_BYTES
            check_upload_type(request)
            raw = request.args.to_dict()
        else:
            raw = _read_json_body()
            if action.stream == STREAM_DOWNLOAD and not raw:
                raw = request.args.to_dict()
        ctx_g.audit_params = raw
        check = app.config.get("JVP_CHECK_DUMP")  # the API tests: the fast load and dump against marshmallow's
        req = load_request(action, raw, check=bool(check))
        ctx_g.audit_target = _target(action, req)
        ctx = ActionContext(services=services, principal=principal, request_id=ctx_g.request_id, action=action)
        if action.stream == STREAM_UPLOAD:
            ctx.extra["body"] = RequestBody(request)
        result = action.handler(ctx, req)
        if action.mutating:
            status = ctx.status or action.status
            _audit(action, principal, ok=True, status=status, task_id=_task_id(result) if status == 202 else None)
        if isinstance(result, Response):
            return result
        if isinstance(result, ByteStream):
            return stream_response(result)
        if action.response:
            dumper = _SCHEMAS.dumper(action)
            body = dumper(result)
            if check:  # marshmallow's own dump must be the same JSON
                expected = app.json.dumps(dumper.by_marshmallow(result))
                if app.json.dumps(body) != expected:
                    raise AssertionError(f"{action.name}: the compiled dump differs from marshmallow's:\n"
                                         f"{app.json.dumps(body)}\n{expected}")
        else:
            body = result
        resp = app.json.response(body)  # what jsonify() answers, without its current_app lookup
        resp.status_code = ctx.status or action.status
        return resp

    @app.route("/api/<action_name>", methods=["GET", "PUT", "PATCH", "DELETE"])
    def wrong_method(action_name: str):
        raise JvpError(f"actions are called with POST /api/{action_name} and a JSON body",
                       code="MethodNotAllowed", status=405)

    def _audit(action: Action, principal: Principal | None, *, ok: bool, status: int,
               error_code: str | None = None, task_id: str | None = None) -> None:
        try:
            services.audit.record(
                request_id=g.request_id, action=action.name,
                token_name=principal.name if principal else None,
                role=str(principal.role) if principal else None,
                target=getattr(g, "audit_target", None), params=getattr(g, "audit_params", None),
                outcome="ok" if ok else "error", status=status, error_code=error_code,
                duration_ms=(time.monotonic() - g.started) * 1000, remote_addr=request.remote_addr,
                task_id=task_id)
        except Exception:  # noqa: BLE001 - a failing audit write must not turn success into a 500
            log.exception("could not write the audit entry for request %s", g.request_id)

    def _audit_failure(exc: JvpError) -> None:
        action = getattr(g, "action", None)
        if action is not None and action.mutating:
            _audit(action, getattr(g, g_principal_key, None), ok=False, status=exc.status,
                   error_code=exc.code)

    @app.errorhandler(JvpError)
    def _jvp_error(exc: JvpError):
        if exc.status >= 500 and exc.status != 503:   # 503: not built, busy (not a failure of JVP's)
            log.error("request %s failed: %s %s", g.get("request_id"), exc.code, exc.message)
        _audit_failure(exc)
        return error_response(exc)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        err = PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes "
                              "(setting max_body_bytes)", code="PayloadTooLarge",
                              details={"max_body_bytes": limit})
        _audit_failure(err)
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.code or 500, "HttpError")
        return error_response(JvpError(exc.description or exc.name, code=code, status=exc.code or 500))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error in request %s", g.get("request_id"))
        err = InternalError(f"internal error while handling the request; the server log has the details "
                            f"under request id {g.get('request_id')}", code="InternalError")
        _audit_failure(err)
        return error_response(err)
