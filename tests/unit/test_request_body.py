"""The JSON body of an action (jvp/api/http.py _read_json_body): read from Content-Length without Werkzeug's
stream wrappers and parsed by orjson where it accepts the text, it answers what json.loads and Werkzeug's
get_data answered, and refuses what they refused, with the same codes."""
from __future__ import annotations

import json

import pytest
from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from jvp.api import http
from jvp.errors import InvalidInput

LIMIT = 4096


@pytest.fixture
def app():
    app = Flask("body-test")
    app.config["MAX_CONTENT_LENGTH"] = LIMIT
    return app


def _read(app, data: bytes, **kwargs):
    with app.test_request_context("/api/x", method="POST", data=data, **kwargs):
        body = http._read_json_body()
        assert request.get_data() == data  # a later get_data() answers the same bytes
        return body


BODIES = [b'{}', b'{"name": "web1"}', b' {"a": [1, 2.5, -0.0, true, null]} \n', b'{"a": 1, "a": 2}',
          b'{"big": 123456789012345678901234567890}', b'{"neg": -9223372036854775809}',
          b'{"max": 922337203685477580}', b'{"x": NaN, "y": Infinity}', b'{"s": "\\ud800"}',
          b'{"s": "\xed\xa0\x80"}', b'\xef\xbb\xbf{"bom": 1}', '{"u16": 1}'.encode("utf-16"),
          b'{"e": "\\u00e9\\u0000"}', b'{"f": 1e400, "g": 1e-400, "h": 0.1}']


@pytest.mark.parametrize("data", BODIES, ids=range(len(BODIES)))
def test_a_body_reads_as_json_loads_reads_it(app, data):
    got = _read(app, data, content_type="application/json")
    want = json.loads(data)
    assert repr(got) == repr(want)  # types too: an integer beyond 64 bits stays an int, -0.0 a float


@pytest.mark.parametrize("data", [b"{not json", b'{"a": 01}', b'{"a": "x\ty"}', b'{"a": 1} x', b"\xff{}"])
def test_invalid_json_is_refused_with_json_loads_message(app, data):
    with pytest.raises(InvalidInput) as err:
        _read(app, data, content_type="application/json")
    assert err.value.code == "InvalidJson"
    try:
        json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        assert err.value.message == f"the request body is not valid JSON: {exc}"


def test_too_deep_and_not_an_object_are_refused_as_before(app):
    with pytest.raises(InvalidInput) as err:
        _read(app, b"[" * 40 + b"]" * 40, content_type="application/json")
    assert err.value.code == "JsonTooDeep"
    with pytest.raises(InvalidInput) as err:
        _read(app, b"[1, 2]", content_type="application/json")
    assert err.value.code == "InvalidJson" and "JSON object" in err.value.message


def test_a_content_length_over_the_limit_is_413_before_reading(app):
    with pytest.raises(RequestEntityTooLarge):
        _read(app, b'{"a": "' + b"x" * LIMIT + b'"}', content_type="application/json")
    assert _read(app, b'{"a": "' + b"x" * (LIMIT - 20) + b'"}', content_type="application/json")


def test_empty_and_multipart_bodies(app):
    assert _read(app, b"") == {}
    assert _read(app, b"  \n") == {}
    for ctype in ("multipart/form-data; boundary=x", " Multipart/Mixed ;x=1"):
        with app.test_request_context("/api/x", method="POST", data=b"--x--", headers={"Content-Type": ctype}):
            with pytest.raises(InvalidInput) as err:
                http._read_json_body()
            assert err.value.code == "InvalidJson"


def test_a_body_without_a_plain_content_length_takes_werkzeugs_path(app):
    # a chunked body (no Content-Length): read to the end, up to one byte past the limit
    with app.test_request_context("/api/x", method="POST", input_stream=__import__("io").BytesIO(b'{"a": 1}'),
                                  headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                                  environ_overrides={"wsgi.input_terminated": True}):
        assert http._read_json_body() == {"a": 1}
