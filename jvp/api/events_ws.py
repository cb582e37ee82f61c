"""The events stream: `GET /ws/events` (a websocket; README: Events), served by the same gunicorn workers as
the API, like the consoles (jvp/api/console_ws.py).

The credential never goes into the URL (URLs are logged by the access log, proxies and browsers): a client
that can set headers sends `Authorization: Bearer <token>` with the handshake; a browser, which cannot, sends
`{"type": "auth", "token": "<token>"}` as its first message within `events.auth_timeout_s`.

Refusals: before the handshake as ordinary HTTP errors in JVP's one shape: Origin (403 OriginNotAllowed), an
unknown kind in the query (400 ValidationFailed), a free stream slot (503 EventStreamLimitReached), and, with
an Authorization header, the token (401), the role (403 Forbidden for `audit` below admin) and the nodes
(404 NodeNotFound). After the handshake (first-message auth) as a websocket close whose code and reason say
why (browsers see both): 4400 a malformed first message, 4401 no/unknown/expired token (or none within the
timeout), 4403 a kind the role may not read, 4404 an unknown node. A stream whose token is revoked or expires
while it is open is closed with 4401 at the next heartbeat; a client that reads too slowly with 4429; a
stopping server closes with 1001. Close reasons are `<Code>: <message>`, at most 123 bytes.

Query (all optional): `kinds=vm,task,audit,node` (default: every kind the role may read), `node=NAME`
(repeatable, or comma-separated; default: every node).
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any

from flask import Flask, g, request
from simple_websocket import ConnectionClosed, Server

from jvp.api.console_ws import _AfterWebSocket, _SerializedSocket, origin_allowed
from jvp.domain.principal import Principal, Role
from jvp.errors import Forbidden, InvalidInput, JvpError
from jvp.service.events.hub import StreamClosed
from jvp.timeutil import rfc3339

log = logging.getLogger("jvp.events")
PING_INTERVAL_S = 25
SEND_TIMEOUT_S = 30          # a client that reads nothing for this long is dropped
MAX_MESSAGE_BYTES = 16384    # the client only ever sends its auth message
CLOSE_WAIT_S = 1.0           # how long a closing stream waits for the client's close frame
_CLOSE = {400: 4400, 401: 4401, 403: 4403, 404: 4404}


def close_reason(code: str, message: str) -> str:
    """`<Code>: <message>`, cut to the 123 bytes a close frame's reason may hold."""
    text = f"{code}: {message}"
    raw = text.encode("utf-8")
    if len(raw) <= 123:
        return text
    return raw[:120].decode("utf-8", "ignore") + "..."


class _Refused(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _refusal(exc: JvpError) -> _Refused:
    return _Refused(_CLOSE.get(exc.status, 4400), close_reason(exc.code, exc.message))


class EventSocket:
    def __init__(self, environ: dict[str, Any]):
        environ = dict(environ)
        key = "gunicorn.socket" if "gunicorn.socket" in environ else "werkzeug.socket"
        raw = environ.get(key)
        if raw is None:
            raise JvpError("this server cannot take websockets (no raw socket in the WSGI environment)",
                           code="WebSocketUnsupported", status=500)
        raw.settimeout(SEND_TIMEOUT_S)
        self._raw = raw
        environ[key] = _SerializedSocket(raw)
        self.mode = "gunicorn" if key == "gunicorn.socket" else "werkzeug"
        try:
            # the reader thread is a daemon: a client that never answers the close must not hold the process
            self.ws = Server(environ, ping_interval=PING_INTERVAL_S, max_message_size=MAX_MESSAGE_BYTES,
                             thread_class=_daemon_thread)
        except Exception as exc:  # noqa: BLE001 - wsproto/simple-websocket refuse a malformed handshake
            raise InvalidInput(f"the websocket handshake failed: {exc or type(exc).__name__}",
                               code="WebSocketHandshakeFailed") from exc

    @property
    def connected(self) -> bool:
        return bool(self.ws.connected)

    def send(self, msg: dict[str, Any]) -> None:
        self.ws.send(json.dumps(msg, separators=(",", ":"), default=str))

    def receive(self, timeout: float) -> str | bytes | None:
        return self.ws.receive(timeout=timeout)

    def close(self, code: int, reason: str) -> None:
        """Send the close frame, give the client CLOSE_WAIT_S to answer it, then end the connection (the
        reader thread waits in select(); closing the socket would not wake it, shutting it down does)."""
        try:
            self.ws.close(reason=code, message=reason)
        except (ConnectionClosed, OSError):
            pass
        self.ws.thread.join(CLOSE_WAIT_S)
        try:
            self._raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _daemon_thread(target: Any) -> threading.Thread:
    return threading.Thread(target=target, daemon=True)


def _query_list(name: str) -> list[str]:
    out: list[str] = []
    for value in request.args.getlist(name):
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def register(app: Flask, services: Any) -> None:
    hub = services.events
    settings = services.settings
    allowed = list(settings.console["allowed_origins"])
    heartbeat_s = float(settings.events["heartbeat_s"])
    auth_timeout_s = float(settings.events["auth_timeout_s"])

    def authenticate(header: str | None) -> Principal:
        if not settings.auth:
            return Principal(name="anonymous", role=Role.ADMIN)
        return services.tokens.authenticate(header)

    def first_message_auth(sock: EventSocket) -> tuple[Principal, str]:
        try:
            data = sock.receive(timeout=auth_timeout_s)
        except ConnectionClosed:
            raise _Refused(1000, "client gone") from None
        if data is None:
            raise _Refused(4401, close_reason("Unauthorized", f"no auth message within {auth_timeout_s:g} s: "
                                              'send {"type": "auth", "token": "..."} first'))
        try:
            msg = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            msg = None
        if not isinstance(msg, dict) or msg.get("type") != "auth" or not isinstance(msg.get("token"), str):
            raise _Refused(4400, close_reason("InvalidJson", 'the first message must be {"type": "auth", '
                                              '"token": "..."}'))
        header = f"Bearer {msg['token']}"
        try:
            return authenticate(header), header
        except JvpError as exc:
            raise _refusal(exc) from None

    def stream(sock: EventSocket, principal: Principal, header: str | None, kinds: frozenset[str],
               nodes: frozenset[str] | None) -> tuple[int, str]:
        """Send the stream's messages until it ends; the close code and reason."""
        sub = hub.open(principal, kinds, nodes)
        try:
            sock.send({"type": "hello", "time": rfc3339(), "role": str(principal.role), "token_name": principal.name,
                       "kinds": sorted(kinds), "nodes": sorted(nodes) if nodes else None,
                       "heartbeat_s": heartbeat_s})
            next_beat = time.monotonic() + heartbeat_s
            while True:
                try:
                    msg = sub.next(timeout=min(1.0, max(0.0, next_beat - time.monotonic())))
                except StreamClosed as end:
                    return end.code, end.reason
                if not sock.connected:
                    return 1000, "client gone"
                while sock.receive(timeout=0) is not None:
                    pass  # nothing a client sends after its auth means anything: drop it
                if msg is not None:
                    sock.send(msg)
                if time.monotonic() >= next_beat:
                    if settings.auth:
                        try:  # a token revoked or expired meanwhile ends the stream
                            authenticate(header)
                        except JvpError as exc:
                            return _CLOSE.get(exc.status, 4401), close_reason(exc.code, exc.message)
                    sock.send({"type": "heartbeat", "time": rfc3339()})
                    next_beat = time.monotonic() + heartbeat_s
        except (ConnectionClosed, OSError):
            return 1000, "client gone"
        finally:
            hub.close_stream(sub)

    def serve():
        started = time.monotonic()
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.host, allowed):
            raise Forbidden(f"websocket from origin {origin!r} refused: the events stream opens only from the UI "
                            "this server serves (or an origin listed in console.allowed_origins)",
                            code="OriginNotAllowed", details={"origin": origin})
        kinds, nodes = _query_list("kinds"), _query_list("node")
        header = request.headers.get("Authorization")
        principal = None
        if header is not None or not settings.auth:
            principal = authenticate(header)
            chosen = hub.check(principal, kinds, nodes)
        else:
            hub.check(Principal(name=None, role=Role.ADMIN), kinds, None)  # the kinds' spelling, before auth
        with hub.slot():
            sock = EventSocket(request.environ)
            try:
                if principal is None:
                    principal, header = first_message_auth(sock)
                    try:
                        chosen = hub.check(principal, kinds, nodes)
                    except JvpError as exc:
                        raise _refusal(exc) from None
            except _Refused as refused:
                log.info("event stream refused after the handshake: %d %s (request %s)", refused.code,
                         refused.reason, g.request_id)
                sock.close(refused.code, refused.reason)
                return _AfterWebSocket(sock.mode)
            log.info("event stream opened for token %s (%s): kinds %s, nodes %s (request %s, %d open here)",
                     principal.name, principal.role, ",".join(sorted(chosen[0])),
                     ",".join(sorted(chosen[1])) if chosen[1] else "all", g.request_id, hub.open_streams + 1)
            code, reason = stream(sock, principal, header, *chosen)
            sock.close(code, reason)
        log.info("event stream closed for token %s after %.1fs: %d %s (request %s)", principal.name,
                 time.monotonic() - started, code, reason, g.request_id)
        return _AfterWebSocket(sock.mode)

    def not_a_websocket():
        raise InvalidInput("/ws/events is a websocket: connect with a WebSocket client (Upgrade: websocket)",
                           code="WebSocketRequired")

    app.add_url_rule("/ws/events", "ws_events", serve, websocket=True)
    app.add_url_rule("/ws/events", "ws_events_plain", not_a_websocket, methods=["GET"])
