"""`jvp serve --demo`: libvirt's test driver with JVP's seeded inventory and a throw-away data dir.

Needs no root and no libvirtd. The test driver keeps its state in the serving process, so the demo runs
one worker (every request sees the same inventory); changes last until the process stops.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

INVENTORY = Path(__file__).resolve().parent / "inventory.xml"


def demo_uri() -> str:
    return f"test://{INVENTORY}"


def demo_overrides(listen: str | None) -> dict[str, Any]:
    return {
        "local_uri": demo_uri(),
        "data_dir": tempfile.mkdtemp(prefix="jvp-demo-"),
        "listen": listen or "127.0.0.1:7777",
        "workers": 1,
        "demo": True,
    }
