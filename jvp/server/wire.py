"""What JVP's HTTP worker (jvp/server/worker.py) reads and writes on the wire outside the app: whether a
request's head and body have all arrived (from its bytes alone), and every refusal the HTTP layer makes (a bad
request line or header, a head too large, a timeout, overload) as a complete response in JVP's JSON error
shape, including gunicorn's own HTML refusals rewritten as JSON."""
from __future__ import annotations

import html
import json
import re
import uuid
from typing import Any

# A request head (request line and headers) larger than this is refused with 431 before it is parsed.
MAX_HEAD_BYTES = 64 * 1024
_REASONS = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


def json_refusal(status: int, message: str, *, code: str, details: dict | None = None) -> bytes:
    """A complete HTTP/1.1 response (Connection: close) carrying a JVP error, for refusals made before (or
    outside) the app: the same shape as every other JVP error."""
    rid = uuid.uuid4().hex
    body = json.dumps({"error": {"code": code, "message": message,
                                 "details": details or {}, "request_id": rid}}).encode()
    reason = _REASONS.get(status, "Error")
    return (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-Id: {rid}\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n").encode() + body


def _body_kind(head: bytes) -> tuple[str, int]:
    """How the request whose head this is carries its body: ("length", n), ("chunked", 0), ("none", 0), or
    ("unknown", 0) when the head is ambiguous (gunicorn's parser then refuses it with 400)."""
    lengths, codings = [], []
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"content-length":
            lengths.append(value.strip())
        elif name == b"transfer-encoding":
            codings.extend(c.strip().lower() for c in value.split(b","))
    if codings:
        return ("chunked", 0) if codings[-1] == b"chunked" and not lengths else ("unknown", 0)
    if not lengths:
        return "none", 0
    if len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
        return "unknown", 0
    return "length", int(lengths[0])


def _chunked_complete(buf: bytearray, pos: int) -> tuple[bool, int]:
    """(whether the chunked body starting at buf[pos] is complete (its last chunk and trailers are in buf),
    where the next scan may resume: the start of the first chunk not wholly in buf, so a body of many tiny
    chunks is scanned once, not again on every read). A malformed body counts as complete: the parser refuses
    it as soon as a thread reads it."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return False, pos
        size_text = bytes(buf[pos:eol]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return True, pos
        if size == 0:
            return buf.startswith(b"\r\n", eol + 2) or buf.find(b"\r\n\r\n", eol) >= 0, pos
        end = eol + 2 + size + 2
        if end > len(buf):
            return False, pos
        pos = end


_EXPECT = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)


class _CaptureSocket:
    """Takes the HTML refusal gunicorn writes, so it can be sent as JSON instead (see handle_error)."""

    def __init__(self, sock: Any):
        self._sock = sock
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data

    send = sendall

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _html_refusal_to_json(raw: bytes) -> bytes | None:
    text = raw.decode("latin-1", "replace")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", text)
    if not m:
        return None
    status = int(m.group(1))
    reason = re.search(r"<h1><p>(.*?)</p></h1>", text, re.DOTALL)
    detail = re.search(r"</h1>\s*(.*?)\s*</body>", text, re.DOTALL)
    message = html.unescape(detail.group(1)).strip() if detail else ""
    if not message:
        message = html.unescape(reason.group(1)) if reason else _REASONS.get(status, "refused")
    message = f"the HTTP server refused the request: {message}"
    if status == 414:
        return json_refusal(status, message, code="UriTooLong")
    if status == 431:
        return json_refusal(status, message, code="HeadersTooLarge")
    if status >= 500 and status != 501:
        return json_refusal(500, message, code="InternalError")
    return json_refusal(status, message, code="BadHttpRequest")

