"""The metrics collector on a fake gateway and a fake clock: rates from counter deltas, counter resets, gaps,
a restart that loses at most one interval, downsampling, and the election of one collector per controller."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from jvp.domain.metrics import DiskCounters, NicCounters, NodeCounters, PoolUsage, VmCounters
from jvp.errors import NodeUnreachable
from jvp.metrics import Election, MetricsStore
from jvp.service.metrics.collector import Collector
from jvp.service.metrics.service import MetricsService
from tests.unit.fakes.fan_out import SequentialFanOut

REPO = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000   # a multiple of 300 (and of 10)
UUID = "11111111-2222-3333-4444-555555555555"


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeGateway(SequentialFanOut):
    """Counters the test sets: cpu in ns, disk/nic bytes; `down` makes the node unreachable."""

    def __init__(self) -> None:
        self.cpu_ns = 0
        self.disk = [0, 0, 0, 0]
        self.nic = [0, 0]
        self.state = "running"
        self.host_cpu = {"user": 0, "kernel": 0, "idle": 0, "iowait": 0}
        self.down = False
        self.health = SimpleNamespace(dead=lambda node: None)

    def vm_counters(self, node):
        if self.down:
            raise NodeUnreachable(f"cannot reach node '{node}'")
        active = self.state == "running"
        return [VmCounters(uuid=UUID, name="vm1", state=self.state, active=active, vcpus=2,
                           cpu_time_ns=self.cpu_ns if active else None, memory_used_bytes=2**30 if active else None,
                           memory_available_bytes=2**31 if active else None,
                           disks=[DiskCounters("vda", *self.disk)] if active else [],
                           nics=[NicCounters("vnet0", "52:54:00:00:00:01", *self.nic)] if active else [])]

    def node_counters(self, node):
        return NodeCounters(cpus=4, cpu_ns=dict(self.host_cpu), memory_total_bytes=8 * 2**30,
                            memory_used_bytes=2**30, pools=[PoolUsage("default", 100, 40, 60)])

    def vm_uuid(self, node, name):
        if self.down:
            raise NodeUnreachable(f"cannot reach node '{node}'")
        return UUID


class FakeNodes:
    def records(self):
        return [SimpleNamespace(name="local", uri="qemu:///system")], []

    def names(self):
        return ["local"]

    def record(self, name):
        return SimpleNamespace(name=name, uri="qemu:///system")


def make(tmp_path, gw=None, clock=None, election=None):
    gw = gw or FakeGateway()
    clock = clock or Clock()
    store = MetricsStore(tmp_path)
    col = Collector(FakeNodes(), gw, store, election or Election(tmp_path / "lock"), interval_s=10, timeout_s=1,
                    loadavg=lambda: (0.5, 0.25, 0.125), clock=clock)
    svc = MetricsService(FakeNodes(), gw, store, col, interval_s=10, clock=clock)
    return gw, clock, col, svc


def step(gw, clock, col, *, cpu_s=0.0, read=0, rx=0, dt=10):
    clock.t += dt
    gw.cpu_ns += int(cpu_s * 1e9)
    gw.disk = [gw.disk[0] + read, gw.disk[1], gw.disk[2] + read // 4096, gw.disk[3]]
    gw.nic = [gw.nic[0] + rx, gw.nic[1]]
    col.collect_once()


def vm_series(svc, window=600, step_s=None):
    return svc.describe_vm("local", "vm1", window, step_s)


def test_rates_come_from_counter_deltas(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()                                     # the first reading: no rate yet
    step(gw, clock, col, cpu_s=10, read=40960, rx=1000)    # one of 2 vCPUs busy for 10 s
    m = vm_series(svc)
    s = m["series"]
    i = s["time"].index(T0 + 10)
    assert s["cpu_percent"][i] == 50.0
    assert s["disk_read_bytes_per_s"][i] == 4096 and s["disk_read_iops"][i] == 1.0
    assert s["net_rx_bytes_per_s"][i] == 100
    assert s["memory_used_bytes"][i] == 2**30
    assert s["cpu_percent"][s["time"].index(T0)] is None   # the first reading is not a point
    assert m["disks"][0]["series"]["read_bytes_per_s"][i] == 4096
    assert m["nics"][0]["mac"] == "52:54:00:00:00:01"


def test_a_counter_reset_counts_from_zero(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    gw.cpu_ns, gw.disk = 50 * 10**9, [10**6, 0, 100, 0]
    col.collect_once()
    gw.cpu_ns, gw.disk = 0, [0, 0, 0, 0]                   # the VM restarted: counters from 0
    step(gw, clock, col, cpu_s=5, read=8192)
    s = vm_series(svc)["series"]
    i = s["time"].index(T0 + 10)
    assert s["cpu_percent"][i] == 25.0                     # 5 s of 2 vCPUs over 10 s, not negative
    assert s["disk_read_bytes_per_s"][i] == 819


def test_a_stopped_vm_and_a_dead_node_are_gaps(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    step(gw, clock, col, cpu_s=2)
    gw.state = "stopped"
    step(gw, clock, col)
    gw.state = "running"
    gw.cpu_ns = 0
    step(gw, clock, col)                                   # started again: the previous reading is gone
    step(gw, clock, col, cpu_s=4)
    gw.down = True
    step(gw, clock, col)
    s = vm_series(svc)["series"]
    at = {t: s["cpu_percent"][i] for i, t in enumerate(s["time"])}
    assert [at[T0 + k] for k in (10, 20, 30, 40, 50)] == [10.0, None, None, 20.0, None]
    usage = svc.usage()
    assert usage["vms"] == [] and usage["errors"][0]["code"] == "NodeUnreachable"
    # the dead node's VM still answers its history, found by name in the store
    assert vm_series(svc)["uuid"] == UUID
    node = svc.describe_node("local", 600, None)["series"]
    assert node["load1"][node["time"].index(T0 + 40)] == 0.5
    assert node["memory_total_bytes"][node["time"].index(T0 + 50)] is None


def test_a_long_gap_gives_no_rate(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    step(gw, clock, col, cpu_s=100, dt=120)                # two minutes without a reading: no average over it
    s = vm_series(svc)["series"]
    assert s["cpu_percent"][s["time"].index(T0 + 120)] is None


def test_a_restarted_collector_loses_at_most_one_interval(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    step(gw, clock, col, cpu_s=10)
    col.close()
    # another process takes over one interval later: its first reading has a rate (from the stored counters)
    clock.t += 10
    gw.cpu_ns += 20 * 10**9
    gw2, _clock, col2, svc2 = make(tmp_path, gw=gw, clock=clock)
    col2.collect_once()
    s = vm_series(svc2)["series"]
    at = {t: s["cpu_percent"][i] for i, t in enumerate(s["time"])}
    assert at[T0 + 10] == 50.0 and at[T0 + 20] == 100.0
    recent = svc2.usage()["vms"][0]["cpu_recent"]
    assert recent == [None, 50.0, 100.0]


def test_history_is_downsampled_after_a_day(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    for _ in range(60):                                    # 10 minutes at 25 % then 75 %
        step(gw, clock, col, cpu_s=5 if clock.t + 10 < T0 + 300 else 15)
    clock.t = T0 + 86400 + 3600                            # more than a day later: tier 0 is pruned at the next write
    gw.cpu_ns += 10**12
    col.collect_once()
    day = vm_series(svc, 86400)["series"]
    assert all(v is None for v in day["cpu_percent"][:-1])
    week = vm_series(svc, 7 * 86400, 300)["series"]
    at = {t: week["cpu_percent"][i] for i, t in enumerate(week["time"])}
    assert at[T0] == 25.0 and at[T0 + 300] == 75.0
    assert all(len(v) == len(week["time"]) == 7 * 288 for v in week.values())
    coarse = vm_series(svc, 7 * 86400, 600)["series"]
    assert {t: coarse["cpu_percent"][i] for i, t in enumerate(coarse["time"])}[T0] == 50.0


_HOLDER = """
import sys, time
from jvp.metrics import Election
election = Election(sys.argv[1])   # kept: a collected FileLock releases its lock
assert election.try_lead()
print("held", flush=True)
time.sleep(60)
"""


def test_one_collector_leads_and_a_survivor_takes_over(tmp_path):
    """Another process (a worker) holds the lock and dies without releasing it: a survivor takes over."""
    path = str(tmp_path / "collector.lock")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, path], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = Election(path)
        assert not mine.try_lead() and not mine.leading
        holder.kill()                                        # dies holding the lock
        holder.wait(10)
        deadline = time.monotonic() + 5
        while not mine.try_lead():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert mine.leading
        other = Election(path)                               # a second worker in this process cannot lead too
        assert not other.try_lead()
        mine.resign()
        assert other.try_lead()
        other.resign()
    finally:
        holder.kill()
        holder.wait(10)


def test_a_day_by_default_is_read_from_the_averages_and_the_samples_not_averaged_yet(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    for _ in range(40):                                    # 400 s at 50 %: one 5-minute bucket averaged, a tail
        step(gw, clock, col, cpu_s=10)
    m = vm_series(svc, 86400)
    assert m["step_s"] == 300
    s = m["series"]
    assert all(len(v) == 288 for v in s.values())
    at = {t: s["cpu_percent"][i] for i, t in enumerate(s["time"])}
    assert at[T0] == 50.0 and at[T0 + 300] == 50.0         # [T0, T0+300) averaged; [T0+300, T0+400] not yet
    assert svc.store.downsampled_until() == T0 + 300
    assert len(m["disks"][0]["series"]["read_iops"]) == 288


def test_a_bucket_across_the_averaged_boundary_weighs_both_by_time(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    for _ in range(40):                                    # [T0+10, T0+290] at 25 %, [T0+300, T0+400] at 75 %
        step(gw, clock, col, cpu_s=5 if clock.t + 10 < T0 + 300 else 15)
    s = vm_series(svc, 86400, 600)["series"]
    # one 5-minute average (25, 300 s) and 11 samples (75, 10 s each)
    assert s["cpu_percent"][s["time"].index(T0)] == round((25 * 300 + 75 * 110) / 410, 2)


def test_a_nic_is_kept_by_mac_and_shows_its_latest_tap_device(tmp_path):
    gw, clock, col, svc = make(tmp_path)
    col.collect_once()
    step(gw, clock, col, rx=1000)
    real = gw.vm_counters
    gw.vm_counters = lambda node: [dataclasses.replace(v, nics=[dataclasses.replace(n, name="vnet7")
                                                                 for n in v.nics]) for v in real(node)]
    step(gw, clock, col, rx=2000)
    nics = vm_series(svc)["nics"]
    assert [(n["name"], n["mac"]) for n in nics] == [("vnet7", "52:54:00:00:00:01")]
    s = nics[0]["series"]["rx_bytes_per_s"]
    assert [v for v in s if v is not None] == [100, 200]
