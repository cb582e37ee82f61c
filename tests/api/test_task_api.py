"""Task actions through the API."""
from __future__ import annotations

import threading


def test_task_actions(api):
    release = threading.Event()
    tasks = api.services.tasks
    task = tasks.submit("demo", {"kind": "volume", "node": "local", "name": "v"}, lambda h: release.wait(10) and {})
    listed = api.ok("list-tasks", {"state": "pending"}, role="viewer")["tasks"] + \
        api.ok("list-tasks", {"state": "running"}, role="viewer")["tasks"]
    assert task["id"] in {t["id"] for t in listed}
    assert api.ok("describe-task", {"id": task["id"]}, role="viewer")["task"]["kind"] == "demo"
    api.error("cancel-task", {"id": task["id"]}, role="viewer", status=403)
    assert api.ok("cancel-task", {"id": task["id"]}, role="operator")["task"]["cancel_requested"] is True
    release.set()
    done = tasks.wait(task["id"], 10)
    assert done["state"] in ("cancelled", "succeeded")
    err = api.error("cancel-task", {"id": task["id"]}, status=409, code="TaskFinished")
    assert done["state"] in err["message"]


def test_task_bad_input(api):
    api.error("describe-task", {"id": "../../etc/passwd"}, status=400, code="ValidationFailed")
    api.error("describe-task", {"id": "00000000-0000-0000-0000-000000000000"}, status=404, code="TaskNotFound")
    api.error("list-tasks", {"state": "exploded"}, status=400, code="ValidationFailed")
    for node in ("a/b", "-x", "..", ""):
        err = api.error("list-tasks", {"node": node}, status=400, code="ValidationFailed")
        assert "node" in err["details"]["field_errors"], err


def test_list_tasks_limit(api):
    tasks = api.services.tasks
    made = []
    for i in range(4):
        task = tasks.submit("demo", {"kind": "volume", "node": "local", "name": f"v{i}"}, lambda h: {})
        tasks.wait(task["id"], 10)
        made.append(task["id"])
        # created_at has one-second resolution: space the records so "newest first" is unambiguous
        tasks.store.update("task", task["id"], fn=lambda d, i=i: {**d, "created_at": f"2026-01-01T00:00:0{i}Z"})
    tasks._final.clear()
    listed = api.ok("list-tasks", {"limit": 2}, role="viewer")["tasks"]
    assert [t["id"] for t in listed] == made[::-1][:2]
    assert len(api.ok("list-tasks", {}, role="viewer")["tasks"]) == 4
    for bad in (0, -1, "x", 10**9):
        err = api.error("list-tasks", {"limit": bad}, status=400, code="ValidationFailed")
        assert "limit" in err["details"]["field_errors"], err
