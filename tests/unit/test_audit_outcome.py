"""The audit log's task-outcome hook: the line is written at once, its fsync runs on the audit's own thread and
the answer waits for it (TaskService replaces the final record only after that wait)."""
from __future__ import annotations

import os

import pytest

from jvp.service.audit import AuditLog
from jvp.settings import REPO_ROOT
from jvp.store.schemas import SchemaSet

TASK = {"id": "11111111-2222-3333-4444-555555555555", "kind": "create-vm", "state": "succeeded",
        "request_id": "req-1", "created_by": "admin", "resource": {"kind": "vm", "node": "local", "name": "a"},
        "error": None}


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path, SchemaSet(REPO_ROOT / "metadata_schema"))


def test_the_outcome_line_is_written_before_the_hook_answers_and_synced_by_its_wait(audit, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    wait = audit.task_outcome_hook(TASK)
    lines = audit.read_after(("", 0))[0]
    assert [(e["entry"], e["task_state"]) for e in lines] == [("task_outcome", "succeeded")]
    wait()
    assert len(synced) == 1  # once wait() returned, the line's fsync has run
    assert [e["task_id"] for e in audit.list()] == []  # outcome lines are folded, never listed themselves


def test_a_task_without_a_request_gets_no_line_and_no_wait(audit):
    assert audit.task_outcome_hook({**TASK, "request_id": None}) is None
    assert audit.task_outcome_hook({**TASK, "state": "running"}) is None
    assert audit.read_after(("", 0))[0] == []


def test_a_failed_fsync_reaches_the_wait(audit, monkeypatch):
    def broken(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", broken)
    wait = audit.task_outcome_hook(TASK)
    with pytest.raises(OSError):
        wait()


def test_record_task_outcome_is_still_synchronous(audit, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    entry = audit.record_task_outcome(TASK)
    assert entry["entry"] == "task_outcome" and len(synced) == 1
