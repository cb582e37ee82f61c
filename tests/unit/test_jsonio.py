"""The answers' encoder (jvp/api/jsonio.py): orjson with the standard encoder behind it."""
from __future__ import annotations

import json

from flask import Flask

from jvp.api.jsonio import OrjsonProvider


APP = Flask("t")  # the provider holds its app by a weak reference


def provider() -> OrjsonProvider:
    APP.json = OrjsonProvider(APP)
    return APP.json


def test_keys_keep_their_order_and_text_is_utf8():
    p = provider()
    text = p.dumps({"name": "vm-Grüße", "a": 1, "uuid": None})
    assert text == '{"name":"vm-Grüße","a":1,"uuid":null}'
    assert json.loads(text) == {"name": "vm-Grüße", "a": 1, "uuid": None}


def test_what_orjson_refuses_is_written_by_the_standard_encoder():
    p = provider()
    lone = "bad \udc80 text"
    assert json.loads(p.dumps({"message": lone})) == {"message": lone}
    big = 2 ** 70
    assert json.loads(p.dumps({"n": big})) == {"n": big}
    with APP.app_context():
        resp = p.response({"message": lone})
    assert resp.mimetype == "application/json" and json.loads(resp.get_data()) == {"message": lone}


def test_a_response_is_the_bytes_with_a_trailing_newline():
    p = provider()
    with APP.app_context():
        resp = p.response({"vms": [{"name": "a", "ips": ["198.18.0.2"]}]})
    assert resp.get_data() == b'{"vms":[{"name":"a","ips":["198.18.0.2"]}]}\n'


def test_other_values_go_through_flasks_default():
    import decimal
    import uuid
    p = provider()
    u = uuid.UUID(int=1)
    assert json.loads(p.dumps({"u": u, "d": decimal.Decimal("1.5")})) == {"u": str(u), "d": "1.5"}
