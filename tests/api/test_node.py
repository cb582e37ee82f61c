"""Node actions on libvirt's test driver (the seeded inventory of jvp/demo/inventory.xml)."""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import libvirt
import pytest

from jvp.demo import INVENTORY

NUMA = "test:///default"  # libvirt's built-in test node: the only one with NUMA cells and huge pages


def fixture_uri(api, name: str = "second") -> str:
    """A further node on a test-driver fixture file of our own (a copy of the seeded inventory) in the
    fixture directory JVP accepts (setting test_fixtures_dir, default <data_dir>/test-fixtures)."""
    return f"test://{api.fixture_file(INVENTORY, f'{name}.xml')}"


@pytest.fixture
def second(api):
    return fixture_uri(api)


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
    # running = what list-vms state=running lists (web1; db1 is stopped, the third VM paused)
    running = api.ok("list-vms", {"node": "local", "state": "running"})["vms"]
    assert local["vm_counts"] == {"running": len(running), "total": 3} == {"running": 1, "total": 3}


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
    api.ok("create-node", {"name": "numa", "uri": NUMA})
    s = api.ok("describe-node-summary", {"name": "numa"})["summary"]
    conn = libvirt.open(NUMA)
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


def test_create_modify_maintenance_delete(api, second):
    node = api.ok("create-node", {"name": "lab2", "uri": second, "description": "second",
                                  "labels": {"rack": "r1"}})["node"]
    assert node["state"] == "online" and node["labels"] == {"rack": "r1"} and node["local"] is False
    doc = api.services.store.get("node", "lab2")
    assert doc["uri"] == second and doc["schema_version"] == 1
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


def test_duplicate_node_is_409(api, second):
    api.ok("create-node", {"name": "lab2", "uri": second})
    err = api.error("create-node", {"name": "lab2", "uri": second}, status=409, code="NodeExists")
    assert "lab2" in err["message"]
    err = api.error("create-node", {"name": "lab3", "uri": second}, status=409, code="NodeUriInUse")
    assert err["details"]["node"] == "lab2"
    api.error("create-node", {"name": "local", "uri": second}, status=409, code="NodeExists")


@pytest.mark.parametrize("spelling", [lambda u: u.replace("/test-fixtures/", "/test-fixtures//"),
                                      lambda u: u.replace("/test-fixtures/", "/test-fixtures/./"),
                                      lambda u: u.replace("test://", "TEST://")])
def test_another_spelling_of_a_node_uri_is_the_same_node(api, second, spelling):
    """Issue 14, finding 11: URIs were compared as strings, so test:///.../x//second.xml made a second node
    over the same host. Both the local node's URI and another node's are matched in canonical form."""
    api.ok("create-node", {"name": "lab2", "uri": second})
    err = api.error("create-node", {"name": "lab3", "uri": spelling(second)}, status=409, code="NodeUriInUse")
    assert err["details"]["node"] == "lab2" and err["details"]["existing_uri"] == second
    local = api.services.settings.local_uri
    err = api.error("create-node", {"name": "lab3", "uri": local.replace("/demo/", "/demo//")}, status=409,
                    code="NodeUriInUse")
    assert err["details"]["node"] == "local"
    api.ok("create-node", {"name": "lab3", "uri": fixture_uri(api, "third")})
    err = api.error("modify-node", {"name": "lab3", "uri": spelling(second)}, status=409, code="NodeUriInUse")
    assert err["details"]["node"] == "lab2"
    assert sorted(n["name"] for n in api.ok("list-nodes")["nodes"]) == ["lab2", "lab3", "local"]


def test_reserved_node_name(api, second):
    api.error("create-node", {"name": "nodes", "uri": second}, status=400, code="InvalidName")


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


def test_local_uri_is_read_only(api, second):
    api.error("modify-node", {"name": "local", "uri": second}, status=400, code="LocalNodeUri")
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


def test_corrupt_node_file_is_reported_not_dropped(api, second):
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
    api.error("create-node", {"name": "broken", "uri": second}, status=422, code="MetadataCorrupt")
    assert path.read_text() == before


def test_schema_invalid_node_file_is_reported(api):
    path = api.services.store.path("node", "odd")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("schema_version: 1\nname: odd\nuri: test:///default\ncreated_at: x\ncolour: blue\n")
    data = api.ok("list-nodes")
    assert "colour" in data["errors"][0]["message"]


# -- URIs that must be refused (400, never 500, nothing saved) -------------------------------------------
@pytest.mark.parametrize("uri", ["qemu+tcp://[::1/system", "qemu+tcp://host:99999/system",
                                 "qemu+tcp://host:port/system"])
def test_malformed_uris_are_400_on_create_and_modify(api, second, uri):
    err = api.error("create-node", {"name": "bad", "uri": uri}, status=400, code="InvalidUri")
    assert err["details"]["field_errors"]["uri"] == ["Malformed URI."]
    assert api.services.store.get("node", "bad") is None
    api.ok("create-node", {"name": "lab2", "uri": second})
    api.error("modify-node", {"name": "lab2", "uri": uri}, status=400, code="InvalidUri")
    assert api.services.store.get("node", "lab2")["uri"] == second


def test_uri_parameters_that_run_programs_are_refused(api):
    err = api.error("create-node", {"name": "bad", "uri": "qemu+ssh://root@h/system?command=/bin/sh"},
                    status=400, code="InvalidUri")
    assert err["details"]["parameters"] == ["command"]
    assert api.services.store.get("node", "bad") is None


@pytest.mark.parametrize("uri", ["test:///etc/hostname", "test:///etc/shadow", "test:///etc/passwd.xml",
                                 "test+tcp://127.0.0.1/default", "test://host/default", "test:///default?name=x",
                                 "test:///tmp/../etc/hostname"])
def test_test_driver_files_outside_the_fixture_dirs_are_refused(api, uri):
    err = api.error("create-node", {"name": "peek", "uri": uri}, status=400, code="InvalidUri")
    assert err["details"]["field_errors"]["uri"] == ["Not a JVP fixture file."]
    assert "libvirt_error" not in err["details"]
    assert api.services.store.get("node", "peek") is None


def test_fixture_dir_escapes_are_refused(api, tmp_path):
    fixtures = api.services.settings.test_fixtures_path
    fixtures.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside.xml"
    shutil.copyfile(INVENTORY, outside)
    (fixtures / "link.xml").symlink_to(outside)  # a symlink out of the directory
    for uri in (f"test://{fixtures}/link.xml", f"test://{fixtures}/../outside.xml",
                f"test://{fixtures}/missing.xml", f"test://{fixtures}"):
        api.error("create-node", {"name": "peek", "uri": uri}, status=400, code="InvalidUri")
    assert api.services.store.get("node", "peek") is None


def test_a_broken_fixture_file_is_reported_without_its_content(api):
    fixtures = api.services.settings.test_fixtures_path
    fixtures.mkdir(parents=True, exist_ok=True)
    (fixtures / "broken.xml").write_text("topsecret-first-line-1234\nsecond-line-5678\n")
    resp = api.call("create-node", {"name": "broken", "uri": f"test://{fixtures}/broken.xml"})
    assert resp.status_code == 502, resp.get_json()
    assert resp.get_json()["error"]["code"] == "NodeUnreachable"
    text = resp.get_data(as_text=True)
    assert "topsecret" not in text and "5678" not in text
    assert api.services.store.get("node", "broken") is None


def test_extra_nodes_on_our_own_fixture_files(api):
    """Two further nodes on fixture files of our own, each its own inventory, besides local."""
    a, b = fixture_uri(api, "rack-a"), fixture_uri(api, "rack-b")
    api.ok("create-node", {"name": "rack-a", "uri": a})
    api.ok("create-node", {"name": "rack-b", "uri": b})
    nodes = {n["name"]: n for n in api.ok("list-nodes")["nodes"]}
    assert set(nodes) == {"local", "rack-a", "rack-b"}
    assert all(n["state"] == "online" and n["vm_counts"] == {"running": 1, "total": 3}
               for n in nodes.values())




def test_a_hung_node_answers_node_unreachable_within_the_timeout(api, silent_server):
    uri = f"qemu+tcp://127.0.0.1:{silent_server}/system"
    api.services.store.put("node", "hung", doc={"name": "hung", "uri": uri,
                                                "created_at": "2026-01-01T00:00:00Z"})
    timeout = api.services.settings.node_timeout_s
    calls = ["describe-node-summary", "describe-node-vms", "describe-node-pci", "describe-node-summary"]

    def call(action):
        start = time.monotonic()
        err = api.error(action, {"name": "hung"}, status=502, code="NodeUnreachable")
        return time.monotonic() - start, err

    start = time.monotonic()
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(call, calls))
        # Meanwhile other nodes answer at once: nothing they need is held by the hung one.
        t0 = time.monotonic()
        assert api.ok("describe-node-vms", {"name": "local"})["vms"]
        assert time.monotonic() - t0 < 1.5
    assert time.monotonic() - start < timeout + 2
    for took, err in results:
        assert took < timeout + 2
        assert f"within {timeout:g}s" in err["message"] and err["details"]["node"] == "hung"
    # A later call is bounded the same way (the open still in progress is waited for, not repeated).
    took, _ = call("describe-node-summary")
    assert took < timeout + 1


def test_modify_and_maintenance_update_the_file_under_the_lock(api, second, monkeypatch):
    """A change another worker writes between our read and our write is kept (no lost update)."""
    api.ok("create-node", {"name": "lab2", "uri": second})
    nodes = api.services.nodes
    real_record = nodes.record

    def record_then_race(name):
        rec = real_record(name)
        doc = api.services.store.get("node", name)
        if doc is not None and not doc.get("maintenance"):
            api.services.store.put("node", name, doc={**doc, "maintenance": True})  # disable-node elsewhere
        return rec
    monkeypatch.setattr(nodes, "record", record_then_race)
    api.ok("modify-node", {"name": "lab2", "description": "moved"})
    doc = api.services.store.get("node", "lab2")
    assert doc["description"] == "moved" and doc["maintenance"] is True
    monkeypatch.setattr(nodes, "record", real_record)

    def record_then_describe(name):
        rec = real_record(name)
        doc = api.services.store.get("node", name)
        api.services.store.put("node", name, doc={**doc, "description": "renamed elsewhere"})
        return rec
    monkeypatch.setattr(nodes, "record", record_then_describe)
    api.ok("enable-node", {"name": "lab2"})
    monkeypatch.setattr(nodes, "record", real_record)
    doc = api.services.store.get("node", "lab2")
    assert doc["maintenance"] is False and doc["description"] == "renamed elsewhere"


def test_modify_of_a_node_deleted_meanwhile_is_404_and_writes_nothing(api, second, monkeypatch):
    api.ok("create-node", {"name": "lab2", "uri": second})
    nodes = api.services.nodes
    real_record = nodes.record

    def record_then_delete(name):
        rec = real_record(name)
        api.services.store.delete("node", name)
        return rec
    monkeypatch.setattr(nodes, "record", record_then_delete)
    api.error("disable-node", {"name": "lab2"}, status=404, code="NodeNotFound")
    assert api.services.store.get("node", "lab2") is None


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu+tcp://127.0.0.1/system", "qemu:///session"])
def test_the_demo_reaches_the_test_driver_only(tmp_path, uri):
    """`jvp serve --demo` (and the fuzz gate, which runs the demo's settings): a URI of a real libvirtd is
    refused before libvirt sees it, on create-node and modify-node; test:/// nodes still work."""
    from tests.conftest import build_api, make_settings
    demo = build_api(make_settings(tmp_path, demo=True))
    try:
        err = demo.error("create-node", {"name": "real", "uri": uri}, status=400, code="InvalidUri")
        assert "test driver" in err["message"] and "uri" in err["details"]["field_errors"]
        assert demo.services.store.get("node", "real") is None
        demo.ok("create-node", {"name": "lab2", "uri": "test:///default"})
        demo.error("modify-node", {"name": "lab2", "uri": uri}, status=400, code="InvalidUri")
        assert demo.ok("describe-node", {"name": "lab2"})["node"]["uri"] == "test:///default"
    finally:
        demo.services.close()
