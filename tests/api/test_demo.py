"""The demo's estate (`jvp serve --demo`, jvp/demo/estate.py) on libvirt's test driver: what a new user finds,
what the UI is told is disabled, and the walk of tests/web/test_demo_walk.py through the API."""
from __future__ import annotations

import pytest

from jvp.demo.estate import SECOND_NODE, SEED_TOKEN, seed
from jvp.domain.server import DEMO_LIMITS
from tests.conftest import build_api, make_settings, unique


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    client = build_api(make_settings(tmp_path_factory.mktemp("demo"), demo=True))
    seed(client.app)
    yield client
    client.services.close()


def vms(api) -> list[dict]:
    return api.ok("list-vms", {}, role="viewer")["vms"]


def test_two_nodes_and_vms_in_every_state(demo):
    nodes = {n["name"]: n for n in demo.ok("list-nodes", {}, role="viewer")["nodes"]}
    assert set(nodes) == {"local", SECOND_NODE}
    assert all(n["state"] == "online" for n in nodes.values()), nodes
    listed = vms(demo)
    assert len(listed) >= 10
    states = {v["state"] for v in listed}
    assert {"running", "paused", "stopped", "crashed", "pmsuspended"} <= states, states
    assert {v["node"] for v in listed} == {"local", SECOND_NODE}


def test_seeded_vms_have_vnc_and_serial(demo):
    seeded = [v for v in vms(demo) if v["node"] == SECOND_NODE or v["labels"].get("env") == "demo"]
    assert len(seeded) >= 10
    for v in seeded:
        vm = demo.ok("describe-vm", {"node": v["node"], "name": v["name"]}, role="viewer")["vm"]
        assert [g["type"] for g in vm["graphics"]] == ["vnc"], (v["name"], vm["graphics"])
        assert vm["console"] is not None and vm["console"]["type"] == "pty", (v["name"], vm["console"])


def test_pools_networks_templates_snapshots_and_task_history(demo):
    for node in ("local", SECOND_NODE):
        pools = demo.ok("list-storage-pools", {"node": node}, role="viewer")["pools"]
        assert pools and all(p["active"] for p in pools), pools
        vols = demo.ok("list-volumes", {"node": node}, role="viewer")["volumes"]
        assert len(vols) >= 4, vols
        assert demo.ok("list-networks", {"node": node}, role="viewer")["networks"]
    templates = demo.ok("list-templates", {}, role="viewer")["templates"]
    assert sorted((t["node"], t["name"], t["state"]) for t in templates) == [
        ("local", "debian-12", "ready"), ("local", "ubuntu-24.04", "ready"), (SECOND_NODE, "alma-9", "ready")]
    snaps = demo.ok("list-snapshots", {"node": "local"}, role="viewer")["snapshots"]
    assert {(s["vm"], s["name"]) for s in snaps} >= {("web1", "baseline"), ("app-1", "before-upgrade")}
    assert [s["name"] for s in demo.ok("list-snapshots", {"node": SECOND_NODE, "vm": "ldap1"})["snapshots"]] == [
        "nightly"]
    tasks = demo.ok("list-tasks", {}, role="viewer")["tasks"]
    kinds = {t["kind"] for t in tasks if t["created_by"] == SEED_TOKEN and t["state"] == "succeeded"}
    assert {"create-vm", "create-snapshot"} <= kinds, tasks
    # the seed's admin token is gone once the estate is made
    assert SEED_TOKEN not in {t["name"] for t in demo.services.tokens.list()}


def test_describe_server_says_demo_and_why(demo, api):
    server = demo.ok("describe-server", {}, role="viewer")["server"]
    assert server["demo"] is True
    assert {lim["feature"]: lim["reason"] for lim in server["demo_limits"]} == DEMO_LIMITS
    assert all(lim["reason"] for lim in server["demo_limits"])
    assert api.ok("describe-server", {}, role="viewer")["server"] == {"demo": False, "demo_limits": []}


@pytest.mark.parametrize("type_", ["vnc", "serial"])
def test_console_on_the_test_driver_says_why(demo, type_):
    err = demo.error("get-vm-console", {"node": SECOND_NODE, "name": "ldap1", "type": type_}, role="operator",
                     status=422, code="ConsoleNotAvailable")
    assert "test driver" in err["message"] and "no console stream" in err["message"], err
    assert err["details"]["reason"] == "test-driver" and err["details"]["type"] == type_
    # a stopped VM: its state comes first (start it), as on a real node
    demo.error("get-vm-console", {"node": SECOND_NODE, "name": "win-test", "type": type_}, role="operator",
               status=409, code="InvalidState")


def test_the_demo_walk_through_the_api(demo):
    """What the wizard sends on its defaults in the demo (cloud-init off, the first network, start), then
    snapshot, revert and delete: each succeeds."""
    name = unique("walk-")
    task = demo.ok("create-vm", {"node": "local", "name": name, "vcpus": 1, "memory_mib": 1024, "firmware": "bios",
                                 "pool": "default", "volume": "scratch.raw", "clone": "linked", "start": True,
                                 "autostart": False, "nics": [{"network": "demo-isolated", "model": "virtio"}]})["task"]
    try:
        assert demo.services.tasks.wait(task["id"], 30)["state"] == "succeeded"
        snap = demo.ok("create-snapshot", {"node": "local", "vm": name, "name": "s1"})["task"]
        assert demo.services.tasks.wait(snap["id"], 30)["state"] == "succeeded"
        rev = demo.ok("revert-snapshot", {"node": "local", "vm": name, "name": "s1"})
        rev_task = rev.get("task")
        if rev_task:
            assert demo.services.tasks.wait(rev_task["id"], 30)["state"] == "succeeded"
    finally:
        demo.ok("delete-vm", {"node": "local", "name": name, "force": True, "delete_volumes": True})
    assert name not in {v["name"] for v in vms(demo)}


def test_metrics_are_collected_on_both_demo_nodes(demo):
    """The collector samples the test driver's nodes like any other (here one round, run by hand)."""
    demo.services.metrics.collector.collect_once()
    usage = demo.ok("list-vm-usage", {}, role="viewer")
    assert usage["errors"] == []
    sampled = {(u["node"], u["name"]) for u in usage["vms"]}
    assert ("local", "app-1") in sampled and (SECOND_NODE, "ldap1") in sampled, sampled
