"""The data dir's locks (jvp/store/locks.py): threads of one process queue on an in-process gate and are handed
the lock at its release, without polling the lock file; another process still waits on the file; a timeout
counts both stages."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest
from filelock import Timeout

from jvp.store import locks
from jvp.store.locks import private_lock
from tests.unit.lock_holders import held_by_another_process, held_by_another_thread


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


def test_another_process_holding_the_file_still_excludes_and_times_out(tmp_path):
    path = str(tmp_path / "x.lock")
    with held_by_another_process(path) as release:
        lock = private_lock(path, 0.2)
        with pytest.raises(Timeout):
            lock.acquire()
        # the gate was given back on the timeout: the next try of this process is not stuck behind it
        release.set()
        with private_lock(path, 5) as again:
            assert again.is_locked
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_thread_of_the_same_process_holding_it_times_out_the_waiter(tmp_path):
    path = tmp_path / "x.lock"
    with held_by_another_thread(path):
        with pytest.raises(Timeout):
            private_lock(path, 0.1).acquire()
    with private_lock(path, 5):  # free again, file and gate
        pass


# -- removing a lock file (its holder only) ---------------------------------------------------------------------
def test_the_holder_removes_the_lock_file_and_the_next_taker_makes_a_new_one(tmp_path):
    path = tmp_path / "x.lock"
    with private_lock(path, 5) as lock:
        lock.remove()
        assert not path.exists()
    with private_lock(path, 5):
        assert path.exists()
    # only the holder may: a file removed by anyone else could be locked by two at once
    with pytest.raises(RuntimeError, match="holder"):
        private_lock(path, 5).remove()


def _take_and_report(path: str, go, opened, got, release, inode) -> None:
    go.wait(10)  # started before the parent holds the lock: a forked child shares the parent's open files
    lock = private_lock(path, 20)
    opened.set()
    with lock:
        inode.value = os.fstat(lock._fd).st_ino
        got.set()
        release.wait(30)


def test_a_process_waiting_on_a_removed_lock_file_locks_the_paths_new_file(tmp_path, monkeypatch):
    """Another process opened the lock file and waits for its flock; the holder removes the file and lets go.
    The waiter's flock then lands on a file that is no longer the lock file: it takes the path's new file
    instead, and so excludes this process, which takes the lock by that path, until it lets go."""
    path = str(tmp_path / "x.lock")
    ctx = multiprocessing.get_context("fork")
    go, opened, got, release = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Event()
    inode = ctx.Value("q", 0)
    other = ctx.Process(target=_take_and_report, args=(path, go, opened, got, release, inode))
    other.start()
    lock = private_lock(path, 5)
    lock.acquire()
    go.set()
    try:
        assert opened.wait(10)
        time.sleep(0.1)  # it opened the old file and polls its flock
        lock.remove()
        lock.release()
        assert got.wait(10)
        assert inode.value == os.stat(path).st_ino  # it holds the path's file now ...
        with pytest.raises(Timeout):
            private_lock(path, 0.2).acquire()   # ... so this process cannot take the lock meanwhile
        release.set()
        other.join(10)
        with private_lock(path, 5):
            pass
    finally:
        release.set()
        other.join(10)


def test_remove_if_free_leaves_a_held_lock_file_alone(tmp_path):
    path = str(tmp_path / "x.lock")
    with held_by_another_process(path):
        assert locks.remove_if_free(path) is False and os.path.exists(path)
    assert locks.remove_if_free(path) is True and not os.path.exists(path)
    with private_lock(path, 5):  # a thread of this process holding it: left alone as well
        assert locks.remove_if_free(path) is False and os.path.exists(path)


def _count_with_removals(path: str, counter: str, threads: int, n: int) -> None:
    def work(seed: int) -> None:
        for i in range(n):
            with private_lock(path, 30) as lock:
                value = int(open(counter).read())
                with open(counter, "w") as fh:
                    fh.write(str(value + 1))
                if (i + seed) % 3 == 0:
                    lock.remove()  # as the store does with a record's lock file
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)


def test_no_update_is_lost_while_holders_keep_removing_the_lock_file(tmp_path):
    """Threads of several processes increment a counter under the lock, and every third holder removes the
    lock file before letting go: exclusion holds throughout (no increment lost)."""
    path, counter = str(tmp_path / "x.lock"), tmp_path / "counter"
    counter.write_text("0")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_count_with_removals, args=(path, str(counter), 3, 20)) for _ in range(3)]
    for p in procs:
        p.start()
    _count_with_removals(path, str(counter), 3, 20)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counter.read_text() == str(4 * 3 * 20)
