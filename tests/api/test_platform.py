"""The action platform: error shape, auth, roles, body limits, request ids, audit, OpenAPI."""
from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from jvp.api.actions import registry


def test_every_response_carries_a_request_id(api):
    for resp in (api.client.get("/healthz"), api.call("list-nodes"), api.call("nope"),
                 api.client.get("/api/openapi.json")):
        assert len(resp.headers["X-Request-Id"]) >= 8


def test_incoming_request_id_is_kept_when_sane(api):
    resp = api.call("list-nodes", headers={"X-Request-Id": "trace-12345678"})
    assert resp.headers["X-Request-Id"] == "trace-12345678"
    resp = api.call("list-nodes", headers={"X-Request-Id": "bad id <script>"})
    assert resp.headers["X-Request-Id"] != "bad id <script>"
    assert len(resp.headers["X-Request-Id"]) == 32


def test_missing_token_is_401(api):
    err = api.error("list-nodes", role=None, status=401, code="Unauthorized")
    assert "Bearer" in err["message"]


def test_wrong_token_is_401(api):
    api.error("list-nodes", role=None, headers={"Authorization": "Bearer jvp_nope"}, status=401,
              code="InvalidToken")
    api.error("list-nodes", role=None, headers={"Authorization": "Basic abc"}, status=401)


def test_revoked_token_is_refused_at_once(api):
    token, _ = api.services.tokens.create("short-lived", "viewer")
    hdr = {"Authorization": f"Bearer {token}"}
    assert api.call("list-nodes", role=None, headers=hdr).status_code == 200
    api.services.tokens.revoke("short-lived")
    api.error("list-nodes", role=None, headers=hdr, status=401, code="InvalidToken")


def test_viewer_calling_an_admin_action_is_403(api):
    err = api.error("create-node", {"name": "x", "uri": "test:///default"}, role="viewer", status=403,
                    code="Forbidden")
    assert err["details"] == {"required_role": "admin", "role": "viewer"}
    assert api.services.store.get("node", "x") is None


def test_operator_cannot_manage_nodes_but_can_read(api):
    api.error("disable-node", {"name": "local"}, role="operator", status=403)
    assert api.ok("list-nodes", role="operator")["nodes"]


def test_unknown_action_is_404_with_suggestions(api):
    err = api.error("list-node", status=404, code="UnknownAction")
    assert "list-nodes" in err["details"]["suggestions"]


def test_get_on_an_action_is_405_in_the_error_shape(api):
    resp = api.client.get("/api/list-nodes")
    assert resp.status_code == 405
    assert resp.get_json()["error"]["code"] == "MethodNotAllowed"


def test_unknown_route_is_404_in_the_error_shape(api):
    resp = api.client.get("/api/nothing/here")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "NotFound"


def test_unknown_field_is_rejected(api):
    err = api.error("describe-node", {"name": "local", "nmae": "x"}, status=400, code="ValidationFailed")
    assert err["details"]["field_errors"] == {"nmae": ["Unknown field."]}


def test_wrong_type_is_rejected(api):
    err = api.error("create-node", {"name": 5, "uri": ["x"]}, status=400, code="ValidationFailed")
    assert set(err["details"]["field_errors"]) == {"name", "uri"}


def test_missing_required_field(api):
    err = api.error("describe-node", {}, status=400, code="ValidationFailed")
    assert "name" in err["details"]["field_errors"]


@pytest.mark.parametrize("bad", ["a/b", "..", "../etc", "a..b", "-x", "", "x" * 64, "a b", "é"])
def test_bad_names_are_rejected(api, bad):
    err = api.error("create-node", {"name": bad, "uri": "test:///default"}, status=400,
                    code="ValidationFailed")
    assert "name" in err["details"]["field_errors"]
    assert api.services.store.list("node").items == []


def test_non_json_body_is_400(api):
    resp = api.client.post("/api/list-nodes", data="{not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "InvalidJson"


def test_json_that_is_not_an_object_is_400(api):
    resp = api.client.post("/api/list-nodes", data="[1, 2]", content_type="application/json",
                           headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert resp.status_code == 400
    assert "JSON object" in resp.get_json()["error"]["message"]


def test_empty_body_means_empty_object(api):
    resp = api.client.post("/api/list-nodes", headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert resp.status_code == 200


def test_five_megabyte_body_is_413(api):
    body = json.dumps({"name": "x", "description": "a" * (5 * 1024 * 1024)})
    resp = api.client.post("/api/create-node", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert resp.status_code == 413
    err = resp.get_json()["error"]
    assert err["code"] == "PayloadTooLarge"
    assert err["details"]["max_body_bytes"] == api.services.settings.max_body_bytes
    assert api.services.store.get("node", "x") is None


def test_uncaught_exception_is_500_without_traceback(api, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("secret internals /etc/shadow")
    monkeypatch.setattr(api.services.nodes, "list", boom)
    resp = api.call("list-nodes")
    assert resp.status_code == 500
    err = resp.get_json()["error"]
    assert err["code"] == "InternalError"
    assert err["request_id"] == resp.headers["X-Request-Id"]
    assert err["request_id"] in err["message"]
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text


def test_healthz_and_readyz(api):
    assert api.client.get("/healthz").get_json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["local_node"]["ok"] is True


def test_readyz_fails_when_the_local_node_is_unreachable(tmp_path):
    from tests.conftest import build_api, make_settings
    client = build_api(make_settings(tmp_path, local_uri="qemu+tcp://127.0.0.1:1/system",
                                     node_timeout_s=2))
    try:
        resp = client.client.get("/readyz")
        assert resp.status_code == 503
        assert resp.get_json()["checks"]["local_node"]["ok"] is False
    finally:
        client.services.close()


def test_metrics_need_a_token_and_speak_prometheus(api):
    assert api.client.get("/metrics").status_code == 401
    resp = api.client.get("/metrics", headers={"Authorization": f"Bearer {api.tokens['viewer']}"})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert 'jvp_node_up{node="local"}' not in text   # nothing collected yet: no figure, rather than a guess
    api.services.metrics.collector.collect_once()
    text = api.client.get("/metrics", headers={"Authorization": f"Bearer {api.tokens['viewer']}"}).get_data(
        as_text=True)
    assert 'jvp_node_up{node="local"} 1' in text
    assert 'jvp_node_vms{node="local",state="total"} 3' in text


def test_openapi_is_valid_and_lists_every_action(api):
    resp = api.client.get("/api/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    validate(spec)
    for name in registry.names():
        op = spec["paths"][f"/api/{name}"]["post"]
        assert op["operationId"] == name
        assert "x-jvp-role" in op


def test_openapi_says_what_a_name_and_labels_may_be(api):
    """What the request schemas check is in the document, so clients and the fuzz gate (tests/fuzz) generate
    what JVP accepts: a name's pattern (its validator is a function), a dict's bound as maxProperties (apispec
    wrote maxLength, which JSON Schema ignores for objects)."""
    import re
    schemas = api.client.get("/api/openapi.json").get_json()["components"]["schemas"]
    modify = schemas["ModifyVmRequest"]["properties"]
    pattern = modify["new_name"]["pattern"]
    assert re.search(pattern, "web-2.a_b") and not re.search(pattern, "a/b") and not re.search(pattern, "-x")
    assert not re.search(pattern, "x" * 64)
    assert schemas["CreateNodeRequest"]["properties"]["name"]["pattern"] == pattern
    assert modify["labels"]["maxProperties"] == 64 and "maxLength" not in modify["labels"]
    assert modify["labels"]["additionalProperties"]["maxLength"] == 256


def test_openapi_node_actions_have_their_schemas(api):
    spec = api.client.get("/api/openapi.json").get_json()
    node_actions = ["list-nodes", "describe-node", "describe-node-summary", "describe-node-pci",
                    "describe-node-usb", "describe-node-net", "describe-node-disks", "describe-node-gpu",
                    "describe-node-vms", "create-node", "modify-node", "delete-node", "enable-node",
                    "disable-node"]
    schemas = spec["components"]["schemas"]
    for name in node_actions:
        op = spec["paths"][f"/api/{name}"]["post"]
        req = op["requestBody"]["content"]["application/json"]["schema"]
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        for ref in (req, ok):
            assert ref["$ref"].split("/")[-1] in schemas
        assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ErrorResponse")
    create = schemas[spec["paths"]["/api/create-node"]["post"]["requestBody"]["content"]
                     ["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert set(create["required"]) == {"name", "uri"}
    assert create.get("additionalProperties") is False


def test_mutating_actions_are_audited_and_reads_are_not(api):
    api.ok("disable-node", {"name": "local"})
    api.error("create-node", {"name": "dup", "uri": "qemu+tcp://127.0.0.1:1/system"}, status=502)
    api.ok("list-nodes")
    events = api.ok("list-audit-events")["events"]
    assert [e["action"] for e in events] == ["create-node", "disable-node"]
    failed, ok = events
    assert failed["outcome"] == "error" and failed["error_code"] == "NodeUnreachable"
    assert failed["status"] == 502
    assert ok["outcome"] == "ok" and ok["token_name"] == "t-admin" and ok["role"] == "admin"
    assert ok["target"] == {"kind": "node", "name": "local"}
    assert ok["duration_ms"] >= 0
    assert api.ok("list-audit-events", {"action": "disable-node"})["events"][0]["request_id"] == \
        ok["request_id"]
    assert len(api.ok("list-audit-events", {"outcome": "error"})["events"]) == 1
    assert len(api.ok("list-audit-events", {"limit": 1})["events"]) == 1
    api.error("list-audit-events", role="viewer", status=403)


def test_audit_redacts_secrets():
    from jvp.service.audit import redact
    req = {"name": "vm1", "cloud_init": {"users": [{"name": "a", "password": "hunter2"}],
                                         "user_data": "#cloud-config\n"}, "token": "abc", "password": None}
    out = redact(req)
    assert out["cloud_init"]["users"][0] == {"name": "a", "password": "***"}
    assert out["cloud_init"]["user_data"] == "***"
    assert out["token"] == "***"
    assert out["name"] == "vm1"
    assert "hunter2" not in json.dumps(out)


def test_describe_token_tells_the_caller_who_it_is(api):
    assert api.ok("describe-token", role="viewer")["token"] == {"name": "t-viewer", "role": "viewer",
                                                                 "expires_at": None}
    assert api.ok("describe-token", role="admin")["token"]["role"] == "admin"


def test_audit_target_filter_matches_names_not_kinds(api):
    api.ok("disable-node", {"name": "local"})
    assert len(api.ok("list-audit-events", {"target": "local"})["events"]) == 1
    assert api.ok("list-audit-events", {"target": "node"})["events"] == []


@pytest.mark.parametrize("body", ["[" * 200000 + "]" * 200000,                     # past the parser's depth
                                  '{"name": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}",  # parsed, too deep
                                  '{"labels": ' + "[" * 40 + "]" * 40 + "}"])
def test_deeply_nested_json_is_400_not_500(api, body):
    assert len(body) < api.services.settings.max_body_bytes
    resp = api.client.post("/api/create-node", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert resp.status_code == 400, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == "JsonTooDeep" and err["details"]["max_depth"] == 32
    assert err["request_id"] == resp.headers["X-Request-Id"]
    assert api.services.store.list("node").items == []


def test_ordinary_nesting_is_accepted(api):
    # A create-vm-like depth (body > cloud_init > users > user > ssh_keys) stays far below the limit.
    body = {"name": "local", "x": {"a": [{"b": ["c"]}]}}
    err = api.error("describe-node", body, status=400, code="ValidationFailed")
    assert "x" in err["details"]["field_errors"]


def _audit_lines(api) -> list[dict]:
    lines = []
    for path in sorted((api.services.settings.data_path / "audit").glob("audit-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines


def test_a_mutating_call_refused_with_401_is_audited_without_the_token(api):
    presented = "jvp_this-is-not-a-valid-token-0123456789"
    api.error("disable-node", {"name": "local"}, role=None, headers={"Authorization": f"Bearer {presented}"},
              status=401, code="InvalidToken")
    api.error("delete-node", {"name": "local"}, role=None, status=401, code="Unauthorized")
    api.error("list-nodes", role=None, status=401)  # reads are not audited, refused or not
    events = api.ok("list-audit-events")["events"]
    assert [(e["action"], e["outcome"], e["status"], e["error_code"]) for e in events] == [
        ("delete-node", "error", 401, "Unauthorized"), ("disable-node", "error", 401, "InvalidToken")]
    assert all(e["token_name"] is None and e["role"] is None and e["params"] is None for e in events)
    raw = "".join(p.read_text() for p in (api.services.settings.data_path / "audit").glob("audit-*.jsonl"))
    assert presented not in raw and "this-is-not-a-valid" not in raw
    assert api.services.store.get("node", "local") is None  # nothing was done


def test_the_audit_line_written_for_a_real_action_has_its_secret_redacted(api):
    secret = "hunter2-Secret-Pass"
    resp = api.call("reset-vm-password", {"node": "local", "name": "web1", "user": "root", "password": secret},
                    role="operator")
    assert resp.status_code != 500, resp.get_json()
    (line,) = [e for e in _audit_lines(api) if e["action"] == "reset-vm-password"]
    assert line["params"]["password"] == "***"
    assert line["params"]["user"] == "root" and line["params"]["name"] == "web1"
    assert line["token_name"] == "t-operator" and line["request_id"] == resp.headers["X-Request-Id"]
    raw = "".join(p.read_text() for p in (api.services.settings.data_path / "audit").glob("audit-*.jsonl"))
    assert secret not in raw


def test_urls_in_the_audit_log_keep_no_query_values_or_credentials(api):
    """Issue 14, finding 10: signed-URL query strings (X-Amz-Signature=..., token=...) and user:pw@ were
    stored verbatim. Now the keys stay, the values do not; a refused request is audited the same way."""
    signed = ("https://127.0.0.1:1/images/deb12.qcow2?X-Amz-Credential=AKIAEXAMPLE&"  # nothing listens there
              "X-Amz-Signature=5ecre7519&token=t0ken-value")
    api.call("register-template", {"pool": "default", "name": "t1", "source": {"type": "url", "url": signed}})
    api.error("register-template", {"pool": "default", "name": "t2", "source": {
        "type": "url", "url": "https://admin:pa55word@bucket.example.org/x.qcow2?sig=abc#frag"}},
        status=400, code="InvalidUrl")
    raw = "".join(p.read_text() for p in (api.services.settings.data_path / "audit").glob("audit-*.jsonl"))
    for secret in ("AKIAEXAMPLE", "5ecre7519", "t0ken-value", "pa55word", "admin:", "sig=abc", "frag"):
        assert secret not in raw, secret
    # request lines only: t1's task may already have appended its outcome line (no params: issue 19's audit)
    by_name = {e["params"]["name"]: e for e in _audit_lines(api)
               if e["action"] == "register-template" and e.get("entry") != "task_outcome"}
    assert by_name["t1"]["params"]["source"]["url"] == (
        "https://127.0.0.1:1/images/deb12.qcow2?X-Amz-Credential=***&X-Amz-Signature=***&token=***")
    assert by_name["t2"]["params"]["source"]["url"] == "https://***@bucket.example.org/x.qcow2?sig=***#***"
    assert by_name["t2"]["outcome"] == "error"
    # the task record (its file) keeps scheme, host and path only
    (task,) = api.ok("list-tasks", {})["tasks"]
    api.services.tasks.wait(task["id"], 30)
    record = (api.services.settings.data_path / "tasks" / f"{task['id']}.yaml").read_text()
    assert "5ecre7519" not in record and "https://127.0.0.1:1/images/deb12.qcow2" in record
