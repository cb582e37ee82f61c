"""Metrics (issue 16) on libvirt's test driver: the collector's samples through describe-vm-metrics,
describe-node-metrics, list-vm-usage and /metrics; bad windows, unknown VMs, stopped VMs and dead nodes.

The test driver's bulk stats carry the state only, so the collector reads its running domains one by one
(info, memoryStats, blockStats, interfaceStats): its CPU time and device counters grow with the clock."""
from __future__ import annotations

import time

import pytest

from tests.conftest import REPO

VM_KEYS = {"time", "cpu_percent", "memory_used_bytes", "memory_available_bytes", "disk_read_bytes_per_s",
           "disk_write_bytes_per_s", "disk_read_iops", "disk_write_iops", "net_rx_bytes_per_s",
           "net_tx_bytes_per_s"}


def collect(api, times: int = 2) -> None:
    """`times` collections at least a second apart (rates need two readings)."""
    for i in range(times):
        if i:
            time.sleep(1.05)
        api.services.metrics.collector.collect_once()


def gaps_only(series) -> bool:
    return all(x is None for k, v in series.items() if k != "time" for x in v)


def last(values):
    known = [v for v in values if v is not None]
    return known[-1] if known else None


def test_vm_metrics_have_rates_per_device_and_equal_lengths(api):
    collect(api)
    m = api.ok("describe-vm-metrics", {"name": "web1", "window_s": 600})
    assert (m["node"], m["name"], m["window_s"], m["interval_s"]) == ("local", "web1", 600, 10)
    assert m["step_s"] == 10 and m["uuid"]
    s = m["series"]
    assert set(s) == VM_KEYS
    n = len(s["time"])
    assert n == 60 and all(len(v) == n for v in s.values())
    assert all(isinstance(t, int) and t % 10 == 0 for t in s["time"])
    assert s["time"] == sorted(s["time"]) and s["time"][-1] <= time.time() < s["time"][-1] + 20
    # the test driver's CPU time grows with the clock: one of web1's 2 vCPUs busy
    assert 40 <= last(s["cpu_percent"]) <= 60
    assert last(s["memory_available_bytes"]) == 2 * 2**30
    assert last(s["disk_read_bytes_per_s"]) > 0 and last(s["net_rx_bytes_per_s"]) > 0
    assert [d["name"] for d in m["disks"]] == ["vda"]
    assert set(m["disks"][0]["series"]) == {"read_bytes_per_s", "write_bytes_per_s", "read_iops", "write_iops"}
    assert all(len(v) == n for v in m["disks"][0]["series"].values())
    assert [(x["name"], x["mac"]) for x in m["nics"]] == [("testnet0", "52:54:00:0a:00:01")]
    # the VM's total is the sum of its devices (one each here)
    assert last(m["disks"][0]["series"]["read_bytes_per_s"]) == last(s["disk_read_bytes_per_s"])
    assert last(m["nics"][0]["series"]["tx_bytes_per_s"]) == last(s["net_tx_bytes_per_s"])
    # the default window is an hour, about 360 points
    d = api.ok("describe-vm-metrics", {"name": "web1"})
    assert d["window_s"] == 3600 and d["step_s"] == 10 and len(d["series"]["time"]) == 360
    # a chosen step averages the samples of each bucket
    w = api.ok("describe-vm-metrics", {"name": "web1", "window_s": 3600, "step_s": 600})
    assert len(w["series"]["time"]) == 6 and all(t % 600 == 0 for t in w["series"]["time"])
    assert 40 <= last(w["series"]["cpu_percent"]) <= 60


def test_a_stopped_vm_is_a_gap_and_its_samples_start_with_it(api):
    collect(api)
    m = api.ok("describe-vm-metrics", {"name": "db1", "window_s": 300})
    assert gaps_only(m["series"])
    assert m["disks"] == [] and m["nics"] == []
    api.ok("start-vm", {"name": "db1"})
    collect(api)
    m = api.ok("describe-vm-metrics", {"name": "db1", "window_s": 300})
    assert last(m["series"]["cpu_percent"]) is not None
    usage = {v["name"]: v for v in api.ok("list-vm-usage", {})["vms"]}
    assert usage["db1"]["state"] == "running" and usage["db1"]["cpu_recent"][-1] is not None
    api.ok("stop-vm", {"name": "db1", "force": True})
    api.services.metrics.collector.collect_once()
    usage = {v["name"]: v for v in api.ok("list-vm-usage", {})["vms"]}
    assert usage["db1"]["state"] == "stopped" and usage["db1"]["cpu_percent"] is None
    assert usage["db1"]["cpu_recent"][-1] is None


def test_a_vm_not_collected_yet_answers_gaps(api):
    m = api.ok("describe-vm-metrics", {"name": "web1", "window_s": 120})
    assert len(m["series"]["time"]) == 12
    assert gaps_only(m["series"])


def test_list_vm_usage_is_the_latest_sample_of_every_vm(api):
    collect(api, 3)
    answer = api.ok("list-vm-usage", {})
    assert answer["errors"] == []
    rows = {v["name"]: v for v in answer["vms"]}
    assert set(rows) == {"web1", "db1", "build-runner"}
    web = rows["web1"]
    assert set(web) == {"node", "name", "uuid", "time", "state", "cpu_percent", "memory_used_bytes",
                        "memory_available_bytes", "disk_read_bytes_per_s", "disk_write_bytes_per_s",
                        "net_rx_bytes_per_s", "net_tx_bytes_per_s", "cpu_recent"}
    assert web["node"] == "local" and web["state"] == "running"
    assert web["cpu_recent"][0] is None and len(web["cpu_recent"]) == 3   # no rate from the first reading
    assert web["cpu_recent"][-1] == web["cpu_percent"]
    assert abs(web["time"] - time.time()) < 5
    assert api.ok("list-vm-usage", {"node": "local"})["vms"] == answer["vms"]
    api.error("list-vm-usage", {"node": "nope"}, status=404, code="NodeNotFound")


def test_node_metrics_have_memory_and_pools(api):
    collect(api)
    m = api.ok("describe-node-metrics", {"name": "local", "window_s": 300})
    assert set(m["series"]) == {"time", "cpu_percent", "memory_used_bytes", "memory_total_bytes", "load1",
                                "load5", "load15"}
    assert last(m["series"]["memory_total_bytes"]) > 0
    # the test driver is no machine: no load figure
    assert m["load_source"] is None and last(m["series"]["load1"]) is None
    pools = {p["name"]: p["series"] for p in m["pools"]}
    assert "default" in pools and last(pools["default"]["capacity_bytes"]) > 0
    assert all(len(v) == len(m["series"]["time"]) for p in pools.values() for v in p.values())


@pytest.mark.parametrize("body,code", [
    ({"window_s": 59}, "ValidationFailed"),
    ({"window_s": 30 * 86400 + 1}, "ValidationFailed"),
    ({"window_s": "3600"}, "ValidationFailed"),
    ({"window_s": 3600, "step_s": 0}, "ValidationFailed"),
    ({"window_s": 3600, "step_s": 5}, "InvalidMetricsStep"),        # below the interval
    ({"window_s": 600, "step_s": 1200}, "InvalidMetricsStep"),      # above the window
    ({"window_s": 7 * 86400, "step_s": 60}, "InvalidMetricsStep"),  # older history is 5-minute averages
    ({"window_s": 86400, "step_s": 10, "extra": 1}, "ValidationFailed"),
])
def test_bad_windows_are_refused(api, body, code):
    for action, target in (("describe-vm-metrics", {"name": "web1"}), ("describe-node-metrics", {"name": "local"})):
        err = api.error(action, {**target, **body}, status=400, code=code)
        if code == "InvalidMetricsStep":
            assert err["details"]["step_s"] == body["step_s"]


def test_too_many_points_are_refused(tmp_path):
    """With a 1-second interval a day at full resolution is 86,400 points: over the bound of 10,000."""
    from tests.conftest import build_api, make_settings
    api = build_api(make_settings(tmp_path, metrics_interval_s=1))
    try:
        api.ok("describe-vm-metrics", {"name": "web1", "window_s": 10000, "step_s": 1})
        err = api.error("describe-vm-metrics", {"name": "web1", "window_s": 86400, "step_s": 1}, status=400,
                        code="InvalidMetricsStep")
        assert "10000" in err["message"] and err["details"]["max_points"] == 10000
    finally:
        api.services.close()


def test_unknown_vm_and_node(api):
    api.error("describe-vm-metrics", {"name": "nope"}, status=404, code="VmNotFound")
    api.error("describe-vm-metrics", {"node": "nope", "name": "web1"}, status=404, code="NodeNotFound")
    api.error("describe-node-metrics", {"name": "nope"}, status=404, code="NodeNotFound")
    api.error("describe-vm-metrics", {"name": ""}, status=400, code="ValidationFailed")


def test_a_dead_node_gives_gaps_not_errors(api, silent_server):
    """A node that stops answering: its VMs keep their history (from the store, the node is not asked), new
    points are gaps, list-vm-usage lists the node under errors; the other nodes are unaffected."""
    path = api.add_fixture_node("n2", REPO / "tests" / "fixtures" / "hosts" / "vm_states.xml")
    collect(api)
    vm = api.ok("list-vm-usage", {"node": "n2"})["vms"]
    running = [v["name"] for v in vm if v["state"] == "running"]
    assert running
    before = api.ok("describe-vm-metrics", {"node": "n2", "name": running[0], "window_s": 300})
    assert last(before["series"]["cpu_percent"]) is not None
    # the node's libvirtd hangs (its record now points to a listener that never answers)
    doc = api.services.store.get("node", "n2")
    api.services.store.put("node", "n2", doc={**doc, "uri": f"qemu+tcp://127.0.0.1:{silent_server}/system"})
    api.services.gateway.forget("n2")
    api.services.metrics.collector.collect_once()   # returns: the hung node is bounded by node_timeout_s
    usage = api.ok("list-vm-usage", {})
    assert [e["node"] for e in usage["errors"]] == ["n2"]
    assert usage["errors"][0]["code"] in ("NodeTimeout", "NodeUnreachable")
    assert {v["node"] for v in usage["vms"]} == {"local"}
    after = api.ok("describe-vm-metrics", {"node": "n2", "name": running[0], "window_s": 300})
    assert after["uuid"] == before["uuid"]
    assert last(after["series"]["cpu_percent"]) is not None    # the history is still there
    node = api.ok("describe-node-metrics", {"name": "n2", "window_s": 300})
    assert last(node["series"]["memory_total_bytes"]) is not None
    # local goes on being sampled: the collection that found n2 dead wrote web1's sample, and the answer has it
    # in that sample's bucket (not necessarily the last point: that is the bucket `now` falls in, still empty
    # when the collection's wait on the hung node crossed a bucket boundary)
    web1 = next(v for v in usage["vms"] if v["name"] == "web1")
    assert web1["time"] == api.services.metrics.store.node_latest()["n2"][0]
    m = api.ok("describe-vm-metrics", {"name": "web1", "window_s": 300})
    assert m["series"]["cpu_percent"][m["series"]["time"].index(web1["time"] // m["step_s"] * m["step_s"])] is not None
    # a VM the dead node's history never saw cannot be told apart from no VM: the node's error
    api.error("describe-vm-metrics", {"node": "n2", "name": "never-seen"}, status=502, code="NodeUnreachable")
    assert path.exists()


def test_prometheus_serves_the_latest_sample(api):
    assert api.client.get("/metrics").status_code == 401
    collect(api)
    resp = api.client.get("/metrics", headers={"Authorization": f"Bearer {api.tokens['viewer']}"})
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line and not line.startswith("#")}
    web = 'node="local",vm="web1",uuid="0b6ee2a4-4e39-4c6a-8d5b-6b3a1a000001"'
    assert lines['jvp_node_up{node="local"}'] == 1
    assert lines['jvp_node_vms{node="local",state="total"}'] == 3
    assert lines['jvp_node_vms{node="local",state="running"}'] == 1
    assert 0.4 <= lines[f"jvp_vm_cpu_usage_ratio{{{web}}}"] <= 0.6
    assert lines[f"jvp_vm_cpu_seconds_total{{{web}}}"] > 0
    assert lines[f'jvp_vm_disk_read_bytes_total{{{web},device="vda"}}'] > 0
    assert lines[f'jvp_vm_network_receive_bytes_total{{{web},device="testnet0",mac="52:54:00:0a:00:01"}}'] > 0
    assert lines[f"jvp_vm_up{{{web}}}"] == 1
    assert lines['jvp_pool_capacity_bytes{node="local",pool="default"}'] > 0
    assert lines["jvp_metrics_collector_leader"] == 0   # collect_once here; the thread takes the lock
    # every family is declared once, with HELP and TYPE before its samples
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
