"""The metrics actions' rules: series over a window from the store, the latest sample of every VM, and the
snapshot `/metrics` renders. Any worker process answers them (the store is shared); only the collector
writes (collector.py)."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

from jvp.domain.metrics import (DEFAULT_POINTS, DISK_SERIES, MAX_POINTS, NIC_SERIES, NODE_SERIES, POOL_SERIES,
                                USAGE_FIELDS, VM_SERIES)
from jvp.errors import InvalidInput, JvpError, NodeUnreachable
from jvp.hypervisor.gateway import NodeGateway
from jvp.metrics import MetricsStore
from jvp.metrics.store import DEV_COLS, NODE_COLS, POOL_COLS, RETENTION_S, TIER_S, VM_COLS
from jvp.service.metrics.collector import Collector
from jvp.service.node import NodeService

# (answer key, store column, digits: None = integer)
_VM = list(zip(VM_SERIES, VM_COLS, (2, None, None, None, None, 2, 2, None, None)))
_DISK = list(zip(DISK_SERIES, DEV_COLS, (None, None, 2, 2)))
_NIC = list(zip(NIC_SERIES, DEV_COLS[:2], (None, None)))
_NODE = list(zip(NODE_SERIES, NODE_COLS, (2, None, None, 2, 2, 2)))
_POOL = list(zip(POOL_SERIES, POOL_COLS, (None, None, None)))
_UNREACHABLE = ("NodeUnreachable", "NodeTimeout")


class Grid:
    """The answer's time axis: n points `step` apart, the last one the bucket `now` falls in; point i
    averages the samples of [times[i], times[i] + step)."""

    def __init__(self, window_s: int, step_s: int, now: float):
        self.step = step_s
        n = math.ceil(window_s / step_s)
        last = int(now // step_s) * step_s
        self.times = [last - (n - 1 - i) * step_s for i in range(n)]
        self.start, self.end = self.times[0], last + step_s


class MetricsService:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, store: MetricsStore, collector: Collector, *,
                 interval_s: int, clock: Callable[[], float] = time.time):
        self._nodes = nodes
        self._gateway = gateway
        self.store = store
        self.collector = collector
        self.interval_s = interval_s
        self._clock = clock

    def close(self) -> None:
        self.collector.close()

    # -- windows -----------------------------------------------------------------------------------------------
    def _step(self, window_s: int, step_s: int | None) -> int:
        """The step of an answer: the one asked (checked), else one giving about DEFAULT_POINTS points, a
        multiple of the interval (of 5 minutes beyond a day, where the history is 5-minute averages)."""
        unit = self.interval_s if window_s <= RETENTION_S[0] else TIER_S[1]
        if step_s is None:
            step = max(unit, math.ceil(window_s / DEFAULT_POINTS / unit) * unit)
            if step > TIER_S[1] // 2:   # whole 5 minutes: answered from the 5-minute averages (a day: 288 rows)
                step = math.ceil(step / TIER_S[1]) * TIER_S[1]
            return step
        details = {"step_s": step_s, "window_s": window_s, "min_step_s": unit, "max_points": MAX_POINTS}
        if step_s < unit:
            why = (f"the collector samples every {unit} s" if unit == self.interval_s else
                   "history older than a day is kept as 5-minute averages")
            raise InvalidInput(f"step_s {step_s} is below {unit} s for a window of {window_s} s: {why}",
                               code="InvalidMetricsStep", details=details)
        if step_s > window_s:
            raise InvalidInput(f"step_s {step_s} exceeds window_s {window_s}", code="InvalidMetricsStep",
                               details=details)
        if math.ceil(window_s / step_s) > MAX_POINTS:
            raise InvalidInput(f"window_s / step_s gives {math.ceil(window_s / step_s)} points, more than "
                               f"{MAX_POINTS}: choose a larger step_s", code="InvalidMetricsStep", details=details)
        return step_s

    def _series(self, table: str, key: dict[str, Any], spec: Sequence[tuple[str, str, int | None]], grid: Grid,
                window_s: int) -> dict[str, list]:
        cols = [c for _, c, _ in spec]
        parts: list[tuple[int, int, int, float]] = []   # (tier, start, end, weight of a row)
        if window_s <= RETENTION_S[0] and grid.step % TIER_S[1]:
            parts.append((0, grid.start, grid.end, 1.0))
        else:   # beyond a day, or whole 5-minute steps: the averages, then the samples not averaged yet
            until = self.store.downsampled_until() or grid.start
            until = min(max(until, grid.start), grid.end)
            parts += [(1, grid.start, until, float(TIER_S[1])), (0, until, grid.end, float(self.interval_s))]
        n = len(grid.times)
        digits = [(c, d) for _, c, d in spec]
        placed: list[list[Any]] = [[None] * n for _ in spec]
        pieces = [(tier, start, end) for tier, start, end, _w in parts if start < end]
        for tier, start, end in pieces:   # averaged and rounded by SQLite, placed by bucket
            for row in self.store.averaged(table, tier, key, digits, start, end, grid.start, grid.step):
                if 0 <= row[0] < n:
                    for i in range(len(spec)):
                        placed[i][row[0]] = row[i + 1]
        if len(pieces) == 2 and (pieces[0][2] - grid.start) % grid.step:
            # the one bucket holding the boundary has both 5-minute averages and samples: weighted by time
            b = (pieces[0][2] - grid.start) // grid.step
            lo, hi = grid.start + b * grid.step, grid.start + (b + 1) * grid.step
            acc = [[0.0, 0.0] for _ in spec]
            for (tier, start, end), weight in zip(pieces, (float(TIER_S[1]), float(self.interval_s))):
                for vals in self.store.bucketed(table, tier, key, cols, max(start, lo), min(end, hi), grid.start,
                                                grid.step).values():
                    for i, (total, count) in enumerate(vals):
                        acc[i][0] += total * weight
                        acc[i][1] += count * weight
            for i, (_name, _col, d) in enumerate(spec):
                v = acc[i][0] / acc[i][1] if acc[i][1] else None
                placed[i][b] = None if v is None else (int(round(v)) if d is None else round(v, d))
        return {name: placed[i] for i, (name, _c, _d) in enumerate(spec)}

    # -- describe-vm-metrics ---------------------------------------------------------------------------------------
    def _resolve_vm(self, node: str, name: str) -> tuple[str | None, int | None]:
        """(uuid, store id) of the VM: asked of the node (a name reused by a new VM is the new VM); from the
        store when the node does not answer (a dead node's VMs still have their history)."""
        self._nodes.record(node)   # NodeNotFound
        dead = self._gateway.health.dead(node)
        failure: JvpError | None = None
        if dead is None:
            try:
                uuid = self._gateway.vm_uuid(node, name)
            except JvpError as exc:
                if exc.code not in _UNREACHABLE:
                    raise
                failure = exc
            else:
                found = self.store.find_vm(node, uuid=uuid)
                return uuid, found[0] if found else None
        known = self.store.find_vm(node, name=name)
        if known is not None:
            return known[1], known[0]
        if failure is not None:
            raise failure
        raise NodeUnreachable(f"node '{node}' does not answer (marked unreachable) and JVP has no history of a VM "
                              f"'{name}' there", details={"node": node, "vm": name})

    def describe_vm(self, node: str, name: str, window_s: int, step_s: int | None) -> dict[str, Any]:
        step = self._step(window_s, step_s)
        uuid, vid = self._resolve_vm(node, name)
        grid = Grid(window_s, step, self._clock())
        answer: dict[str, Any] = {"node": node, "name": name, "uuid": uuid, "window_s": window_s, "step_s": step,
                                  "interval_s": self.interval_s}
        if vid is None:   # not collected yet: every point is a gap
            answer.update(series={"time": grid.times, **{k: [None] * len(grid.times) for k in VM_SERIES}},
                          disks=[], nics=[])
            return answer
        answer["series"] = {"time": grid.times, **self._series("vm", {"vm": vid}, _VM, grid, window_s)}
        disks, nics = [], []
        for did, kind, _key, dev_name, mac in self.store.devices(vid):
            if kind == "disk":
                disks.append({"name": dev_name, "series": self._series("dev", {"dev": did}, _DISK, grid, window_s)})
            else:
                nics.append({"name": dev_name, "mac": mac,
                             "series": self._series("dev", {"dev": did}, _NIC, grid, window_s)})
        answer.update(disks=disks, nics=nics)
        return answer

    # -- describe-node-metrics -------------------------------------------------------------------------------------
    def describe_node(self, name: str, window_s: int, step_s: int | None) -> dict[str, Any]:
        step = self._step(window_s, step_s)
        rec = self._nodes.record(name)   # NodeNotFound
        grid = Grid(window_s, step, self._clock())
        pools = [{"name": p, "series": self._series("pool", {"node": name, "pool": p}, _POOL, grid, window_s)}
                 for p in self.store.pools_of(name, grid.start)]
        return {"name": name, "window_s": window_s, "step_s": step, "interval_s": self.interval_s,
                "load_source": "/proc/loadavg" if Collector.measures_load(rec.uri) else None,
                "series": {"time": grid.times, **self._series("node", {"node": name}, _NODE, grid, window_s)},
                "pools": pools}

    # -- list-vm-usage ---------------------------------------------------------------------------------------------
    def _node_states(self, node: str | None) -> tuple[list[str], dict[str, tuple[int, dict]]]:
        if node is not None:
            self._nodes.record(node)   # NodeNotFound
            names = [node]
        else:
            names = self._nodes.names()
        return names, self.store.node_latest()

    def usage(self, node: str | None = None) -> dict[str, Any]:
        names, latest = self._node_states(node)
        wanted, errors = set(), []
        for n in names:
            _t, doc = latest.get(n, (0, {"ok": True}))
            if doc.get("ok"):
                wanted.add(n)
            else:
                errors.append({"node": n, "code": doc["code"], "message": doc["message"]})
        rows = []
        for n, uuid, name, t, doc in self.store.vm_latest(node):
            if n not in wanted:
                continue
            row = {"node": n, "name": name, "uuid": uuid, "time": t, "state": doc["state"], "cpu_recent":
                   doc.get("cpu_recent", [])}
            for f in USAGE_FIELDS:
                row[f] = doc.get(f)
            rows.append(row)
        return {"vms": rows, "errors": errors}

    # -- /metrics --------------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The latest sample of every node and VM, for the Prometheus exposition (no libvirt call)."""
        names = self._nodes.names()
        latest = self.store.node_latest()
        nodes = {n: latest[n] for n in names if n in latest}
        vms = [row for row in self.store.vm_latest() if row[0] in nodes and nodes[row[0]][1].get("ok")]
        return {"nodes": nodes, "vms": vms, "collector": self.collector}
