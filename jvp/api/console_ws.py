"""The console websockets: `GET /ws/vnc?token=...` and `GET /ws/serial?token=...` (SPEC 2.9).

Served by the same gunicorn workers as the API (simple-websocket, the engine of flask-sock, on the request's
own socket). Everything that can refuse a console is checked BEFORE the websocket handshake, so a refusal
is an ordinary HTTP error in JVP's one error shape (a non-browser client sees status and code; a browser
only sees the handshake fail, which is why get-vm-console checks the same things first):
  Origin (403 OriginNotAllowed) -> a free console slot (503 ConsoleLimitReached) -> the token (401/403,
  used up from here on) -> the VM and its console (404/409/422) -> the connection to it (502).
Once open, the console ends with a websocket close code and reason (jvp/service/console/relay.py).

Origin: a browser always sends one with a websocket, and a page of another site must not open consoles with
a token it got hold of (cross-site websocket hijacking). Allowed: the origin whose host:port is the request's
Host (the UI served by this server), and those listed in `console.allowed_origins`. No Origin at all is
allowed: only non-browser clients (scripts, tests) omit it, and they hold the token anyway.

Audit: every attempt is an `open-vm-console` entry (refusals with their code), every session that opened
also a `close-vm-console` entry (who closed it, why, bytes each way, duration), beside a server log line.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from simple_websocket import ConnectionClosed, Server

from jvp.domain.console import CONSOLE_TYPES, ConsoleGrant
from jvp.errors import Forbidden, InvalidInput, JvpError
from jvp.service.console.relay import ClientGone

log = logging.getLogger("jvp.console")
PING_INTERVAL_S = 25        # keeps proxies from dropping a quiet console, and finds vanished clients
SEND_TIMEOUT_S = 60         # a browser that reads nothing for this long is dropped
MAX_MESSAGE_BYTES = 1 << 20  # a clipboard paste is the largest thing a console client sends
_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- Origin ------------------------------------------------------------------------------------------
def _origin_key(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Same host:port as the request's Host header, or listed; a missing Origin (no browser) is allowed;
    `null` (sandboxed frames, file: pages) and anything unparsable are not."""
    if origin is None:
        return True
    key = _origin_key(origin)
    if key is None:
        return False
    if key in {_origin_key(a) for a in allowed}:
        return True
    if not host:
        return False
    served = _origin_key(f"{key[0]}://{host}")
    return served is not None and served[1:] == key[1:]


# -- the websocket -----------------------------------------------------------------------------------
class _SerializedSocket:
    """The request's socket with every write whole and one at a time: simple-websocket's reader thread
    answers pings on the same socket while the relay sends screen updates, and interleaved partial writes
    would corrupt the stream."""

    def __init__(self, sock: Any):
        self._sock = sock
        self._write = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._write:
            self._sock.sendall(data)
        return len(data)

    sendall = send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ConsoleSocket:
    """simple-websocket's Server on the request's socket, as the relay wants it."""

    def __init__(self, environ: dict[str, Any]):
        environ = dict(environ)
        key = "gunicorn.socket" if "gunicorn.socket" in environ else "werkzeug.socket"
        raw = environ.get(key)
        if raw is None:
            raise JvpError("this server cannot take websockets (no raw socket in the WSGI environment)",
                           code="WebSocketUnsupported", status=500)
        raw.settimeout(SEND_TIMEOUT_S)  # reads are made after select(), so only writes can hit this
        environ[key] = _SerializedSocket(raw)
        self.mode = "gunicorn" if key == "gunicorn.socket" else "werkzeug"
        try:
            # noVNC before 1.0 asked for the 'binary' subprotocol; current clients ask for none
            self.ws = Server(environ, subprotocols=["binary"], ping_interval=PING_INTERVAL_S,
                             max_message_size=MAX_MESSAGE_BYTES)
        except Exception as exc:  # noqa: BLE001 - wsproto/simple-websocket refuse a malformed handshake
            raise InvalidInput(f"the websocket handshake failed: {exc or type(exc).__name__}",
                               code="WebSocketHandshakeFailed") from exc

    def receive(self, timeout: float) -> bytes | str | None:
        try:
            return self.ws.receive(timeout=timeout)
        except ConnectionClosed as exc:
            raise ClientGone() from exc

    def send(self, data: bytes) -> None:
        try:
            self.ws.send(data)
        except (ConnectionClosed, OSError) as exc:
            raise ClientGone() from exc

    def close(self, code: int, reason: str) -> None:
        try:
            self.ws.close(reason=code, message=reason)
        except (ConnectionClosed, OSError):
            pass


class _AfterWebSocket(Response):
    """The connection was a websocket: nothing more may be written on it. Under gunicorn, StopIteration makes
    the worker drop the connection without writing a response (what flask-sock does); Werkzeug's server
    discards the empty response."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def __call__(self, environ, start_response):  # type: ignore[override]
        if self.mode == "gunicorn":
            raise StopIteration()
        return super().__call__(environ, start_response)


# -- routes ------------------------------------------------------------------------------------------
def register(app: Flask, services: Any) -> None:
    consoles = services.consoles
    allowed = list(services.settings.console["allowed_origins"])

    def audit(action: str, grant: ConsoleGrant | None, kind: str, *, ok: bool, status: int, started: float,
              error_code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        target = {"kind": "vm", "node": grant.node, "name": grant.vm} if grant else None
        try:
            services.audit.record(
                request_id=g.request_id, action=action, token_name=grant.token_name if grant else None,
                role=grant.role if grant else None, target=target,
                params={"type": kind, "origin": request.headers.get("Origin"), **(extra or {})},
                outcome="ok" if ok else "error", status=status, error_code=error_code,
                duration_ms=(time.monotonic() - started) * 1000, remote_addr=request.remote_addr)
        except Exception:  # noqa: BLE001 - a failing audit write must not take the console down
            log.exception("could not write the audit entry for console request %s", g.request_id)

    def serve(kind: str):
        started = time.monotonic()
        grant: ConsoleGrant | None = None
        with ExitStack() as held:  # the console slot, from before the token is spent until the relay ends
            try:
                origin = request.headers.get("Origin")
                if not origin_allowed(origin, request.host, allowed):
                    raise Forbidden(f"websocket from origin {origin!r} refused: consoles open only from the UI "
                                    "this server serves (or an origin listed in console.allowed_origins)",
                                    code="OriginNotAllowed", details={"origin": origin})
                held.enter_context(consoles.slot())
                grant = consoles.redeem(request.args.get("token"), kind, request.args.get("node"),
                                        request.args.get("name"))
                session = consoles.open(grant)
                try:
                    sock = ConsoleSocket(request.environ)
                except BaseException:
                    session.channel.close()
                    raise
            except JvpError as exc:  # refused before the handshake: an ordinary HTTP error
                audit("open-vm-console", grant, kind, ok=False, status=exc.status, started=started,
                      error_code=exc.code)
                log.info("console refused: %s console for %s: %s %s (request %s)", kind,
                         f"vm {grant.vm} on node {grant.node}" if grant else "an unredeemed token", exc.code,
                         exc.message, g.request_id)
                raise
            audit("open-vm-console", grant, kind, ok=True, status=101, started=started,
                  extra={"route": session.route})
            log.info("console opened: %s console of vm %s on node %s for token %s via %s (request %s, "
                     "%d open in this process)", kind, grant.vm, grant.node, grant.token_name, session.route,
                     g.request_id, consoles.open_sessions)
            result = consoles.relay(session, sock)  # never raises: every end is a close code
        log.info("console closed: %s console of vm %s on node %s by %s after %.1fs: %d %s (in %d B, out %d B, "
                 "request %s)", kind, grant.vm, grant.node, result.closed_by, result.duration_s, result.code,
                 result.reason, result.bytes_in, result.bytes_out, g.request_id)
        audit("close-vm-console", grant, kind, ok=result.closed_by != "error", status=101, started=started,
              extra={"close_code": result.code, "close_reason": result.reason, "closed_by": result.closed_by,
                     "bytes_in": result.bytes_in, "bytes_out": result.bytes_out})
        return _AfterWebSocket(sock.mode)

    def not_a_websocket(kind: str):
        raise InvalidInput(f"/ws/{kind} is a websocket: connect with a WebSocket client (Upgrade: websocket) "
                           f"to the ws_url that get-vm-console returned", code="WebSocketRequired")

    for kind in CONSOLE_TYPES:
        app.add_url_rule(f"/ws/{kind}", f"ws_{kind}", lambda kind=kind: serve(kind), websocket=True)
        app.add_url_rule(f"/ws/{kind}", f"ws_{kind}_plain", lambda kind=kind: not_a_websocket(kind),
                         methods=["GET"])
