"""The data dir's locks (jvp/store/locks.py): threads of one process queue on an in-process gate and are handed
the lock at its release, without polling the lock file; another process still waits on the file; a timeout
counts both stages."""
from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
from filelock import Timeout

from jvp.store import locks
from jvp.store.locks import private_lock


def test_a_thread_waiting_in_the_same_process_gets_the_lock_at_its_release_not_at_a_poll(tmp_path, monkeypatch):
    # were the waiter polling the file, it would look again only POLL_S after its first try: 60 s here
    monkeypatch.setattr(locks, "POLL_S", 60.0)
    path = tmp_path / "x.lock"
    order: list[str] = []
    holding, waiting = threading.Event(), threading.Event()

    def holder() -> None:
        with private_lock(path, 30):
            order.append("a in")
            holding.set()
            assert waiting.wait(10)
            order.append("a out")

    def waiter() -> None:
        assert holding.wait(10)
        waiting.set()
        with private_lock(path, 30):
            order.append("b in")

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)  # far below POLL_S: only a hand-over at the release gets here in time
    assert not any(t.is_alive() for t in threads)
    assert order == ["a in", "a out", "b in"]


def _hold(path: str, ready, release) -> None:
    with private_lock(path, 5):
        ready.set()
        release.wait(30)


def test_another_process_holding_the_file_still_excludes_and_times_out(tmp_path):
    path = str(tmp_path / "x.lock")
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(path, ready, release))
    other.start()
    try:
        assert ready.wait(10)
        lock = private_lock(path, 0.2)
        with pytest.raises(Timeout):
            lock.acquire()
        # the gate was given back on the timeout: the next try of this process is not stuck behind it
        release.set()
        other.join(10)
        with private_lock(path, 5) as again:
            assert again.is_locked
    finally:
        release.set()
        other.join(10)
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_thread_of_the_same_process_holding_it_times_out_the_waiter(tmp_path):
    path = tmp_path / "x.lock"
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with private_lock(path, 5):
            held.set()
            done.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(Timeout):
            private_lock(path, 0.1).acquire()
    finally:
        done.set()
        t.join(10)
    with private_lock(path, 5):  # free again, file and gate
        pass
