"""The read-ahead of JVP's HTTP worker (jvp/server/worker.py, jvp/server/wire.py), on bytes alone: when a
request is complete, and the JSON shape of the HTTP layer's refusals (the live server is tested in
tests/api/test_http_server.py)."""
from __future__ import annotations

import json

import pytest

from jvp.domain.errors import ERRORS
from jvp.server.wire import _body_kind, _chunked_complete, _html_refusal_to_json, json_refusal


@pytest.mark.parametrize("head, kind", [
    (b"GET / HTTP/1.1\r\nHost: x", ("none", 0)),
    (b"POST /a HTTP/1.1\r\nContent-Length: 12", ("length", 12)),
    (b"POST /a HTTP/1.1\r\ncontent-length:  7 ", ("length", 7)),
    (b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked", ("chunked", 0)),
    (b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5", ("unknown", 0)),
    (b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5", ("unknown", 0)),
    (b"POST /a HTTP/1.1\r\nContent-Length: -1", ("unknown", 0)),
    (b"POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999999", ("unknown", 0)),
    (b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip", ("unknown", 0)),
])
def test_body_kind(head, kind):
    assert _body_kind(head) == kind


@pytest.mark.parametrize("body, complete", [
    (b"", False),
    (b"5\r\nhel", False),
    (b"5\r\nhello\r\n", False),
    (b"5\r\nhello\r\n0\r\n", False),
    (b"5\r\nhello\r\n0\r\n\r\n", True),
    (b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", True),
    (b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n", False),
    (b"zz\r\n", True),   # malformed: the parser refuses it at once
])
def test_chunked_complete(body, complete):
    head = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert _chunked_complete(bytearray(head + body), len(head))[0] is complete


def test_a_chunked_body_is_scanned_once_however_it_arrives():
    body = b"1\r\na\r\n" * 1000
    buf = bytearray(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    pos = len(buf)
    for i in range(0, len(body), 7):   # arriving 7 bytes at a time
        buf += body[i:i + 7]
        complete, resume = _chunked_complete(buf, pos)
        assert not complete and pos <= resume <= len(buf)
        assert buf.find(b"\r\n", resume) == -1 or buf.startswith(b"1\r\n", resume)
        pos = resume
    buf += b"0\r\n\r\n"
    assert _chunked_complete(buf, pos)[0] is True


def parse(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json" and headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    data = json.loads(body)
    assert data["error"]["request_id"] == headers["X-Request-Id"]
    return int(lines[0].split()[1]), data["error"]


def test_json_refusal_is_a_complete_response_in_jvps_error_shape():
    status, err = parse(json_refusal(408, "slow", code="RequestTimeout", details={"header_timeout_s": 10}))
    assert status == 408 and err["code"] == "RequestTimeout" and err["details"] == {"header_timeout_s": 10}
    assert status in ERRORS[err["code"]].statuses


@pytest.mark.parametrize("status, reason, code", [
    (414, "URI Too Long", "UriTooLong"), (431, "Request Header Fields Too Large", "HeadersTooLarge"),
    (400, "Bad Request", "BadHttpRequest"), (403, "Forbidden", "BadHttpRequest"),
    (501, "Not Implemented", "BadHttpRequest"), (500, "Internal Server Error", "InternalError"),
])
def test_gunicorns_html_refusals_become_json(status, reason, code):
    html = (f"<html>\n  <head>\n    <title>{reason}</title>\n  </head>\n  <body>\n    <h1><p>{reason}</p></h1>\n"
            "    Invalid &lt;thing&gt;\n  </body>\n</html>\n")
    raw = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/html\r\n"
           f"Content-Length: {len(html)}\r\n\r\n{html}").encode()
    got, err = parse(_html_refusal_to_json(raw))
    assert got == status and err["code"] == code and got in ERRORS[code].statuses
    if status != 500:
        assert err["message"].endswith("Invalid <thing>")
