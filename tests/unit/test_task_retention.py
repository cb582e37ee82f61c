"""Task records: retention (pruning), cheap reads of open tasks only, a limit on the listing, and tasks of
a process that died while the others live (a gunicorn worker replaced on reload)."""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from jvp.errors import Conflict
from jvp.service.task import owner as task_owner
from jvp.service.task.service import TaskService
from jvp.settings import REPO_ROOT, ConfigError, load_settings
from jvp.store import YamlMetadataStore
from jvp.timeutil import rfc3339

RES = {"kind": "volume", "node": "local", "pool": "p", "name": "v1"}
DEAD = {"host": socket.gethostname(), "pid": 999999999, "start": "1"}  # beyond pid_max: never alive


@pytest.fixture
def store(tmp_path):
    return YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")


@pytest.fixture
def make(store, tmp_path):
    made = []

    def factory(**kwargs):
        svc = TaskService(store, tmp_path, max_workers=2, **kwargs)
        made.append(svc)
        return svc
    yield factory
    for svc in made:
        svc.close()


def ago(days: float = 0, seconds: float = 0) -> str:
    return rfc3339(datetime.now(timezone.utc) - timedelta(days=days, seconds=seconds))


def record(store, state="succeeded", finished=None, created=None, owner=None, resource=None, cleanup=None):
    task_id = str(uuid.uuid4())
    store.put("task", task_id, doc={
        "id": task_id, "kind": "clone-volume", "state": state, "progress": 100 if state == "succeeded" else 10,
        "resource": resource or {**RES, "name": task_id[:8]}, "created_at": created or finished or ago(),
        "finished_at": finished if state not in ("pending", "running") else None,
        "owner": owner if owner is not None else task_owner.this_process(), "cleanup": cleanup or [],
        "cancel_requested": False})
    return task_id


def ids(store):
    return {k[0] for k in store.keys("task")}


def test_finished_tasks_beyond_the_count_are_pruned_newest_kept(store, make):
    finished = [record(store, finished=ago(seconds=100 - i)) for i in range(15)]  # finished[-1] is newest
    running = record(store, state="running", created=ago(days=400))
    deferred = record(store, state="failed", finished=ago(days=400),
                      cleanup=[{"type": "volume", "node": "local", "pool": "p", "name": "x"}])
    tasks = make(retention_count=10)
    assert tasks.prune() == 5
    assert ids(store) == set(finished[5:]) | {running, deferred}
    assert tasks.prune() == 0


def test_finished_tasks_older_than_the_age_are_pruned_at_start_up(store, make):
    old = record(store, state="failed", finished=ago(days=3))
    cancelled = record(store, state="cancelled", finished=ago(days=2.5))
    recent = record(store, finished=ago(days=1))
    tasks = make(retention_days=2)
    tasks.register_cleanup("volume", lambda spec: None)
    tasks.recover()  # what create_app runs in every worker
    assert ids(store) == {recent}
    assert old not in {t["id"] for t in tasks.list()["tasks"]} and cancelled not in ids(store)


def test_submitting_prunes_in_the_background_when_due(store, make, monkeypatch):
    for i in range(12):
        record(store, finished=ago(seconds=100 - i))
    tasks = make(retention_count=10)
    done = tasks.submit("x", RES, lambda h: {})
    tasks.wait(done["id"], 10)
    assert len(ids(store)) == 13  # not due yet: nothing pruned
    tasks._next_prune = 0  # the interval has passed
    release = threading.Event()
    running = tasks.submit("x", RES, lambda h: release.wait(10) and {})
    deadline = time.monotonic() + 10
    while len(ids(store)) > 11 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(ids(store)) == 11  # the newest 10 finished ones, and the open task
    assert {done["id"], running["id"]} <= ids(store)
    release.set()
    tasks.wait(running["id"], 10)


def test_list_tasks_limit_is_newest_first(store, make):
    made = [record(store, finished=ago(seconds=50 - i)) for i in range(6)]
    tasks = make()
    listed = tasks.list(limit=3)["tasks"]
    assert [t["id"] for t in listed] == made[::-1][:3]
    assert len(tasks.list()["tasks"]) == 6


def test_the_busy_check_reads_only_open_tasks(store, make, monkeypatch):
    for _ in range(40):
        record(store)
    running = record(store, state="running", resource=RES)
    tasks = make()
    assert tasks.active_on(RES)["id"] == running  # first look: every file is read once
    reads = []
    real_get = store.get
    monkeypatch.setattr(store, "get", lambda kind, *key: reads.append(key) or real_get(kind, *key))
    assert tasks.active_on(RES)["id"] == running
    assert reads == [(running,)]
    # A task another process finished and wrote is seen (its file is new to this process): read once.
    other = record(store, finished=ago())
    assert other in {t["id"] for t in tasks.list()["tasks"]}
    reads.clear()
    tasks.list()
    assert reads == [(running,)]
    # A record deleted by another process (its prune) is gone from the listing.
    store.delete("task", other)
    assert other not in {t["id"] for t in tasks.list()["tasks"]}


def test_a_dead_workers_task_no_longer_blocks_its_volume(store, make):
    """A gunicorn worker died (or was replaced on reload) while another lives: its running upload is
    interrupted when the busy check meets it, with its partial output removed, not at the next start."""
    removed = []
    stale = record(store, state="running", resource=RES, owner=DEAD,
                   cleanup=[{"type": "volume", **RES}])
    tasks = make()
    tasks.register_cleanup("volume", lambda spec: removed.append(spec["name"]))
    fresh = tasks.submit("clone-volume", RES, lambda h: {})
    assert tasks.wait(fresh["id"], 10)["state"] == "succeeded"
    doc = tasks.describe(stale)
    assert doc["state"] == "failed" and doc["error"]["reason"] == "interrupted"
    assert doc["error"]["code"] == "TaskInterrupted" and removed == ["v1"]


def test_a_dead_workers_task_shows_as_interrupted_and_cannot_be_cancelled(store, make):
    polled = record(store, state="running", owner=DEAD)
    listed = record(store, state="pending", owner=DEAD)
    cancelled = record(store, state="running", owner=DEAD)
    tasks = make()
    assert tasks.describe(polled)["state"] == "failed"
    assert {t["id"]: t["state"] for t in tasks.list()["tasks"]}[listed] == "failed"
    with pytest.raises(Conflict) as exc:
        tasks.cancel(cancelled)
    assert exc.value.code == "TaskFinished"


def test_a_live_workers_task_still_blocks(store, make):
    release = threading.Event()
    tasks = make()
    first = tasks.submit("clone-volume", RES, lambda h: release.wait(10) and {})
    # Another worker of this server: alive, with its own pid.
    other = record(store, state="running", resource={**RES, "name": "v2"},
                   owner={**task_owner.this_process(), "pid": os.getppid(),
                          "start": task_owner.proc_start_time(os.getppid())})
    with pytest.raises(Conflict) as exc:
        tasks.submit("clone-volume", RES, lambda h: {})
    assert exc.value.details["task"] == first["id"]
    with pytest.raises(Conflict):
        tasks.submit("clone-volume", {**RES, "name": "v2"}, lambda h: {})
    assert tasks.describe(other)["state"] == "running"
    release.set()
    tasks.wait(first["id"], 10)


def test_an_owner_from_before_a_reboot_is_dead(monkeypatch):
    me = task_owner.this_process()
    assert task_owner.owner_alive(me)
    assert not task_owner.owner_alive({**me, "boot": "another-boot"})
    assert task_owner.owner_alive({**me, "host": "other-controller", "pid": 999999999})  # not ours to judge


def test_retention_settings(tmp_path):
    s = load_settings(config_path=os.devnull, env={"JVP_TASK_RETENTION_DAYS": "2.5",
                                                  "JVP_TASK_RETENTION_COUNT": "50"})
    assert (s.task_retention_days, s.task_retention_count) == (2.5, 50)
    assert load_settings(config_path=os.devnull, env={}).task_retention_count == 1000
    with pytest.raises(ConfigError, match="task_retention_count"):
        load_settings(config_path=os.devnull, env={"JVP_TASK_RETENTION_COUNT": "0"})


def test_a_zombie_owner_is_not_alive():
    """A worker killed with its master is reparented and stays a zombie until reaped (a container's PID 1 may
    never reap it): its /proc entry remains, but it runs nothing, so its tasks are interrupted."""
    pid = os.fork()
    if pid == 0:  # the child exits at once; not waited for yet, it is a zombie
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while task_owner.proc_stat(pid)[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        owner = {**task_owner.this_process(), "pid": pid, "start": task_owner.proc_stat(pid)[1]}
        assert not task_owner.owner_alive(owner)
    finally:
        os.waitpid(pid, 0)
