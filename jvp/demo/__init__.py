"""`jvp serve --demo`: libvirt's test driver with JVP's seeded inventory and a throw-away data dir.

Needs no root and no libvirtd. The test driver keeps its state in the serving process, so the demo runs
one worker (every request sees the same inventory); changes last until the process stops.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent  # a fixture directory of the test driver (service/node_uri.py)
INVENTORY = DEMO_DIR / "inventory.xml"


def demo_uri() -> str:
    return f"test://{INVENTORY}"


def _throw_away_dir() -> str:
    """A temporary data dir removed when the process that made it exits (not when a forked gunicorn worker
    does: the dir belongs to the whole server)."""
    path, owner = tempfile.mkdtemp(prefix="jvp-demo-"), os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)
    atexit.register(remove)
    return path


def demo_overrides(listen: str | None) -> dict[str, Any]:
    return {
        "local_uri": demo_uri(),
        "data_dir": _throw_away_dir(),
        "listen": listen or "127.0.0.1:7777",
        "workers": 1,
        "demo": True,
    }
