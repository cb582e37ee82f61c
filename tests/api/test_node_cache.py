"""list-nodes' figures kept per connection (hypervisor/host_cache.py, issue 15) through the API: the VM counts
follow JVP's own changes at once and another client's through libvirt's events, a reopened connection reads
everything again, and a node that goes dead is shown offline with its error as before."""
from __future__ import annotations

import time

from tests.api.test_node import fixture_uri


def local(api) -> dict:
    return {n["name"]: n for n in api.ok("list-nodes")["nodes"]}["local"]


def test_counts_follow_jvps_changes_at_once(api):
    assert local(api)["vm_counts"] == {"running": 1, "total": 3}
    api.ok("stop-vm", {"name": "web1", "force": True}, role="operator")
    assert local(api)["vm_counts"] == {"running": 0, "total": 3}  # no wait for libvirt's event
    api.ok("start-vm", {"name": "web1"}, role="operator")
    assert local(api)["vm_counts"] == {"running": 1, "total": 3}
    assert api.ok("describe-node", {"name": "local"})["node"]["vm_counts"] == {"running": 1, "total": 3}


def test_counts_follow_another_clients_change_through_its_event(api):
    gateway = api.services.gateway
    assert local(api)["vm_counts"] == {"running": 1, "total": 3}  # kept now
    # another client (here: the same libvirt connection, not through the gateway) pauses web1
    gateway.connection("local").get().lookupByName("web1").suspend()
    deadline = time.monotonic() + 1.0  # well under the counts' TTL (2 s): the event dropped them
    while local(api)["vm_counts"]["running"] != 0:
        assert time.monotonic() < deadline, "the domain event did not drop the kept counts"
        time.sleep(0.02)
    gateway.connection("local").get().lookupByName("web1").resume()


def test_a_reopened_connection_reads_the_figures_again(api):
    gateway = api.services.gateway
    before = local(api)
    nc = gateway.connection("local")
    assert gateway.cached_host_facts("local", nc.uri) is not None
    nc.close()  # as a dropped connection: the next call opens a new one
    assert gateway.cached_host_facts("local", nc.uri) is None
    after = local(api)
    assert after["state"] == "online" and after["hostname"] == before["hostname"]
    assert after["vm_counts"] == before["vm_counts"] and after["memory_bytes"] == before["memory_bytes"]
    assert gateway.cached_host_facts("local", nc.uri) is not None


def test_a_node_that_goes_dead_is_offline_with_its_error(api):
    api.ok("create-node", {"name": "lab2", "uri": fixture_uri(api)})
    nodes = {n["name"]: n for n in api.ok("list-nodes")["nodes"]}
    assert nodes["lab2"]["state"] == "online"  # its figures are kept now
    # the health memory marks it dead (a listing gave up waiting for it): no kept answer is used for it
    api.services.gateway.health.mark_dead("lab2", "NodeTimeout", "node 'lab2' did not answer within 3s")
    nodes = {n["name"]: n for n in api.ok("list-nodes")["nodes"]}
    assert nodes["lab2"]["state"] == "offline" and nodes["lab2"]["reachable"] is False
    assert "marked unreachable" in nodes["lab2"]["last_error"]
    assert nodes["lab2"]["vm_counts"] is None and nodes["local"]["state"] == "online"
    node = api.ok("describe-node", {"name": "lab2"})["node"]  # tries it: it answers, so it is alive again
    assert node["state"] == "online"
    # its host moved away (its record now names a URI that refuses): the kept figures of the old connection
    # are not used, the new URI is tried and the failure shown
    doc = api.services.store.get("node", "lab2")
    api.services.store.put("node", "lab2", doc={**doc, "uri": "qemu+tcp://127.0.0.1:1/system"})
    nodes = {n["name"]: n for n in api.ok("list-nodes")["nodes"]}
    assert nodes["lab2"]["state"] == "offline" and "Connection refused" in nodes["lab2"]["last_error"]
