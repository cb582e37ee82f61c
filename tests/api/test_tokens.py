"""Token management actions (create-token, list-tokens, revoke-token) and the task outcome in the audit log."""
from __future__ import annotations

import json

from jvp.service.auth import TokenService


def _audit_text(api) -> str:
    return "".join(p.read_text() for p in (api.services.settings.data_path / "audit").glob("audit-*.jsonl"))


def test_create_list_revoke_a_token(api):
    made = api.ok("create-token", {"name": "jvptest-ci", "role": "operator", "ttl_days": 7})
    secret = made["secret"]
    assert secret.startswith("jvp_") and made["token"]["name"] == "jvptest-ci"
    assert made["token"]["role"] == "operator" and made["token"]["expires_at"] and made["token"]["last_used_at"] is None
    # the new token works, with its role
    resp = api.client.post("/api/list-nodes", json={}, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200
    resp = api.client.post("/api/list-tokens", json={}, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "Forbidden"

    listed = {t["name"]: t for t in api.ok("list-tokens")["tokens"]}
    assert {"t-admin", "t-operator", "t-viewer", "jvptest-ci"} <= set(listed)
    assert listed["jvptest-ci"]["last_used_at"] is not None  # it authenticated list-nodes above
    assert set(listed["jvptest-ci"]) == {"name", "role", "created_at", "expires_at", "last_used_at"}
    never = api.ok("create-token", {"name": "jvptest-never", "role": "viewer"})["token"]
    assert never["expires_at"] is None
    assert {t["name"]: t for t in api.ok("list-tokens")["tokens"]}["jvptest-never"]["last_used_at"] is None

    # the secret is in no listing, no audit line, no stored file
    assert secret not in json.dumps(api.ok("list-tokens"))
    assert secret not in json.dumps(api.ok("list-audit-events"))
    assert secret not in _audit_text(api)
    for path in (api.services.settings.data_path / "auth").glob("*.yaml"):
        assert secret not in path.read_text()
    created = api.ok("list-audit-events", {"action": "create-token"})["events"]
    assert len(created) == 2 and created[0]["params"] == {"name": "jvptest-never", "role": "viewer"}

    assert api.ok("revoke-token", {"name": "jvptest-ci"}) == {"ok": True}
    resp = api.client.post("/api/list-nodes", json={}, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "InvalidToken"
    assert "jvptest-ci" not in {t["name"] for t in api.ok("list-tokens")["tokens"]}
    api.ok("revoke-token", {"name": "jvptest-never"})


def test_token_actions_need_the_admin_role(api):
    for role in ("operator", "viewer"):
        api.error("create-token", {"name": "jvptest-x", "role": "viewer"}, role=role, status=403, code="Forbidden")
        api.error("list-tokens", role=role, status=403, code="Forbidden")
        api.error("revoke-token", {"name": "t-viewer"}, role=role, status=403, code="Forbidden")
    api.error("list-tokens", role=None, status=401)
    assert "jvptest-x" not in {t["name"] for t in api.ok("list-tokens")["tokens"]}
    assert "t-viewer" in {t["name"] for t in api.ok("list-tokens")["tokens"]}


def test_token_bad_input(api):
    before = api.ok("list-tokens")["tokens"]
    api.error("create-token", {"name": "t-admin", "role": "viewer"}, status=409, code="TokenExists")
    for body in ({"name": "a/b", "role": "viewer"}, {"name": "ok", "role": "root"}, {"name": "ok"},
                 {"name": "ok", "role": "viewer", "ttl_days": 0}, {"name": "ok", "role": "viewer", "ttl_days": "7"},
                 {"name": "ok", "role": "viewer", "ttl_days": 100000}, {"name": "", "role": "viewer"}):
        api.error("create-token", body, status=400, code="ValidationFailed")
    api.error("revoke-token", {"name": "ghost"}, status=404, code="TokenNotFound")
    api.error("revoke-token", {"name": "../x"}, status=400, code="ValidationFailed")
    # a token cannot revoke itself: it stays valid
    err = api.error("revoke-token", {"name": "t-admin"}, status=409, code="RevokeOwnToken")
    assert "t-admin" in err["message"] and "another admin token" in err["message"]
    assert api.ok("list-tokens")["tokens"] == before


def test_last_use_is_written_at_most_once_per_interval(api):
    clock = [1000.0]
    tokens = TokenService(api.services.store, api.services.settings.data_dir, usage_interval_s=60,
                          clock=lambda: clock[0])
    secret, _ = tokens.create("jvptest-used", "viewer")
    usage = api.services.settings.data_path / "auth" / "token-usage.yaml"

    def stamp() -> int:
        return usage.stat().st_mtime_ns

    tokens.authenticate(f"Bearer {secret}")
    first = {t["name"]: t for t in tokens.list_with_usage()}["jvptest-used"]["last_used_at"]
    assert first is not None
    written = stamp()
    for _ in range(20):
        clock[0] += 2  # 40 s in all: within the interval, no write
        tokens.authenticate(f"Bearer {secret}")
    assert stamp() == written
    clock[0] += 21
    tokens.authenticate(f"Bearer {secret}")
    assert stamp() != written
    tokens.revoke("jvptest-used")
    assert "jvptest-used" not in usage.read_text()


def test_a_verified_token_is_checked_again_on_every_request(api, monkeypatch):
    """A token that verified is kept (its hash, name, expiry, role) for the next requests, but a revocation
    by another process (the CLI: another TokenService on the same files) applies to the very next request,
    and the expiry is compared with the clock on every request."""
    from datetime import timedelta

    import jvp.service.auth as auth_module
    secret = api.ok("create-token", {"name": "jvptest-kept", "role": "viewer", "ttl_days": 1})["secret"]
    headers = {"Authorization": f"Bearer {secret}"}
    for _ in range(3):
        assert api.client.post("/api/list-nodes", json={}, headers=headers).status_code == 200
    real_now = auth_module.now
    monkeypatch.setattr(auth_module, "now", lambda: real_now() + timedelta(days=2))
    resp = api.client.post("/api/list-nodes", json={}, headers=headers)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "TokenExpired"
    monkeypatch.setattr(auth_module, "now", real_now)
    assert api.client.post("/api/list-nodes", json={}, headers=headers).status_code == 200
    TokenService(api.services.store, api.services.settings.data_dir).revoke("jvptest-kept")  # as `jvp token revoke`
    resp = api.client.post("/api/list-nodes", json={}, headers=headers)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "InvalidToken"


def test_a_task_action_records_the_tasks_outcome(api):
    resp = api.call("clone-volume", {"pool": "default", "name": "scratch.raw", "new_name": "jvptest-copy.raw"},
                    role="operator", expect=202)
    task_id = resp.get_json()["task"]["id"]
    assert api.services.tasks.wait(task_id, 20)["state"] == "succeeded"
    (entry,) = api.ok("list-audit-events", {"action": "clone-volume"})["events"]
    assert entry["task_id"] == task_id and entry["status"] == 202 and entry["outcome"] == "ok"
    assert entry["task_state"] == "succeeded" and entry["task_error_code"] is None and entry["task_finished_at"]

    # a task that fails: the request was accepted (ok 202), its task failed with a code
    resp = api.call("create-snapshot", {"vm": "web1", "name": "jvptest-s1"}, role="operator", expect=202)
    api.services.tasks.wait(resp.get_json()["task"]["id"], 30)
    resp = api.call("clone-from-snapshot", {"vm": "web1", "name": "jvptest-s1", "new_name": "jvptest-web2"},
                    role="operator", expect=202)
    failed_id = resp.get_json()["task"]["id"]
    assert api.services.tasks.wait(failed_id, 30)["state"] == "failed"
    (entry,) = api.ok("list-audit-events", {"action": "clone-from-snapshot"})["events"]
    assert entry["task_id"] == failed_id and entry["task_state"] == "failed"
    assert entry["task_error_code"] == "NotSupported"

    # the log stays append-only: the request's line is unchanged, one outcome line per task follows it
    lines = [json.loads(line) for line in _audit_text(api).splitlines()]
    mine = [line for line in lines if line.get("task_id") == failed_id]
    assert [line["entry"] for line in mine] == ["request", "task_outcome"]
    assert mine[0]["status"] == 202 and "task_state" not in mine[0]
    assert mine[1]["request_id"] == mine[0]["request_id"] and mine[1]["task_state"] == "failed"
    # outcome lines are folded in, never listed as rows of their own
    assert all(e.get("entry") is None for e in api.ok("list-audit-events")["events"])
    api.ok("delete-volume", {"pool": "default", "name": "jvptest-copy.raw"})


def test_a_cancelled_task_and_an_outcome_written_before_its_request(api):
    audit, tasks = api.services.audit, api.services.tasks
    # a task that ends before its request's line is written (fast work): the outcome line comes first
    task = tasks.submit("demo", {"kind": "volume", "node": "local", "name": "jvptest-v"}, lambda h: {},
                        request_id="a" * 32, created_by="t-admin")
    tasks.wait(task["id"], 10)
    audit.record(request_id="a" * 32, action="demo-action", token_name="t-admin", role="admin", target=None,
                 params=None, outcome="ok", status=202, error_code=None, duration_ms=1.0, remote_addr=None,
                 task_id=task["id"])
    (entry,) = api.ok("list-audit-events", {"action": "demo-action"})["events"]
    assert entry["task_state"] == "succeeded"

    # cancelled, and one still running (no outcome yet)
    import threading
    release = threading.Event()
    running = tasks.submit("demo", {"kind": "volume", "node": "local", "name": "jvptest-w"},
                           lambda h: release.wait(10) and h.check_cancelled(), request_id="b" * 32)
    audit.record(request_id="b" * 32, action="demo-cancel", token_name="t-admin", role="admin", target=None,
                 params=None, outcome="ok", status=202, error_code=None, duration_ms=1.0, remote_addr=None,
                 task_id=running["id"])
    (entry,) = api.ok("list-audit-events", {"action": "demo-cancel"})["events"]
    assert entry["task_id"] == running["id"] and entry["task_state"] is None
    api.ok("cancel-task", {"id": running["id"]})
    release.set()
    assert tasks.wait(running["id"], 10)["state"] == "cancelled"
    (entry,) = api.ok("list-audit-events", {"action": "demo-cancel"})["events"]
    assert entry["task_state"] == "cancelled" and entry["task_error_code"] is None
    # cancel-task answers 200 with the task: its entry names no task (only a 202 started one)
    (cancel,) = api.ok("list-audit-events", {"action": "cancel-task"})["events"]
    assert cancel["status"] == 200 and cancel["task_id"] is None and cancel["task_state"] is None


def test_list_audit_events_names_every_audited_action(api):
    actions = api.ok("list-audit-events", {"limit": 1})["actions"]
    assert actions == sorted(actions)
    assert {"create-token", "revoke-token", "create-vm", "open-vm-console", "close-vm-console"} <= set(actions)
    assert not {"list-tokens", "list-vms", "describe-vm"} & set(actions)
