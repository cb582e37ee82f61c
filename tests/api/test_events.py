"""The events stream /ws/events on libvirt's test driver (tier 2), served by a real (Werkzeug, threaded) HTTP
server around the app: authentication (header before the handshake, first message after it) and its
refusals, the role and node/kind filters, libvirt's VM events, and task records and audit entries written by
another process (another TaskService / AuditLog on the same data dir stands for another gunicorn worker)."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import websocket
from werkzeug.serving import make_server

from jvp.hypervisor.xml import element, sub, to_string
from jvp.service.audit import AuditLog
from jvp.service.task.service import TaskService
from jvp.store import YamlMetadataStore
from tests.conftest import REPO, build_api, make_settings, unique
from tests.consoleutil import connect, refused, wait_close, ws_url


@pytest.fixture
def events_api(tmp_path):
    client = build_api(make_settings(tmp_path, events={"auth_timeout_s": 1, "heartbeat_s": 1,
                                                       "poll_interval_s": 0.05, "max_streams": 3}))
    yield client
    client.services.close()


@pytest.fixture
def server(events_api):
    srv = make_server("127.0.0.1", 0, events_api.app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    events_api.services.events.close()
    srv.shutdown()


def open_stream(server: str, api, role: str | None = "admin", query: str = "", *, header: bool = False
                ) -> tuple[websocket.WebSocket, dict[str, Any]]:
    """A stream authenticated by its first message (or the Authorization header); the hello message."""
    url = ws_url(server, f"/ws/events{query}")
    kwargs: dict[str, Any] = {"timeout": 10, "suppress_origin": True}
    if header:
        kwargs["header"] = [f"Authorization: Bearer {api.tokens[role]}"]
    ws = websocket.create_connection(url, **kwargs)
    if not header:
        ws.send(json.dumps({"type": "auth", "token": api.tokens[role]}))
    hello = json.loads(ws.recv())
    assert hello["type"] == "hello", hello
    return ws, hello


def collect(ws, until, timeout: float = 10) -> list[dict[str, Any]]:
    """Messages (heartbeats left out) until `until(messages)` holds."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not until(out):
        assert time.monotonic() < deadline, f"not seen within {timeout}s: {out}"
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            continue
        if msg["type"] != "heartbeat":
            out.append(msg)
    return out


def quiet(ws, seconds: float) -> list[dict[str, Any]]:
    """What arrives (heartbeats left out) within `seconds`."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        if msg["type"] != "heartbeat":
            out.append(msg)
    return out


def define_vm(api, name: str) -> None:
    dom = element("domain", {"type": "test"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, 128)
    sub(sub(dom, "os"), "type", text_="hvm")
    api.services.gateway.run_raw("local", lambda c: c.defineXML(to_string(dom)))


def run_vm(api, name: str, op: str) -> None:
    api.services.gateway.run_raw("local", lambda c: getattr(c.lookupByName(name), op)())


# -- authentication ---------------------------------------------------------------------------------------
def test_no_auth_message_is_closed_with_4401_after_the_timeout(server):
    ws = connect(server, "/ws/events")
    code, reason = wait_close(ws, 10)
    assert code == 4401 and reason.startswith("Unauthorized: no auth message within 1 s"), (code, reason)


@pytest.mark.parametrize("first, code, prefix", [
    (json.dumps({"type": "auth", "token": "jvp_not-a-token"}), 4401, "InvalidToken: "),
    (json.dumps({"type": "auth"}), 4400, "InvalidJson: "),
    ("not json", 4400, "InvalidJson: "),
])
def test_a_bad_first_message_is_closed_with_a_clear_reason(server, first, code, prefix):
    ws = connect(server, "/ws/events")
    ws.send(first)
    got = wait_close(ws, 10)
    assert got[0] == code and got[1].startswith(prefix) and len(got[1].encode()) <= 123, got


def test_a_bad_header_is_refused_before_the_handshake_and_the_token_never_is_in_the_url(server, events_api):
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(ws_url(server, "/ws/events"), suppress_origin=True, timeout=10,
                                    header=["Authorization: Bearer jvp_wrong"])
    assert (exc.value.status_code, json.loads(exc.value.resp_body)["error"]["code"]) == (401, "InvalidToken")
    ws, hello = open_stream(server, events_api, "viewer", header=True)
    assert hello["role"] == "viewer" and hello["token_name"] == "t-viewer"
    ws.close()


def test_plain_get_and_a_foreign_origin_are_refused(server, events_api):
    resp = events_api.client.get("/ws/events")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "WebSocketRequired"
    r = refused(server, "/ws/events", origin="http://evil.example")
    assert (r.status, r.code) == (403, "OriginNotAllowed")
    r = refused(server, "/ws/events?kinds=vm,bogus")
    assert (r.status, r.code) == (400, "ValidationFailed") and "bogus" in r.message


# -- roles and filters ------------------------------------------------------------------------------------
def test_audit_events_are_for_admins_only(server, events_api):
    from jvp.api.actions import registry
    roles = events_api.services.events.kind_roles  # the roles of the listings showing the same things
    assert roles == {"vm": registry.get("list-vms").role, "task": registry.get("list-tasks").role,
                     "node": registry.get("list-nodes").role, "audit": registry.get("list-audit-events").role}
    _, admin = open_stream(server, events_api, "admin")
    assert admin["kinds"] == ["audit", "node", "task", "vm"]
    _, viewer = open_stream(server, events_api, "viewer")
    assert viewer["kinds"] == ["node", "task", "vm"]
    ws = connect(server, "/ws/events?kinds=audit")
    ws.send(json.dumps({"type": "auth", "token": events_api.tokens["operator"]}))
    code, reason = wait_close(ws, 10)
    assert code == 4403 and reason.startswith("Forbidden: audit events need the admin role"), reason
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(ws_url(server, "/ws/events?kinds=audit"), suppress_origin=True, timeout=10,
                                    header=[f"Authorization: Bearer {events_api.tokens['viewer']}"])
    assert exc.value.status_code == 403 and json.loads(exc.value.resp_body)["error"]["code"] == "Forbidden"


def test_an_unknown_node_filter_is_404_or_4404(server, events_api):
    ws = connect(server, "/ws/events?node=nope")
    ws.send(json.dumps({"type": "auth", "token": events_api.tokens["viewer"]}))
    code, reason = wait_close(ws, 10)
    assert code == 4404 and reason.startswith("NodeNotFound: "), reason


def test_vm_lifecycle_events_reach_streams_filtered_by_node_and_kind(server, events_api):
    name = unique("ev-")
    everything, _ = open_stream(server, events_api, "viewer")
    local_vm, _ = open_stream(server, events_api, "viewer", "?kinds=vm&node=local")
    tasks_only, _ = open_stream(server, events_api, "viewer", "?kinds=task")
    time.sleep(0.3)  # the watcher's first round follows the node
    define_vm(events_api, name)
    run_vm(events_api, name, "create")
    run_vm(events_api, name, "suspend")
    run_vm(events_api, name, "resume")
    run_vm(events_api, name, "destroy")
    run_vm(events_api, name, "undefine")
    want = ["defined", "started", "suspended", "resumed", "stopped", "undefined"]
    for ws in (everything, local_vm):
        got = collect(ws, lambda ms: len([m for m in ms if m["type"] == "vm" and m["name"] == name]) >= 6)
        mine = [m for m in got if m["type"] == "vm" and m["name"] == name]
        assert [m["event"] for m in mine] == want
        assert {m["node"] for m in mine} == {"local"} and all(m["uuid"] and m["time"] for m in mine)
        assert [m.get("reason") for m in mine] == ["added", "booted", "paused", "unpaused", "destroyed", "removed"]
    assert [m for m in quiet(tasks_only, 0.5) if m["type"] == "vm"] == []


def test_a_node_filter_leaves_out_other_nodes(server, events_api):
    other, _ = open_stream(server, events_api, "viewer", "?kinds=vm")
    events_api.add_fixture_node("jvptest-F-n2", _fixture())
    only_n2, hello = open_stream(server, events_api, "viewer", "?node=jvptest-F-n2")
    assert hello["nodes"] == ["jvptest-F-n2"]
    time.sleep(0.3)
    name = unique("ev-")
    define_vm(events_api, name)
    got = collect(other, lambda ms: any(m.get("name") == name for m in ms))
    assert any(m["event"] == "defined" for m in got if m.get("name") == name)
    assert [m for m in quiet(only_n2, 0.5) if m.get("name") == name] == []
    run_vm(events_api, name, "undefine")


def _fixture():
    return REPO / "tests" / "fixtures" / "hosts" / "node_figures.xml"


# -- other processes' tasks and audit entries -------------------------------------------------------------
def test_task_progress_and_final_state_from_another_process(server, events_api):
    settings = events_api.services.settings
    ws, _ = open_stream(server, events_api, "viewer", "?kinds=task")
    other = TaskService(YamlMetadataStore(settings.data_dir, settings.schema_dir), settings.data_dir)
    try:
        def work(handle):
            # progress reaches the record (what other processes read) within a second (README: Tasks)
            for pct in (25, 50, 75):
                handle.progress(pct, f"at {pct}", force=True)
                time.sleep(0.6)
            return {"done": True}
        task = other.submit("create-vm", {"kind": "vm", "node": "local", "name": "jvptest-F-t"}, work)
        # a task that starts and ends between two rounds still shows its final state
        quick = other.submit("delete-vm", {"kind": "vm", "node": "local", "name": "jvptest-F-q"}, lambda h: {})
        got = collect(ws, lambda ms: {(m["id"], m["state"]) for m in ms} >= {(task["id"], "succeeded"),
                                                                             (quick["id"], "succeeded")})
    finally:
        other.close()
    mine = [m for m in got if m["id"] == task["id"]]
    assert mine[-1]["state"] == "succeeded" and mine[-1]["progress"] == 100
    assert mine[-1]["action"] == "create-vm" and mine[-1]["node"] == "local"
    assert mine[-1]["resource"] == {"kind": "vm", "node": "local", "name": "jvptest-F-t"}
    assert any(m["state"] == "running" and m["progress"] in (25, 50, 75) for m in mine), mine
    states = [m["state"] for m in mine]
    assert states.index("succeeded") == len(states) - 1  # nothing older after the final state


def test_audit_entries_from_another_process_reach_admins_only(server, events_api):
    settings = events_api.services.settings
    admin, _ = open_stream(server, events_api, "admin", "?kinds=audit,vm")
    viewer, _ = open_stream(server, events_api, "viewer")
    AuditLog(settings.data_dir, events_api.services.store.schemas).record(
        request_id="r-elsewhere", action="start-vm", token_name="t-admin", role="admin",
        target={"kind": "vm", "node": "local", "name": "jvptest-F-a"}, params={"password": "s3cret"},
        outcome="ok", status=200, error_code=None, duration_ms=1.0, remote_addr="127.0.0.1")
    events_api.ok("create-keypair", {"name": unique("k")}, role="operator")  # this process's own entry
    got = collect(admin, lambda ms: len([m for m in ms if m["type"] == "audit"]) >= 2)
    entries = [m for m in got if m["type"] == "audit"]
    assert entries[0]["request_id"] == "r-elsewhere" and entries[0]["node"] == "local"
    assert entries[0]["params"] == {"password": "***"} and "schema_version" not in entries[0]
    assert entries[1]["action"] == "create-keypair" and entries[1]["token_name"] == "t-operator"
    assert [m for m in quiet(viewer, 0.5) if m["type"] == "audit"] == []


# -- limits and the end of a stream -----------------------------------------------------------------------
def test_streams_beyond_the_limit_are_refused_with_503(server, events_api):
    held = [open_stream(server, events_api, "viewer")[0] for _ in range(3)]
    r = refused(server, "/ws/events")
    assert (r.status, r.code) == (503, "EventStreamLimitReached")
    held[0].close()
    deadline = time.monotonic() + 5
    while events_api.services.events.open_streams > 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    open_stream(server, events_api, "viewer")[0].close()


def test_heartbeats_and_a_revoked_token_ends_the_stream(server, events_api):
    token, _ = events_api.services.tokens.create("jvptest-F-short", "viewer")
    events_api.tokens["short"] = token
    ws, hello = open_stream(server, events_api, "short")
    assert hello["heartbeat_s"] == 1
    ws.settimeout(5)
    assert json.loads(ws.recv())["type"] == "heartbeat"
    events_api.services.tokens.revoke("jvptest-F-short")
    code, reason = wait_close(ws, 5)
    assert code == 4401 and reason.startswith("InvalidToken: "), (code, reason)


def test_a_stopping_server_closes_streams_with_1001(server, events_api):
    ws, _ = open_stream(server, events_api, "viewer")
    events_api.services.events.close()
    assert wait_close(ws, 5)[0] == 1001
