"""Node health memory through the API: a hung node (a TCP listener that never answers) costs the first
all-node listing its timeout once; later listings skip it and show it in `errors` (list-nodes: offline)
at once, while the test:/// local node keeps answering. Recovery is tested on fakes (tests/unit/test_health.py)."""
from __future__ import annotations

import time

import pytest


@pytest.fixture
def silent_uri(silent_server):
    """A node URI whose libvirtd accepts the connection and never answers (a hung node)."""
    return f"qemu+tcp://127.0.0.1:{silent_server}/system"


def timed(fn, *args):
    start = time.monotonic()
    out = fn(*args)
    return time.monotonic() - start, out


def test_a_hung_node_costs_one_listing_then_is_skipped_at_once(api, silent_uri):
    api.services.store.put("node", "jvptest-k-hung", doc={"name": "jvptest-k-hung", "uri": silent_uri,
                                                          "created_at": "2026-01-01T00:00:00Z"})
    timeout = api.services.settings.node_timeout_s
    local_vms = {v["name"] for v in api.ok("list-vms", {"node": "local"})["vms"]}
    assert local_vms

    took, first = timed(api.ok, "list-vms", {})
    assert took < timeout * 2 + 1  # the first listing detects it within the listing's bound
    assert [e["node"] for e in first["errors"]] == ["jvptest-k-hung"]
    code = first["errors"][0]["code"]
    assert code in ("NodeUnreachable", "NodeTimeout")
    assert {v["name"] for v in first["vms"]} == local_vms

    for _ in range(3):
        took, later = timed(api.ok, "list-vms", {})
        assert took < 1.0, took  # never waits on the known-dead node again
        assert [(e["node"], e["code"]) for e in later["errors"]] == [("jvptest-k-hung", code)]
        assert "marked unreachable" in later["errors"][0]["message"]
        assert {v["name"] for v in later["vms"]} == local_vms

    took, listing = timed(api.ok, "list-nodes", {})
    assert took < 1.0, took
    nodes = {n["name"]: n for n in listing["nodes"]}
    assert nodes["jvptest-k-hung"]["state"] == "offline" and nodes["jvptest-k-hung"]["last_error"]
    assert nodes["local"]["state"] == "online"

    api.ok("delete-node", {"name": "jvptest-k-hung"})  # forgotten: its health memory goes with it
    assert api.services.gateway.health.dead("jvptest-k-hung") is None
