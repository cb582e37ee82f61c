"""The task service: background work, progress, cancellation, failures, recovery after a crash."""
from __future__ import annotations

import threading
import time

import pytest

from jvp.errors import Conflict, JvpError, NotFound
from jvp.service.task.service import TaskService
from jvp.settings import REPO_ROOT
from jvp.store import YamlMetadataStore
from tests.unit.lock_holders import held_by_another_thread

RES = {"kind": "volume", "node": "local", "name": "v1"}


@pytest.fixture
def tasks(tmp_path):
    store = YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")
    svc = TaskService(store, tmp_path, max_workers=2)
    yield svc
    svc.close()


def test_a_task_runs_and_reports_its_result(tasks):
    def work(h):
        h.progress(50, "half way", force=True)
        return {"volume": "v1"}
    task = tasks.submit("clone-volume", RES, work, created_by="alice")
    assert task["state"] == "pending" and task["resource"] == RES
    done = tasks.wait(task["id"], 10)
    assert done["state"] == "succeeded" and done["progress"] == 100 and done["result"] == {"volume": "v1"}
    assert done["started_at"] and done["finished_at"] and done["created_by"] == "alice"
    assert tasks.list(state="succeeded")["tasks"][0]["id"] == task["id"]
    assert tasks.list(node="other")["tasks"] == []


def test_a_jvp_error_fails_the_task_and_runs_cleanups(tasks, tmp_path):
    partial = tmp_path / "partial.img"

    def work(h):
        partial.write_bytes(b"x")
        h.add_cleanup({"type": "file", "path": str(partial)})
        raise JvpError("disk full", code="PoolFull", status=422)
    done = tasks.wait(tasks.submit("clone-volume", RES, work)["id"], 10)
    assert done["state"] == "failed" and done["error"]["code"] == "PoolFull"
    assert not partial.exists()


def test_an_unexpected_exception_is_a_failed_task_not_a_lost_one(tasks):
    def work(h):
        raise KeyError("bug")
    done = tasks.wait(tasks.submit("x", RES, work)["id"], 10)
    assert done["state"] == "failed" and done["error"]["code"] == "InternalError"


def test_cancel_a_running_task(tasks, tmp_path):
    started = threading.Event()
    partial = tmp_path / "p"

    def work(h):
        partial.write_text("x")
        h.add_cleanup({"type": "file", "path": str(partial)})
        started.set()
        while True:
            h.check_cancelled()
    task = tasks.submit("clone-volume", RES, work)
    assert started.wait(10)
    assert tasks.cancel(task["id"])["cancel_requested"] is True
    done = tasks.wait(task["id"], 10)
    assert done["state"] == "cancelled" and not partial.exists()


def test_cancel_from_another_process_is_seen_through_the_store(tasks):
    started = threading.Event()

    def work(h):
        started.set()
        while True:
            h.check_cancelled()
    task = tasks.submit("x", RES, work)
    assert started.wait(10)
    # Another gunicorn worker only has the store: it sets the flag in the file.
    tasks.store.update("task", task["id"], fn=lambda d: {**d, "cancel_requested": True})
    assert tasks.wait(task["id"], 10)["state"] == "cancelled"


def test_a_stopping_worker_waits_for_its_running_tasks_up_to_its_time(tasks):
    """wait_idle (JvpWorker.run's last step): True at once with nothing running, False when a task outlives
    the time given, True once the running tasks have ended."""
    assert tasks.wait_idle(0) is True
    release = threading.Event()
    started = threading.Event()

    def work(h):
        started.set()
        release.wait(10)
    task = tasks.submit("x", RES, work)
    assert started.wait(5)
    t0 = time.monotonic()
    assert tasks.wait_idle(0.3) is False and time.monotonic() - t0 >= 0.3
    threading.Timer(0.2, release.set).start()
    assert tasks.wait_idle(5) is True
    assert tasks.describe(task["id"])["state"] == "succeeded"


def test_cancelling_a_finished_task_is_409(tasks):
    task = tasks.submit("x", RES, lambda h: {})
    tasks.wait(task["id"], 10)
    with pytest.raises(Conflict) as exc:
        tasks.cancel(task["id"])
    assert exc.value.code == "TaskFinished"
    with pytest.raises(NotFound):
        tasks.cancel("00000000-0000-0000-0000-000000000000")


def test_one_active_task_per_resource(tasks):
    release = threading.Event()
    first = tasks.submit("revert-snapshot", RES, lambda h: release.wait(10) and {})
    with pytest.raises(Conflict) as exc:
        tasks.submit("revert-snapshot", RES, lambda h: {})
    assert exc.value.code == "ResourceBusy" and exc.value.details["task"] == first["id"]
    other = tasks.submit("x", {**RES, "name": "v2"}, lambda h: {})
    release.set()
    tasks.wait(first["id"], 10)
    tasks.wait(other["id"], 10)
    tasks.wait(tasks.submit("revert-snapshot", RES, lambda h: {})["id"], 10)


def _resource_locks(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / ".locks").glob("task-resource-*.lock"))


def test_the_resource_lock_file_goes_with_its_submit(tasks, tmp_path):
    release = threading.Event()
    first = tasks.submit("revert-snapshot", RES, lambda h: release.wait(10) and {})
    assert _resource_locks(tmp_path) == []
    with pytest.raises(Conflict):
        tasks.submit("revert-snapshot", RES, lambda h: {})
    assert _resource_locks(tmp_path) == []   # a refused submit removes it too
    release.set()
    tasks.wait(first["id"], 10)


def test_concurrent_submits_on_one_resource_still_exclude_each_other(tasks, tmp_path):
    """Twelve threads submit on one resource at once while each submit removes the lock file it held: one
    task is accepted, every other submit is ResourceBusy naming it."""
    release, go = threading.Event(), threading.Barrier(12)
    accepted, busy = [], []

    def submit() -> None:
        go.wait(10)
        try:
            accepted.append(tasks.submit("revert-snapshot", RES, lambda h: release.wait(10) and {}))
        except Conflict as exc:
            busy.append(exc)
    threads = [threading.Thread(target=submit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    release.set()
    assert len(accepted) == 1 and len(busy) == 11
    assert {e.code for e in busy} == {"ResourceBusy"} and {e.details["task"] for e in busy} == {accepted[0]["id"]}
    tasks.wait(accepted[0]["id"], 10)
    assert _resource_locks(tmp_path) == []


def test_prune_resource_locks_removes_free_ones_only(tasks, tmp_path):
    """Files left by versions that kept one per resource go; one held (by another thread) and the store's own
    lock files stay."""
    locks = tmp_path / ".locks"
    for name in ("task-resource-a.lock", "task-resource-b.lock", "task-resource-held.lock", "0123abcd.lock"):
        (locks / name).write_text("")
    with held_by_another_thread(locks / "task-resource-held.lock"):
        assert tasks.prune_resource_locks() == 2
        assert _resource_locks(tmp_path) == ["task-resource-held.lock"]
        assert (locks / "0123abcd.lock").exists()
    assert tasks.prune_resource_locks() == 1 and _resource_locks(tmp_path) == []


def test_recovery_marks_a_dead_process_task_interrupted_and_cleans_up(tasks, tmp_path):
    partial = tmp_path / "half.qcow2"
    partial.write_text("half")
    removed = []
    tasks.register_cleanup("volume", lambda spec: removed.append(spec["name"]))
    tasks.store.put("task", "11111111-2222-3333-4444-555555555555", doc={
        "id": "11111111-2222-3333-4444-555555555555", "kind": "clone-volume", "state": "running",
        "progress": 40, "resource": RES, "created_at": "2026-01-01T00:00:00Z",
        "owner": {"host": __import__("socket").gethostname(), "pid": 999999999, "start": "1"},
        "cleanup": [{"type": "file", "path": str(partial)},
                    {"type": "volume", "node": "local", "pool": "p", "name": "v1"}]})
    assert tasks.recover() == ["11111111-2222-3333-4444-555555555555"]
    doc = tasks.describe("11111111-2222-3333-4444-555555555555")
    assert doc["state"] == "failed" and doc["error"]["reason"] == "interrupted"
    assert not partial.exists() and removed == ["v1"]
    assert tasks.recover() == []  # idempotent


def test_recovery_leaves_live_processes_alone(tasks):
    release = threading.Event()
    task = tasks.submit("x", RES, lambda h: release.wait(10) and {})
    assert tasks.recover() == []
    release.set()
    assert tasks.wait(task["id"], 10)["state"] == "succeeded"


# -- issue 14: a task that cannot be recorded -----------------------------------------------------------------
def test_a_task_whose_record_would_not_read_back_is_refused_before_it_runs(tasks, tmp_path):
    """create-vm with a lone surrogate in its description used to answer 202 with a task file that could not be
    read: the task never ran, describe-task answered 422. Now the record is checked first: submit fails, nothing
    is left, the work never runs."""
    ran = []
    with pytest.raises(JvpError) as exc:
        tasks.submit("create-vm", RES, lambda h: ran.append(1), params={"description": "a\ud800b"})
    assert (exc.value.code, exc.value.status) == ("MetadataInvalid", 500)
    assert not list((tmp_path / "tasks").glob("*"))
    listed = tasks.list()
    assert listed["tasks"] == [] and listed["errors"] == [] and ran == []


def test_a_result_that_cannot_be_recorded_still_ends_the_task(tasks):
    task = tasks.submit("clone-volume", RES, lambda h: {"volume": "v\ud800"})
    done = tasks.wait(task["id"], 10)
    assert done["state"] == "failed" and done["error"]["code"] == "InternalError"
    assert done["result"] is None and "could not be recorded" in done["error"]["message"]
    assert tasks.list()["errors"] == [] and tasks.active_on(RES) is None


def test_pending_to_running_is_written_by_the_flusher_while_the_work_goes_on(tasks, monkeypatch):
    """The task's thread does not wait for pending -> running: the flusher thread writes it at once (the work
    below starts before it is on disk and sees it land without writing anything itself); every write of the
    record is fully durable."""
    writes = []
    real = tasks.store.update

    def update(kind, *key, fn, durable=True):
        def seen(doc):
            new = fn(doc)
            if new is not None:
                writes.append((new["state"], bool(new.get("cleanup")), durable, threading.current_thread().name))
            return new
        return real(kind, *key, fn=seen, durable=durable)
    monkeypatch.setattr(tasks.store, "update", update)

    def work(h):
        assert tasks.describe(h.id)["state"] == "running"  # this process sees it at once
        deadline = time.monotonic() + 5
        while tasks.store.get("task", h.id)["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        h.add_cleanup({"type": "file", "path": "/nonexistent/jvp-test"})
        h.drop_cleanup({"type": "file", "path": "/nonexistent/jvp-test"})
        return {}
    task = tasks.submit("x", RES, work)
    assert tasks.wait(task["id"], 10)["state"] == "succeeded"
    assert [w[:3] for w in writes] == [("running", False, True), ("running", True, True), ("running", False, True),
                                       ("succeeded", False, True)]
    assert writes[0][3] == "task-progress" and writes[1][3].startswith("task")


def test_cleanups_given_at_submit_are_in_the_new_record_and_run_when_the_work_fails(tasks, tmp_path):
    """submit(cleanup=...): the outputs the work will make are registered by the new record itself (no write of
    their own before the work makes them) and are removed like any registered cleanup."""
    partial = tmp_path / "early.qcow2"
    seen = []

    def work(h):
        seen.append(tasks.store.get("task", h.id)["cleanup"])  # on disk before the work ran
        partial.write_text("half")
        raise JvpError("boom", code="Boom")
    task = tasks.submit("clone-volume", RES, work, cleanup=[{"type": "file", "path": str(partial)}])
    done = tasks.wait(task["id"], 10)
    assert done["state"] == "failed" and seen == [[{"type": "file", "path": str(partial)}]]
    assert not partial.exists() and tasks.store.get("task", task["id"])["cleanup"] == []


def test_cleanups_given_at_submit_are_dropped_unrun_when_cancelled_before_the_work_starts(tasks, tmp_path):
    """A task cancelled while queued never made its outputs: a file of that name (someone else's) stays."""
    release = threading.Event()
    busy = [tasks.submit("x", {**RES, "name": f"busy{i}"}, lambda h: release.wait(10) and {}) for i in range(2)]
    foreign = tmp_path / "theirs.qcow2"
    foreign.write_text("not ours")
    ran = []
    task = tasks.submit("clone-volume", RES, lambda h: ran.append(1) or {},
                        cleanup=[{"type": "file", "path": str(foreign)}])
    tasks.cancel(task["id"])  # both workers are busy: still pending
    release.set()
    done = tasks.wait(task["id"], 10)
    assert done["state"] == "cancelled" and ran == []
    assert foreign.read_text() == "not ours"
    assert tasks.store.get("task", task["id"])["cleanup"] == []
    for b in busy:
        tasks.wait(b["id"], 10)


def test_cleanups_given_at_submit_are_run_by_recovery_after_a_crash(tasks, tmp_path):
    """A crash cannot say whether the work started (`running` is written late): recovery removes them."""
    partial = tmp_path / "made.qcow2"
    partial.write_text("half")
    release = threading.Event()
    task = tasks.submit("clone-volume", RES, lambda h: release.wait(10) and {},
                        cleanup=[{"type": "file", "path": str(partial)}])
    doc = tasks.store.get("task", task["id"])
    assert doc["cleanup"] == [{"type": "file", "path": str(partial)}]
    # the record as a dead process would leave it
    tasks.store.put("task", "11111111-2222-3333-4444-666666666666", doc={
        **doc, "id": "11111111-2222-3333-4444-666666666666", "resource": {**RES, "name": "v9"},
        "owner": {"host": __import__("socket").gethostname(), "pid": 999999999, "start": "1"}})
    assert tasks.recover() == ["11111111-2222-3333-4444-666666666666"]
    assert not partial.exists()
    release.set()
    tasks.wait(task["id"], 10)


def test_the_final_record_replaces_the_old_one_only_once_the_hook_write_is_durable(tmp_path):
    """on_final may answer a wait for its own write (the audit line's fsync): the final record's file is
    written and synced meanwhile, and replaces the old one only after that wait returned."""
    store = YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")
    order = []

    def hook(view):
        order.append(("hook", view["state"]))

        def synced():
            order.append(("synced", store.get("task", view["id"])["state"]))  # still the old record on disk
        return synced
    svc = TaskService(store, tmp_path, max_workers=1, on_final=hook)
    try:
        task = svc.submit("x", RES, lambda h: {})
        assert svc.wait(task["id"], 10)["state"] == "succeeded"
        # the old record (pending: `running` rode on this final write) was still on disk during the wait
        assert order == [("hook", "succeeded"), ("synced", "pending")]
        assert store.get("task", task["id"])["state"] == "succeeded"
    finally:
        svc.close()


def test_a_failing_hook_wait_is_logged_and_the_task_still_ends(tmp_path, caplog):
    store = YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")

    def hook(view):
        def synced():
            raise OSError(5, "Input/output error")
        return synced
    svc = TaskService(store, tmp_path, max_workers=1, on_final=hook)
    try:
        task = svc.submit("x", RES, lambda h: {})
        assert svc.wait(task["id"], 10)["state"] == "succeeded"
        assert "the final-state hook's write failed" in caplog.text
    finally:
        svc.close()
