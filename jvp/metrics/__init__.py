"""The metrics adapters: the history store (SQLite in WAL mode under the data dir), the collector's election
(a file lock: one collector across the server's worker processes) and the load average of this machine.

Layer 1 (adapters): the metrics service (jvp/service/metrics/) uses them; they know nothing of libvirt."""
from __future__ import annotations

from jvp.metrics.election import Election
from jvp.metrics.hostload import local_loadavg
from jvp.metrics.store import MetricsStore

__all__ = ["Election", "MetricsStore", "local_loadavg"]
