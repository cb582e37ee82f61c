"""The task ETA (`eta_s`): measured per phase, from the bytes done in this run only."""
from __future__ import annotations

import threading

import pytest

from jvp.service.task import handle as task_mod
from jvp.service.task.handle import TaskHandle


class _Service:
    def __init__(self):
        self.patches: list[dict] = []
        self.store = self
        self.ev = threading.Event()

    def _note_progress(self, task_id, fields):
        self.patches.append(fields)

    def _event(self, task_id):
        return self.ev

    def get(self, *key):
        return None


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(task_mod.time, "monotonic", c)
    return c


def eta(handle: TaskHandle, done: int, total: int) -> float | None:
    handle.progress(50, bytes_done=done, bytes_total=total, force=True)
    return handle.service.patches[-1]["eta_s"]


def test_without_a_restart_the_rate_counts_from_the_task_start(clock):
    h = TaskHandle(_Service(), "t1", _started=clock.now)
    clock.now += 10
    assert eta(h, 25, 100) == 30.0   # 25 bytes in 10 s: 75 more take 30 s


def test_a_new_phase_measures_its_own_rate(clock):
    """A download of 100 bytes took 100 s; then the stream to the node starts again at 0 and moves 50 bytes
    in 2 s: 50 more take 2 s, not (102 s of task) * 50/50."""
    h = TaskHandle(_Service(), "t1", _started=clock.now)
    clock.now += 100
    assert eta(h, 100, 100) == 0.0
    h.restart_rate(0)
    assert eta(h, 0, 100) is None       # nothing measured in this phase yet: no stale figure either
    clock.now += 2
    assert eta(h, 50, 100) == 2.0


def test_bytes_fetched_before_a_resume_are_not_this_runs_rate(clock):
    """A download resumed at 600 of 1000 bytes: 100 bytes in 10 s means 300 more take 30 s (counting the
    600 resumed bytes as fetched in those 10 s would say 4.3 s)."""
    h = TaskHandle(_Service(), "t1", _started=clock.now)
    h.restart_rate(600)
    clock.now += 10
    assert eta(h, 700, 1000) == 30.0


def test_no_eta_within_the_first_second_of_a_phase(clock):
    h = TaskHandle(_Service(), "t1", _started=clock.now)
    clock.now += 50
    h.restart_rate(0)
    clock.now += 0.5
    assert eta(h, 10, 100) is None
    clock.now += 1
    assert eta(h, 30, 100) == pytest.approx(3.5)   # 30 bytes in 1.5 s: 70 more take 3.5 s
