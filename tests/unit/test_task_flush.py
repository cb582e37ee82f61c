"""Task progress is kept in memory and written at most every flush_interval_s; state changes and cleanup
records are written at once; a crash loses only the progress of the last interval (issue 15)."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from jvp.errors import JvpError
from jvp.service.task.service import TaskService
from jvp.settings import REPO_ROOT
from jvp.store import YamlMetadataStore

RES = {"kind": "volume", "node": "local", "name": "v1"}
DEAD_OWNER = {"host": socket.gethostname(), "pid": 999999999, "start": "1"}


class RecordingStore:
    """The MetadataStore interface over the YAML store, recording every task write (what reached the disk)."""

    def __init__(self, root):
        self.inner = YamlMetadataStore(root, REPO_ROOT / "metadata_schema")
        self.writes: list[dict[str, Any]] = []

    def get(self, kind, *key):
        return self.inner.get(kind, *key)

    def put(self, kind, *key, doc):
        self.writes.append(doc)
        return self.inner.put(kind, *key, doc=doc)

    def create(self, kind, *key, doc):
        return self.inner.create(kind, *key, doc=doc)

    def update(self, kind, *key, fn: Callable, durable: bool = True, before_replace=None):
        def recorded(doc):
            new = fn(doc)
            if new is not None:  # recorded before the file is replaced: a reader woken by it sees the list
                self.writes.append(new)
            return new
        return self.inner.update(kind, *key, fn=recorded, durable=durable, before_replace=before_replace)

    def delete(self, kind, *key):
        return self.inner.delete(kind, *key)

    def list(self, kind):
        return self.inner.list(kind)

    def keys(self, kind):
        return self.inner.keys(kind)

    def locked(self, kind, *key):
        return self.inner.locked(kind, *key)

    def writable(self):
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path):
    return RecordingStore(tmp_path)


@pytest.fixture
def tasks(store, tmp_path, clock):
    svc = TaskService(store, tmp_path, max_workers=2, clock=clock, flusher=False)
    yield svc
    svc.close()


def on_disk(store: RecordingStore, task_id: str) -> dict[str, Any]:
    return store.inner.get("task", task_id)


def test_progress_is_written_at_most_once_per_interval(tasks, store, clock):
    seen: dict[str, Any] = {}

    def work(h):
        task_id = h.id
        writes = len(store.writes)
        clock.now += 0.25
        h.progress(10, "copying")
        clock.now += 0.25
        h.progress(20, "still copying")
        assert len(store.writes) == writes            # held in memory
        assert on_disk(store, task_id)["progress"] == 0
        assert tasks.describe(task_id)["progress"] == 20  # this process sees it at once
        assert tasks.list()["tasks"][0]["message"] == "still copying"
        assert tasks.flush_due() == clock.now + 0.5  # due one interval after the last write
        assert len(store.writes) == writes
        clock.now += 0.5
        assert tasks.flush_due() is None               # due: written, nothing else pending
        assert len(store.writes) == writes + 1
        assert on_disk(store, task_id)["progress"] == 20
        assert on_disk(store, task_id)["message"] == "still copying"
        clock.now += 0.25
        h.progress(30)
        assert len(store.writes) == writes + 1
        clock.now += 1.0
        h.progress(40)                                 # a whole interval after the last write: due at once...
        assert len(store.writes) == writes + 1         # ...for the flusher: the task's thread never writes it
        assert tasks.flush_due() is None
        assert len(store.writes) == writes + 2 and on_disk(store, task_id)["progress"] == 40
        for _ in range(50):                            # a burst: nothing written
            h.progress(41)
        assert len(store.writes) == writes + 2
        seen["id"] = task_id
        return {"ok": True}
    assert tasks.run_inline("upload-volume", RES, work) == {"ok": True}
    done = on_disk(store, seen["id"])
    assert done["state"] == "succeeded" and done["progress"] == 100


def test_state_changes_and_cleanups_are_written_at_once_with_the_pending_progress(tasks, store, clock, tmp_path):
    partial = tmp_path / "partial"
    ids = []

    def work(h):
        ids.append(h.id)
        assert on_disk(store, h.id)["state"] == "running"
        clock.now += 0.1
        h.progress(30, "writing")
        partial.write_text("x")
        spec = {"type": "file", "path": str(partial)}
        h.add_cleanup(spec)
        doc = on_disk(store, h.id)
        assert doc["cleanup"] == [spec] and doc["progress"] == 30 and doc["message"] == "writing"
        clock.now += 0.1
        h.progress(60, "more")
        raise JvpError("disk full", code="PoolFull", status=422)
    with pytest.raises(JvpError):
        tasks.run_inline("upload-volume", RES, work)
    doc = on_disk(store, ids[0])
    assert doc["state"] == "failed" and doc["progress"] == 60 and doc["error"]["code"] == "PoolFull"
    assert doc["cleanup"] == [] and not partial.exists()
    # Nothing of the task stays in memory once it is final: a late flush has nothing to write.
    writes = len(store.writes)
    clock.now += 5
    assert tasks.flush_due() is None and len(store.writes) == writes


def test_create_vm_like_task_writes_its_record_three_times(tasks, store, clock):
    """The shape of create-vm: ~6 progress messages, two outputs registered in one write, kept on success.
    pending -> running goes to the flusher thread (none here: flusher=False), so it reaches the disk with the
    first write the task makes itself."""
    def work(h):
        for pct in (1, 2, 5, 60, 80):
            clock.now += 0.05
            h.progress(pct, f"step {pct}", force=True)
        a = {"type": "file", "path": "/nonexistent/a"}
        b = {"type": "file", "path": "/nonexistent/b"}
        h.add_cleanup(a, b)
        h.keep_on_success(a, b)
        return {}
    task = tasks.submit("create-vm", RES, work)
    assert tasks.wait(task["id"], 10)["state"] == "succeeded"
    # the new record, running with both cleanups in one write, the final state (which drops them)
    assert [w["state"] for w in store.writes] == ["pending", "running", "succeeded"]
    assert len(store.writes[1]["cleanup"]) == 2 and store.writes[-1]["cleanup"] == []
    assert store.writes[1]["progress"] == 80  # the pending progress went out with the cleanups
    assert store.writes[1]["started_at"]


def test_kept_outputs_are_removed_when_the_task_fails_after_all(tasks, tmp_path):
    out = tmp_path / "vm-disk"

    def work(h):
        out.write_text("x")
        spec = {"type": "file", "path": str(out)}
        h.add_cleanup(spec)
        h.keep_on_success(spec)
        raise JvpError("the last step failed", code="PoolFull", status=422)
    done = tasks.wait(tasks.submit("create-vm", RES, work)["id"], 10)
    assert done["state"] == "failed" and not out.exists()


def test_a_crash_before_the_final_write_removes_kept_outputs(tasks, store, tmp_path):
    """keep_on_success writes nothing: the record a crash leaves still lists the output, and the task never
    succeeded, so recovery removes it (nothing half-done is left)."""
    out = tmp_path / "vm-disk"
    snapshot: dict[str, Any] = {}

    def work(h):
        out.write_text("x")
        spec = {"type": "file", "path": str(out)}
        h.add_cleanup(spec)
        h.keep_on_success(spec)
        snapshot.update(on_disk(store, h.id))
        return {}
    tasks.wait(tasks.submit("create-vm", RES, work)["id"], 10)
    assert out.exists()  # succeeded: kept
    crashed = {**snapshot, "id": "11111111-2222-3333-4444-555555555556", "owner": DEAD_OWNER}
    store.inner.put("task", crashed["id"], doc=crashed)
    assert tasks.recover() == [crashed["id"]]
    assert tasks.describe(crashed["id"])["state"] == "failed" and not out.exists()


def test_a_flush_never_writes_over_a_final_state(tasks, store, clock):
    started, release = threading.Event(), threading.Event()

    def work(h):
        clock.now += 0.1
        h.progress(50, "half")
        started.set()
        release.wait(10)
        return {}
    task = tasks.submit("x", RES, work)
    assert started.wait(10)
    # Another process decided the task is over (its recovery): the flusher must not revive it.
    store.inner.update("task", task["id"], fn=lambda d: {**d, "state": "failed", "message": "interrupted"})
    clock.now += 2
    tasks.flush_due()
    doc = on_disk(store, task["id"])
    assert doc["state"] == "failed" and doc["message"] == "interrupted" and doc["progress"] == 0
    release.set()


def test_another_process_sees_progress_within_the_interval_and_the_final_state_at_once(tmp_path):
    """Real clock and the flusher thread; a second TaskService over the same directory is another worker."""
    here = TaskService(YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema"), tmp_path,
                       flush_interval_s=0.2)
    other = TaskService(YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema"), tmp_path)
    release = threading.Event()

    def work(h):
        h.progress(42, "working")  # then no further call: only the flusher can write it
        release.wait(10)
        return {"done": True}
    try:
        task = here.submit("x", RES, work)
        deadline = time.monotonic() + 5
        while other.describe(task["id"])["progress"] != 42:
            assert time.monotonic() < deadline, "progress never reached the other process"
            time.sleep(0.02)
        assert other.describe(task["id"])["message"] == "working"
        release.set()
        here.wait(task["id"], 10)
        assert other.describe(task["id"])["state"] == "succeeded"
        assert other.describe(task["id"])["result"] == {"done": True}
    finally:
        release.set()
        here.close()
        other.close()


def test_a_crash_loses_only_the_progress_not_written_yet(tasks, store, clock, tmp_path):
    """Recovery after a crash mid-task: the record on disk has every cleanup registered (written at once)
    and the progress of the last flush; the progress held in memory is what the crash lost."""
    partial = tmp_path / "half.img"
    snapshot: dict[str, Any] = {}

    def work(h):
        clock.now += 0.1
        h.progress(10, "copying")
        partial.write_text("half")
        h.add_cleanup({"type": "file", "path": str(partial)})  # written, with progress 10
        clock.now += 0.1
        h.progress(70, "almost")                                # in memory only
        snapshot.update(on_disk(store, h.id))                    # the file as a crash now would leave it
        return {}
    task = tasks.submit("x", RES, work)
    tasks.wait(task["id"], 10)
    assert snapshot["progress"] == 10 and snapshot["message"] == "copying"
    # The crashed process's record, under a new id, owned by a process that no longer runs.
    crashed = {**snapshot, "id": "11111111-2222-3333-4444-555555555555", "owner": DEAD_OWNER}
    store.inner.put("task", crashed["id"], doc=crashed)
    assert tasks.recover() == [crashed["id"]]
    doc = tasks.describe(crashed["id"])
    assert doc["state"] == "failed" and doc["error"]["reason"] == "interrupted"
    assert doc["progress"] == 10 and not partial.exists()


def test_bare_figures_are_noted_at_most_every_note_interval_messages_always(tasks, clock):
    """A stream reports per block: bare byte counts closer than NOTE_INTERVAL_S are skipped (the next block
    brings newer ones); a call with a message, or forced, is always noted."""
    from jvp.service.task.handle import NOTE_INTERVAL_S

    def work(h):
        h.progress(1, bytes_done=1, bytes_total=100)
        h.progress(2, bytes_done=2, bytes_total=100)            # too soon: skipped
        assert tasks.describe(h.id)["bytes_done"] == 1
        h.progress(3, "a new phase")                             # a message: noted
        assert tasks.describe(h.id)["message"] == "a new phase" and tasks.describe(h.id)["progress"] == 3
        h.progress(4, bytes_done=4, bytes_total=100, force=True)  # forced: noted
        assert tasks.describe(h.id)["bytes_done"] == 4
        clock.now += 2 * NOTE_INTERVAL_S
        h.progress(5, bytes_done=5, bytes_total=100)
        assert tasks.describe(h.id)["bytes_done"] == 5
        return {}
    tasks.run_inline("upload-volume", RES, work)
