"""Node actions on libvirt's test driver (the seeded inventory of jvp/demo/inventory.xml)."""
from __future__ import annotations

import time

import libvirt
import pytest

from jvp.demo import INVENTORY

SECOND = "test:///default"


def test_list_nodes_shows_the_local_node_with_real_figures(api):
    data = api.ok("list-nodes", role="viewer")
    assert data["errors"] == []
    (local,) = data["nodes"]
    conn = libvirt.open(f"test://{INVENTORY}")
    info = conn.getInfo()
    assert local["name"] == "local" and local["local"] is True
    assert local["state"] == "online" and local["reachable"] is True and local["last_error"] is None
    assert local["cpus"] == info[2] == 16
    assert local["memory_bytes"] == info[1] * 1024 * 1024
    assert local["hostname"] == conn.getHostname()
    assert local["hypervisor"].startswith("TEST")
    assert local["vm_counts"] == {"running": 2, "total": 3}


def test_describe_node_and_unknown_node(api):
    assert api.ok("describe-node", {"name": "local"})["node"]["uri"] == f"test://{INVENTORY}"
    err = api.error("describe-node", {"name": "ghost"}, status=404, code="NodeNotFound")
    assert "ghost" in err["message"]


def test_summary_comes_from_libvirt(api):
    s = api.ok("describe-node-summary", {"name": "local"})["summary"]
    assert s["cpu"]["count"] == 16 and s["cpu"]["mhz"] == 2400
    assert s["cpu"]["sockets"] * s["cpu"]["cores"] * s["cpu"]["threads"] == 16
    # A custom test-driver file has no NUMA topology in its capabilities: an empty list, not a made-up one.
    assert s["numa"] == []
    # The test driver has no node memory statistics: unknown figures are null, never invented.
    assert s["memory"]["free_bytes"] is None and s["memory"]["used_bytes"] is None
    assert s["virtualization"]["kvm_available"] is False
    assert s["virtualization"]["domain_types"] == ["test"]


def test_summary_numa_cells(api):
    api.ok("create-node", {"name": "numa", "uri": SECOND})
    s = api.ok("describe-node-summary", {"name": "numa"})["summary"]
    conn = libvirt.open(SECOND)
    assert [c["id"] for c in s["numa"]] == [0, 1]
    assert sorted(sum((c["cpus"] for c in s["numa"]), [])) == list(range(16))
    assert [c["free_memory_bytes"] for c in s["numa"]] == conn.getCellsFreeMemory(0, 2)
    assert all(c["memory_bytes"] > 0 for c in s["numa"])
    assert {h["size_kib"] for h in s["hugepages"]} >= {2048, 1048576}


def test_device_tables(api):
    gpu = api.ok("describe-node-gpu", {"name": "local"})["gpu"]
    assert [(g["address"], g["vendor"], g["vm"], g["iommu_group"]) for g in gpu] == [
        ("0000:03:00.0", "NVIDIA Corporation", "build-runner", 14)]
    pci = api.ok("describe-node-pci", {"name": "local"})["pci"]
    assert {p["address"] for p in pci} == {"0000:03:00.0", "0000:02:00.0"}
    assert next(p for p in pci if p["address"] == "0000:02:00.0")["vm"] is None
    assert next(p for p in pci if p["address"] == "0000:02:00.0")["class"] == "0x020000"
    net = api.ok("describe-node-net", {"name": "local"})["net"]
    assert [(n["interface"], n["mac"], n["link_state"], n["speed_mbps"]) for n in net] == [
        ("eno1", "3c:ec:ef:00:00:01", "up", 10000)]
    usb = api.ok("describe-node-usb", {"name": "local"})["usb"]
    assert usb[0]["vendor"] == "SanDisk Corp." and usb[0]["bus"] == 1
    disks = api.ok("describe-node-disks", {"name": "local"})["disks"]
    assert disks[0]["block"] == "/dev/sda" and disks[0]["size_bytes"] == 960197124096


def test_node_vms(api):
    vms = api.ok("describe-node-vms", {"name": "local"})["vms"]
    assert [(v["name"], v["state"], v["vcpus"], v["memory_mib"]) for v in vms] == [
        ("build-runner", "paused", 1, 1024), ("db1", "stopped", 4, 4096), ("web1", "running", 2, 2048)]


def test_create_modify_maintenance_delete(api):
    node = api.ok("create-node", {"name": "lab2", "uri": SECOND, "description": "second",
                                  "labels": {"rack": "r1"}})["node"]
    assert node["state"] == "online" and node["labels"] == {"rack": "r1"} and node["local"] is False
    doc = api.services.store.get("node", "lab2")
    assert doc["uri"] == SECOND and doc["schema_version"] == 1
    names = [n["name"] for n in api.ok("list-nodes")["nodes"]]
    assert names == ["local", "lab2"]

    node = api.ok("modify-node", {"name": "lab2", "description": "moved", "labels": {"rack": "r2"}})["node"]
    assert node["description"] == "moved" and node["labels"] == {"rack": "r2"}

    assert api.ok("disable-node", {"name": "lab2"})["node"]["state"] == "maintenance"
    assert api.ok("list-nodes", {"state": "maintenance"})["nodes"][0]["name"] == "lab2"
    with pytest.raises(Exception) as exc:
        api.services.nodes.ensure_available("lab2")
    assert getattr(exc.value, "code", None) == "NodeInMaintenance"
    # Maintenance does not stop reads.
    assert api.ok("describe-node-vms", {"name": "lab2"})["vms"]
    assert api.ok("enable-node", {"name": "lab2"})["node"]["state"] == "online"

    assert api.ok("delete-node", {"name": "lab2"}) == {"ok": True}
    assert api.services.store.get("node", "lab2") is None
    api.error("describe-node", {"name": "lab2"}, status=404, code="NodeNotFound")


def test_duplicate_node_is_409(api):
    api.ok("create-node", {"name": "lab2", "uri": SECOND})
    err = api.error("create-node", {"name": "lab2", "uri": SECOND}, status=409, code="NodeExists")
    assert "lab2" in err["message"]
    err = api.error("create-node", {"name": "lab3", "uri": SECOND}, status=409, code="NodeUriInUse")
    assert err["details"]["node"] == "lab2"
    api.error("create-node", {"name": "local", "uri": SECOND}, status=409, code="NodeExists")


def test_reserved_node_name(api):
    api.error("create-node", {"name": "nodes", "uri": SECOND}, status=400, code="InvalidName")


def test_deleting_local_is_refused(api):
    err = api.error("delete-node", {"name": "local"}, status=409, code="NodeIsLocal")
    assert "cannot be deleted" in err["message"]
    assert api.ok("describe-node", {"name": "local"})["node"]["state"] == "online"


@pytest.mark.parametrize("uri", ["http://host/system", "xen:///system", "ftp://x", "qemu+foo://h/system",
                                 "qemu:///nope", "qemu+ssh:///system", "qemu:///system extra", "lxc:///"])
def test_unsupported_uris_are_400(api, uri):
    err = api.error("create-node", {"name": "bad", "uri": uri}, status=400, code="InvalidUri")
    assert "uri" in err["details"]["field_errors"]
    assert api.services.store.get("node", "bad") is None


def test_unreachable_uri_is_refused_with_the_libvirt_error(api):
    err = api.error("create-node", {"name": "dead", "uri": "qemu+tcp://127.0.0.1:1/system"}, status=502,
                    code="NodeUnreachable")
    assert "Connection refused" in err["details"]["libvirt_error"]["message"]
    assert api.services.store.get("node", "dead") is None


def test_local_uri_is_read_only(api):
    api.error("modify-node", {"name": "local", "uri": SECOND}, status=400, code="LocalNodeUri")
    assert api.ok("modify-node", {"name": "local", "description": "this host"})["node"]["description"] == \
        "this host"
    assert api.services.store.get("node", "local")["description"] == "this host"


def test_a_node_that_went_down_is_offline_and_does_not_slow_the_list(api):
    # As if the host disappeared after it was added: the record exists, the URI does not answer.
    api.services.store.put("node", "gone", doc={"name": "gone", "uri": "qemu+tcp://127.0.0.1:1/system",
                                                "created_at": "2026-01-01T00:00:00Z"})
    start = time.monotonic()
    nodes = {n["name"]: n for n in api.ok("list-nodes")["nodes"]}
    assert time.monotonic() - start < api.services.settings.node_timeout_s + 1
    assert nodes["gone"]["state"] == "offline" and nodes["gone"]["reachable"] is False
    assert "Connection refused" in nodes["gone"]["last_error"]
    assert nodes["local"]["state"] == "online"
    err = api.error("describe-node-summary", {"name": "gone"}, status=502, code="NodeUnreachable")
    assert "gone" in err["message"]


def test_corrupt_node_file_is_reported_not_dropped(api):
    path = api.services.store.path("node", "broken")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("name: broken\nuri: [unclosed\n")
    before = path.read_text()
    data = api.ok("list-nodes")
    assert [n["name"] for n in data["nodes"]] == ["local"]
    assert data["errors"][0]["path"] == str(path) and data["errors"][0]["code"] == "MetadataCorrupt"
    err = api.error("describe-node", {"name": "broken"}, status=422, code="MetadataCorrupt")
    assert err["details"]["path"] == str(path)
    api.error("disable-node", {"name": "broken"}, status=422, code="MetadataCorrupt")
    api.error("create-node", {"name": "broken", "uri": SECOND}, status=422, code="MetadataCorrupt")
    assert path.read_text() == before


def test_schema_invalid_node_file_is_reported(api):
    path = api.services.store.path("node", "odd")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("schema_version: 1\nname: odd\nuri: test:///default\ncreated_at: x\ncolour: blue\n")
    data = api.ok("list-nodes")
    assert "colour" in data["errors"][0]["message"]
