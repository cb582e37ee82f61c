"""The metrics collector: one per controller, sampling every node every `metrics_interval_s`.

Every worker process of the server runs a Collector thread; only the one that holds the election lock
(jvp/metrics/election.py, a file under the data dir) collects, the others try again at every tick. When the
holder dies the kernel releases its lock and a survivor takes over at its next tick.

A collection: for every node at once (the gateway's fan-out: a dead node is skipped, a slow one cut at
node_timeout_s), one bulk reading of its domains' counters and one of the host's; rates (bytes/s, IOPS,
CPU %) from the difference with the previous reading, all in one store transaction. Counter resets (a VM
restarted, a device re-plugged) count the new value as what happened since the reset, as Prometheus' rate()
does. A node that does not answer writes no sample: its series have a gap, and its VMs' latest rows say so
through the node's error. The previous reading's counters are kept in the store's latest rows, so a
collector that takes over (or restarts) computes its first rates from the last sample of its predecessor:
a restart loses at most the interval in which nobody collected.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
import time
from typing import Any, Callable

from jvp.domain.metrics import NodeCounters, VmCounters
from jvp.hypervisor.gateway import NodeGateway
from jvp.metrics import Election, MetricsStore, local_loadavg
from jvp.service.node import NodeService
from jvp.service.node_uri import on_this_machine

log = logging.getLogger(__name__)
RECENT = 30                 # cpu_recent: the last 30 samples of a VM's CPU %
DOWNSAMPLE_S = 300


def _delta(cur: int | None, prev: int | None) -> int | None:
    """The increase of a counter, a reset (it went down) counting as a restart from 0."""
    if cur is None or prev is None:
        return None
    return cur - prev if cur >= prev else cur


def _rate(cur: int | None, prev: int | None, dt: float, digits: int | None = 2) -> float | int | None:
    d = _delta(cur, prev)
    if d is None or dt <= 0:
        return None
    r = d / dt
    return int(round(r)) if digits is None else round(r, digits)


def _sum(values: list[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


class Collector:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, store: MetricsStore, election: Election, *,
                 interval_s: float, timeout_s: float, loadavg: Callable[[], tuple[float, float, float] | None]
                 = local_loadavg, clock: Callable[[], float] = time.time):
        self._nodes = nodes
        self._gateway = gateway
        self._store = store
        self._election = election
        self.interval_s = interval_s
        self._timeout_s = timeout_s
        self._loadavg = loadavg
        self._clock = clock
        self.max_gap_s = max(3 * interval_s, 30.0)   # a longer gap between two readings gives no rate
        self._prev_vm: dict[tuple[str, str], dict[str, Any]] = {}
        self._prev_node: dict[str, dict[str, Any]] = {}
        self._recent: dict[tuple[str, str], collections.deque] = {}
        self._loaded = False
        self._last_downsample: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()   # one collection at a time (the thread, a test's collect_once)
        self.collections = 0
        self.last_duration_s: float | None = None
        self.last_cpu_s: float | None = None

    # -- the thread ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="metrics-collector", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout_s + 5)
        self._election.resign()
        self._store.close()

    @property
    def leading(self) -> bool:
        return self._election.leading

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._election.try_lead():
                    self.collect_once()
            except Exception:  # noqa: BLE001 - a failed collection must not end the collector
                log.exception("metrics collection failed")
            # the next tick on the interval's grid (samples of every VM share their times); a wait that ends
            # before the tick (the wall clock slewed against the monotonic one) waits again, so the tick's
            # sample is stamped in the tick's bucket (its time is the second it was taken in, never the next)
            tick = (math.floor(self._clock() / self.interval_s) + 1) * self.interval_s
            while (left := tick - self._clock()) > 0 and not self._stop.wait(left):
                pass

    # -- one collection ----------------------------------------------------------------------------------------
    def _load_previous(self) -> None:
        """The last readings of the previous collector (another process, or this one before a restart)."""
        for node, uuid, _name, _t, doc in self._store.vm_latest():
            if doc.get("k"):
                self._prev_vm[(node, uuid)] = doc["k"]
            self._recent[(node, uuid)] = collections.deque(doc.get("cpu_recent", []), maxlen=RECENT)
        for node, (_t, doc) in self._store.node_latest().items():
            if doc.get("k"):
                self._prev_node[node] = doc["k"]
        self._loaded = True

    def _read(self, node: str) -> tuple[list[VmCounters], NodeCounters]:
        return self._gateway.vm_counters(node), self._gateway.node_counters(node)

    def collect_once(self) -> None:
        with self._lock:
            cpu0, wall0 = time.process_time(), time.monotonic()
            if not self._loaded:
                self._load_previous()
            records, _errors = self._nodes.records()
            uris = {r.name: r.uri for r in records}
            now = self._clock()
            # the second the sample was taken in (floor, not round: a sample stamped up to half a second
            # ahead of the clock lay past the end of an answer's grid made in that half second, and an
            # answer right after a collection lacked its newest sample)
            t = math.floor(now)
            results = self._gateway.fan_out(list(uris), self._read, self._timeout_s, what="answer the collector")
            rows: dict[str, list] = {"vms": [], "devs": [], "nodes": [], "pools": [], "vm_latest": [],
                                     "node_latest": [], "seen": []}
            kept: dict[str, list[int]] = {}
            for r in results:
                if r.error is not None or r.value is None:
                    err = r.error or {"code": "NodeUnreachable", "message": "no answer"}
                    rows["node_latest"].append((r.node, {"ok": False, "code": err["code"],
                                                         "message": err["message"]}))
                    continue
                vms, host = r.value
                kept[r.node] = [self._vm(r.node, vm, now, t, rows) for vm in vms]
                self._node(r.node, uris[r.node], host, vms, now, t, rows)
            self._store.write(t, vms=rows["vms"], devs=rows["devs"], nodes=rows["nodes"], pools=rows["pools"],
                              vm_latest=rows["vm_latest"], node_latest=rows["node_latest"], seen=rows["seen"])
            for node, ids in kept.items():
                self._store.drop_latest(node, ids)
            bucket = t // DOWNSAMPLE_S
            if self._last_downsample != bucket:
                self._store.downsample(t)
                self._last_downsample = bucket
            self.collections += 1
            self.last_duration_s = time.monotonic() - wall0
            self.last_cpu_s = time.process_time() - cpu0

    def _vm(self, node: str, vm: VmCounters, now: float, t: int, rows: dict[str, list]) -> int:
        key = (node, vm.uuid)
        vid = self._store.vm_id(node, vm.uuid, vm.name, t)
        rows["seen"].append((vid, vm.name))
        recent = self._recent.setdefault(key, collections.deque(maxlen=RECENT))
        prev = self._prev_vm.get(key)
        doc: dict[str, Any] = {"state": vm.state, "vcpus": vm.vcpus}
        if not vm.active:
            self._prev_vm.pop(key, None)
            recent.append(None)
            doc.update({f: None for f in ("cpu_percent", "memory_used_bytes", "memory_available_bytes",
                                          "disk_read_bytes_per_s", "disk_write_bytes_per_s", "disk_read_iops",
                                          "disk_write_iops", "net_rx_bytes_per_s", "net_tx_bytes_per_s")})
            doc["cpu_recent"] = list(recent)
            rows["vm_latest"].append((vid, node, doc))
            return vid
        dt = now - prev["tf"] if prev else 0.0
        usable = prev is not None and 0 < dt <= self.max_gap_s
        counters = {"tf": now, "cpu": vm.cpu_time_ns, "d": {}, "n": {}}
        cpu = None
        if usable and vm.vcpus:
            d = _delta(vm.cpu_time_ns, prev.get("cpu"))
            if d is not None:
                cpu = round(min(max(d / (dt * 1e9 * vm.vcpus) * 100, 0.0), 100.0), 2)
        disk_rates = []
        for disk in vm.disks:
            counters["d"][disk.name] = [disk.read_bytes, disk.write_bytes, disk.read_reqs, disk.write_reqs]
            p = prev["d"].get(disk.name) if usable else None
            rates = [_rate(c, p[i] if p else None, dt, None if i < 2 else 2) for i, c in
                     enumerate(counters["d"][disk.name])]
            disk_rates.append(rates)
            did = self._store.dev_id(vid, "disk", disk.name, disk.name, None)
            if usable:
                rows["devs"].append((did, t, *rates))
        nic_rates = []
        for nic in vm.nics:
            nkey = nic.mac or nic.name
            counters["n"][nkey] = [nic.name, nic.mac, nic.rx_bytes, nic.tx_bytes]
            p = prev["n"].get(nkey) if usable else None
            rates = [_rate(nic.rx_bytes, p[2] if p else None, dt, None),
                     _rate(nic.tx_bytes, p[3] if p else None, dt, None)]
            nic_rates.append(rates)
            did = self._store.dev_id(vid, "nic", nkey, nic.name, nic.mac)
            if usable:
                rows["devs"].append((did, t, *rates, None, None))
        totals = [_sum([r[i] for r in disk_rates]) for i in range(4)] + \
                 [_sum([r[i] for r in nic_rates]) for i in range(2)]
        totals = [round(v, 2) if isinstance(v, float) else v for v in totals]
        recent.append(cpu)
        doc.update(cpu_percent=cpu, memory_used_bytes=vm.memory_used_bytes,
                   memory_available_bytes=vm.memory_available_bytes,
                   disk_read_bytes_per_s=totals[0], disk_write_bytes_per_s=totals[1], disk_read_iops=totals[2],
                   disk_write_iops=totals[3], net_rx_bytes_per_s=totals[4], net_tx_bytes_per_s=totals[5],
                   cpu_recent=list(recent), k=counters)
        self._prev_vm[key] = counters
        rows["vms"].append((vid, t, cpu, vm.memory_used_bytes, vm.memory_available_bytes, *totals))
        rows["vm_latest"].append((vid, node, doc))
        return vid

    def _node(self, node: str, uri: str, host: NodeCounters, vms: list[VmCounters], now: float, t: int,
              rows: dict[str, list]) -> None:
        prev = self._prev_node.get(node)
        dt = now - prev["tf"] if prev else 0.0
        cpu = None
        if prev and 0 < dt <= self.max_gap_s and host.cpu_ns and prev.get("cpu"):
            busy = sum(_delta(host.cpu_ns.get(m), prev["cpu"].get(m)) or 0 for m in ("user", "kernel"))
            total = sum(_delta(v, prev["cpu"].get(m)) or 0 for m, v in host.cpu_ns.items())
            if total > 0:
                cpu = round(min(max(busy / total * 100, 0.0), 100.0), 2)
        load = self._loadavg() if self.measures_load(uri) else None
        self._prev_node[node] = {"tf": now, "cpu": host.cpu_ns}
        rows["nodes"].append((node, t, cpu, host.memory_used_bytes, host.memory_total_bytes,
                              *(load if load else (None, None, None))))
        for p in host.pools:
            rows["pools"].append((node, p.name, t, p.capacity_bytes, p.allocation_bytes, p.available_bytes))
        running = sum(1 for v in vms if v.state == "running")
        rows["node_latest"].append((node, {
            "ok": True, "cpus": host.cpus, "cpu_percent": cpu, "memory_used_bytes": host.memory_used_bytes,
            "memory_total_bytes": host.memory_total_bytes, "load": list(load) if load else None,
            "vms_total": len(vms), "vms_running": running,
            "pools": [{"name": p.name, "capacity_bytes": p.capacity_bytes, "allocation_bytes": p.allocation_bytes,
                       "available_bytes": p.available_bytes} for p in host.pools],
            "k": self._prev_node[node]}))

    @staticmethod
    def measures_load(uri: str) -> bool:
        """The load average is this machine's: known for a node on it (not the test driver's fake hosts)."""
        return not uri.startswith("test:") and on_this_machine(uri)


def ceil_to(value: float, unit: int) -> int:
    return int(math.ceil(value / unit) * unit)
