"""Task service extensions used by the storage module: inline tasks (uploads) and deferred cleanups."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from jvp.errors import Conflict, JvpError
from jvp.service.task import cleanup as task_mod
from jvp.service.task.cleanup import CleanupDeferred
from jvp.service.task.service import TaskService
from jvp.settings import REPO_ROOT
from jvp.store import YamlMetadataStore
from jvp.timeutil import rfc3339

RES = {"kind": "volume", "node": "local", "pool": "p", "name": "up.img"}


@pytest.fixture
def tasks(tmp_path):
    store = YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")
    svc = TaskService(store, tmp_path, max_workers=2)
    yield svc
    svc.close()


def test_an_inline_task_runs_in_the_caller_and_is_recorded(tasks):
    caller = threading.current_thread()
    seen = {}

    def work(h):
        seen["thread"] = threading.current_thread()
        seen["listed"] = [t["state"] for t in tasks.list()["tasks"]]
        h.progress(50, bytes_done=5, bytes_total=10, force=True)
        return {"volume": "up.img"}
    assert tasks.run_inline("upload-volume", RES, work, created_by="ops") == {"volume": "up.img"}
    assert seen == {"thread": caller, "listed": ["running"]}
    (done,) = tasks.list()["tasks"]
    assert done["state"] == "succeeded" and done["resource"] == RES and done["created_by"] == "ops"


def test_an_inline_failure_runs_cleanups_and_reaches_the_caller(tasks):
    removed = []
    tasks.register_cleanup("volume", lambda spec: removed.append(spec["name"]))

    def work(h):
        h.add_cleanup({"type": "volume", **RES})
        raise JvpError("short body", code="UploadIncomplete", status=400)
    with pytest.raises(JvpError) as exc:
        tasks.run_inline("upload-volume", RES, work)
    assert exc.value.code == "UploadIncomplete" and removed == ["up.img"]
    (done,) = tasks.list()["tasks"]
    assert done["state"] == "failed" and done["error"]["code"] == "UploadIncomplete"


def test_cancelling_an_inline_task_stops_it_with_a_409(tasks):
    removed = []
    tasks.register_cleanup("volume", lambda spec: removed.append(spec["name"]))

    def work(h):
        h.add_cleanup({"type": "volume", **RES})
        tasks.cancel(tasks.list()["tasks"][0]["id"])  # as cancel-task from another request would
        h.progress(10, force=True)
    with pytest.raises(Conflict) as exc:
        tasks.run_inline("upload-volume", RES, work)
    assert exc.value.code == "TaskCancelled" and removed == ["up.img"]
    assert tasks.list()["tasks"][0]["state"] == "cancelled"


def test_the_pool_is_part_of_the_resource(tasks):
    release = threading.Event()
    first = tasks.submit("clone-volume", RES, lambda h: release.wait(10) and {})
    other_pool = tasks.submit("clone-volume", {**RES, "pool": "q"}, lambda h: {})
    with pytest.raises(Conflict):
        tasks.run_inline("upload-volume", RES, lambda h: {})
    release.set()
    assert tasks.wait(first["id"], 10)["state"] == "succeeded"
    assert tasks.wait(other_pool["id"], 10)["state"] == "succeeded"


def test_a_deferred_cleanup_is_kept_and_retried_until_it_succeeds(tasks, monkeypatch):
    monkeypatch.setattr(task_mod, "CLEANUP_RETRY_INTERVAL_S", 0.05)
    attempts = []
    done = threading.Event()

    def cleanup(spec):
        attempts.append(spec["name"])
        if len(attempts) < 3:
            raise CleanupDeferred("libvirt still writes it")
        done.set()
    tasks.register_cleanup("volume", cleanup)

    def work(h):
        h.add_cleanup({"type": "volume", **RES})
        raise JvpError("copy failed", code="OperationFailed", status=422)
    task = tasks.wait(tasks.submit("clone-volume", RES, work)["id"], 10)
    assert task["state"] == "failed"
    assert done.wait(10), attempts
    deadline = time.monotonic() + 5
    while tasks.store.get("task", task["id"])["cleanup"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert tasks.store.get("task", task["id"])["cleanup"] == [] and len(attempts) == 3


def test_recovery_retries_cleanups_a_dead_process_left_deferred(tasks):
    removed = []
    tasks.register_cleanup("volume", lambda spec: removed.append(spec["name"]))
    tid = "22222222-3333-4444-5555-666666666666"
    tasks.store.put("task", tid, doc={
        "id": tid, "kind": "clone-volume", "state": "failed", "resource": RES, "created_at": "2026-01-01T00:00:00Z",
        "finished_at": rfc3339(), "owner": {"host": socket.gethostname(), "pid": 999999999, "start": "1"},
        "cleanup": [{"type": "volume", **RES}]})
    assert tasks.recover() == []  # not active: nothing to mark, but its leftover cleanup runs
    assert removed == ["up.img"] and tasks.store.get("task", tid)["cleanup"] == []


def test_a_very_old_deferred_cleanup_is_given_up(tasks):
    tasks.register_cleanup("volume", lambda spec: (_ for _ in ()).throw(CleanupDeferred("never")))
    tid = "33333333-3333-4444-5555-666666666666"
    tasks.store.put("task", tid, doc={
        "id": tid, "kind": "clone-volume", "state": "failed", "resource": RES, "created_at": "2020-01-01T00:00:00Z",
        "finished_at": "2020-01-01T00:00:00Z", "cleanup": [{"type": "volume", **RES}]})
    assert tasks.retry_cleanups() == 0
    assert tasks.store.get("task", tid)["cleanup"] == []
