"""The load average of the machine JVP runs on. libvirt has no load figure for a node, so a node's load is
known only when the node is this machine (a URI without a host); remote nodes answer null."""
from __future__ import annotations

LOADAVG = "/proc/loadavg"


def local_loadavg(path: str = LOADAVG) -> tuple[float, float, float] | None:
    try:
        with open(path, encoding="ascii") as fh:
            parts = fh.read().split()
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (OSError, ValueError, IndexError):
        return None
