"""Holders of a data-dir lock for tests (jvp/store/locks.py): another process, or another thread of this one,
holds the lock of a path until the `with` block ends."""
from __future__ import annotations

import contextlib
import multiprocessing
import threading
from pathlib import Path

from jvp.store.locks import private_lock


def _hold(path: str, ready, release) -> None:
    with private_lock(path, 5):
        ready.set()
        release.wait(30)


@contextlib.contextmanager
def held_by_another_process(path: str):
    """Another process holds the lock of `path` until the block ends (yields the event that lets it go)."""
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(path, ready, release))
    other.start()
    try:
        assert ready.wait(10)
        yield release
    finally:
        release.set()
        other.join(10)


@contextlib.contextmanager
def held_by_another_thread(path: str | Path):
    """Another thread of this process holds the lock of `path` until the block ends."""
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        yield
    finally:
        release.set()
        holder.join(10)
