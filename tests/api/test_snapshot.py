"""Snapshot actions on libvirt's test driver (it keeps snapshot metadata and runs revert/delete on it).

Covered here: create (running with and without memory, stopped, paused), the tree in list/describe,
revert to the recorded state or with start, delete with and without children, roles, and every bad input of
the issue with its status, code and nothing left behind. The test driver has no disk data and no volume
streams: a clone's or export's data path is covered by tests/host/test_snapshot_host.py; here their checks
run, and a clone that reaches the data path fails cleanly (NotSupported from libvirt, nothing left).
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jvp.domain.volume import VolumeView
from jvp.service.template.register import TemplateRegistrar


def take(api, vm: str, name: str | None = None, state: str = "succeeded", **body) -> dict:
    resp = api.call("create-snapshot", {"vm": vm, **({"name": name} if name else {}), **body}, role="operator")
    assert resp.status_code == 202, resp.get_json()
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], 30)
    assert done["state"] == state, done
    return done


def names(api, vm: str) -> list[str]:
    return [s["name"] for s in api.ok("list-snapshots", {"vm": vm}, role="viewer")["snapshots"]]


def inventory(api) -> dict:
    def read(conn):
        return {"domains": sorted(d.name() for d in conn.listAllDomains(0)),
                "volumes": sorted((p.name(), v.name()) for p in conn.listAllStoragePools(0)
                                  for v in p.listAllVolumes(0)),
                "snapshots": sorted((d.name(), s.getName()) for d in conn.listAllDomains(0)
                                    for s in d.listAllSnapshots(0))}
    return api.services.gateway.run_raw("local", read)


# -- create, list, describe -----------------------------------------------------------------------------------
def test_snapshots_of_a_running_vm_with_and_without_memory_form_a_tree(api):
    done = take(api, "web1", "before", description="before the upgrade")
    snap = done["result"]["snapshot"]
    assert done["resource"] == {"kind": "vm", "node": "local", "name": "web1"}
    assert (snap["state"], snap["has_memory"], snap["revert_state"], snap["current"]) == (
        "running", False, "running", True)
    assert snap["description"] == "before the upgrade" and snap["created_at"].endswith("Z")
    assert snap["disks"] == [{"target": "vda", "snapshot": "internal",
                              "path": "/var/lib/jvp-demo/pools/default/web1-root.qcow2", "snapshot_file": None}]
    take(api, "web1", "after", include_memory=True)
    listed = api.ok("list-snapshots", {"vm": "web1"}, role="viewer")["snapshots"]
    assert [(s["name"], s["parent"], s["children"], s["current"], s["has_memory"]) for s in listed] == [
        ("before", None, ["after"], False, False), ("after", "before", [], True, True)]
    one = api.ok("describe-snapshot", {"vm": "web1", "name": "after"}, role="viewer")["snapshot"]
    assert one == listed[1] and one["revert_state"] == "running" and one["system_disk"] == "vda"


def test_a_stopped_vm_gets_a_disk_snapshot_and_a_default_name(api):
    api.ok("stop-vm", {"name": "web1", "force": True})
    snap = take(api, "web1")["result"]["snapshot"]
    assert snap["name"].startswith("snap-") and len(snap["name"]) == len("snap-20260101-000000")
    assert (snap["state"], snap["has_memory"], snap["revert_state"]) == ("stopped", False, "stopped")


def test_list_snapshots_of_every_vm_of_the_node(api):
    take(api, "web1", "w1")
    take(api, "build-runner", "r1", include_memory=True)  # a paused VM: memory kept, resumes paused
    listed = api.ok("list-snapshots", {}, role="viewer")["snapshots"]
    assert [(s["vm"], s["name"], s["state"]) for s in listed] == [("build-runner", "r1", "paused"),
                                                                 ("web1", "w1", "running")]
    assert api.ok("describe-snapshot", {"vm": "build-runner", "name": "r1"})["snapshot"]["revert_state"] == "paused"


# -- revert and delete ----------------------------------------------------------------------------------------
def test_revert_ends_in_the_recorded_state_unless_start(api):
    take(api, "web1", "disk")  # disk-only, of the running VM: recorded running
    take(api, "web1", "mem", include_memory=True)
    api.ok("stop-vm", {"name": "web1", "force": True})
    take(api, "web1", "off")  # of the stopped VM: recorded stopped
    api.ok("start-vm", {"name": "web1"})

    def revert(name: str, **start) -> str:
        res = api.ok("revert-snapshot", {"vm": "web1", "name": name, **start}, role="operator")
        assert res["vm"]["state"] == res["state"] and res["snapshot"]["current"]
        assert f"reverted to snapshot '{name}', now {res['state']}" in res["message"]
        return res["state"]
    # without start: the state recorded (a disk-only snapshot of a running VM boots it from the disks)
    assert [api.ok("describe-snapshot", {"vm": "web1", "name": n})["snapshot"]["revert_state"]
            for n in ("disk", "mem", "off")] == ["running", "running", "stopped"]
    assert revert("off") == "stopped"
    assert revert("disk") == "running"
    assert revert("mem") == "running"
    assert revert("off", start=None) == "stopped"  # null is the same as left out
    assert revert("disk", start=False) == "running"  # SPEC 2.5's default false: the recorded state
    assert revert("mem", start=False) == "running"
    assert revert("off", start=False) == "stopped"
    # told otherwise
    assert revert("off", start=True) == "running"
    assert revert("disk", start=True) == "running"
    tasks = api.ok("list-tasks", {"kind": "revert-snapshot"})["tasks"]
    assert len(tasks) == 9 and {t["state"] for t in tasks} == {"succeeded"}
    api.error("revert-snapshot", {"vm": "web1", "name": "disk", "start": "maybe"}, status=400,
              code="ValidationFailed", role="operator")


def test_delete_hands_children_to_the_parent_or_takes_them_along(api):
    for n in ("a", "b", "c"):
        take(api, "web1", n)
    res = api.ok("delete-snapshot", {"vm": "web1", "name": "b"}, role="operator")
    assert res["deleted"] == ["b"]
    assert api.ok("describe-snapshot", {"vm": "web1", "name": "c"})["snapshot"]["parent"] == "a"
    res = api.ok("delete-snapshot", {"vm": "web1", "name": "a", "children": True}, role="operator")
    assert sorted(res["deleted"]) == ["a", "c"] and names(api, "web1") == []


def test_delete_vm_removes_its_snapshots(api):
    take(api, "web1", "s1")
    take(api, "web1", "s2")
    res = api.ok("delete-vm", {"name": "web1", "force": True})
    assert res["snapshots_deleted"] == 2
    assert api.services.gateway.run_raw("local", lambda c: [d.name() for d in c.listAllDomains(0)]).count("web1") == 0


def test_roles(api):
    api.error("create-snapshot", {"vm": "web1"}, role="viewer", status=403, code="Forbidden")
    take(api, "web1", "s1")
    api.error("revert-snapshot", {"vm": "web1", "name": "s1"}, role="viewer", status=403, code="Forbidden")
    api.error("delete-snapshot", {"vm": "web1", "name": "s1"}, role="viewer", status=403, code="Forbidden")
    api.error("export-snapshot-to-template", {"vm": "web1", "name": "s1", "template": "t"}, role="operator",
              status=403, code="Forbidden")
    assert names(api, "web1") == ["s1"]


# -- bad input (each: status, code, nothing left) -------------------------------------------------------------
@pytest.mark.parametrize("action,body", [
    ("create-snapshot", {"vm": "nope"}),
    ("list-snapshots", {"vm": "nope"}),
    ("describe-snapshot", {"vm": "nope", "name": "s"}),
    ("revert-snapshot", {"vm": "nope", "name": "s"}),
    ("delete-snapshot", {"vm": "nope", "name": "s"}),
    ("clone-from-snapshot", {"vm": "nope", "name": "s", "new_name": "x"}),
    ("export-snapshot-to-template", {"vm": "nope", "name": "s", "template": "t"}),
])
def test_unknown_vm(api, action, body):
    before = inventory(api)
    err = api.error(action, body, status=404, code="VmNotFound")
    assert "nope" in err["message"] and inventory(api) == before


@pytest.mark.parametrize("action,extra", [
    ("describe-snapshot", {}), ("revert-snapshot", {}), ("delete-snapshot", {}),
    ("clone-from-snapshot", {"new_name": "x"}), ("export-snapshot-to-template", {"template": "t"}),
])
def test_unknown_snapshot(api, action, extra):
    take(api, "web1", "real")
    before = inventory(api)
    err = api.error(action, {"vm": "web1", "name": "ghost", **extra}, status=404, code="SnapshotNotFound")
    assert err["message"] == "snapshot 'ghost' of vm 'web1' not found on node 'local'"
    assert inventory(api) == before


def test_unknown_node_and_bad_names(api):
    api.error("list-snapshots", {"node": "nowhere"}, status=404, code="NodeNotFound")
    api.error("create-snapshot", {"vm": "web1", "name": "a/b"}, status=400, code="ValidationFailed")
    api.error("create-snapshot", {"vm": "web1", "memory": True}, status=400, code="ValidationFailed")


def test_duplicate_snapshot_name(api):
    take(api, "web1", "s1")
    before = inventory(api)
    err = api.error("create-snapshot", {"vm": "web1", "name": "s1"}, status=409, code="SnapshotExists")
    assert "already has a snapshot named 's1'" in err["message"] and inventory(api) == before


def test_memory_snapshot_of_a_stopped_vm(api):
    before = inventory(api)
    err = api.error("create-snapshot", {"vm": "db1", "include_memory": True}, status=409, code="InvalidState")
    assert err["details"]["state"] == "stopped" and "running" in err["message"]
    assert inventory(api) == before and api.ok("list-tasks", {})["tasks"] == []


def test_a_raw_disk_is_refused_by_name(api):
    before = inventory(api)
    err = api.error("create-snapshot", {"vm": "db1"}, status=422, code="DiskNotSnapshottable")
    assert err["details"]["disks"] == [{"target": "vdb", "path": "/var/lib/jvp-demo/pools/data/db1-data.raw",
                                        "format": "raw", "reason": "raw format (internal snapshots need qcow2)"}]
    assert "vdb" in err["message"] and "db1-data.raw" in err["message"] and inventory(api) == before


def test_revert_while_another_task_runs_on_the_vm(api, mocker):
    take(api, "web1", "s1")
    entered, release = threading.Event(), threading.Event()
    gateway = api.services.gateway
    real_create = gateway.create_snapshot

    def slow_create(node, vm, name, description, memory):
        entered.set()
        release.wait(10)
        return real_create(node, vm, name, description, memory)
    mocker.patch.object(gateway, "create_snapshot", side_effect=slow_create)
    task = api.ok("create-snapshot", {"vm": "web1", "name": "s2"}, role="operator")["task"]
    assert entered.wait(10)
    try:
        before = inventory(api)
        err = api.error("revert-snapshot", {"vm": "web1", "name": "s1"}, status=409, code="ResourceBusy")
        assert err["details"]["task"] == task["id"] and err["details"]["task_kind"] == "create-snapshot"
        api.error("delete-snapshot", {"vm": "web1", "name": "s1"}, status=409, code="ResourceBusy")
        api.error("create-snapshot", {"vm": "web1", "name": "s3"}, status=409, code="ResourceBusy")
        assert inventory(api) == before
    finally:
        release.set()
    assert api.services.tasks.wait(task["id"], 10)["state"] == "succeeded"
    assert names(api, "web1") == ["s1", "s2"]


def test_clone_to_an_existing_name(api):
    take(api, "web1", "s1")
    before = inventory(api)
    err = api.error("clone-from-snapshot", {"vm": "web1", "name": "s1", "new_name": "db1"}, status=409,
                    code="VmExists")
    assert "db1" in err["message"] and inventory(api) == before


def test_clone_whose_data_path_the_driver_lacks_fails_cleanly(api):
    take(api, "web1", "s1")
    before = inventory(api)
    resp = api.call("clone-from-snapshot", {"vm": "web1", "name": "s1", "new_name": "web2"}, role="operator")
    assert resp.status_code == 202
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], 30)
    assert done["state"] == "failed" and done["error"]["code"] == "NotSupported", done
    assert "virStorageVolDownload" in done["error"]["details"]["libvirt_error"]["message"]
    assert inventory(api) == before
    assert not list((Path(api.services.settings.data_dir) / "tmp" / "snapshots").glob("*"))


def test_export_to_an_existing_template_name(api):
    take(api, "web1", "s1")
    vol = VolumeView(pool="default", name="web1-root.qcow2", path="/var/lib/jvp-demo/pools/default/web1-root.qcow2")
    doc = TemplateRegistrar.new_doc("local", "default", "golden", "cloud", vol, "qcow2", 1, 2**30,
                                    {"type": "volume", "pool": "default", "volume": "web1-root.qcow2"},
                                    {"os": {}, "features": {}, "tags": [], "description": ""})
    assert api.services.store.create("template", "local", "golden", doc=doc)
    before = inventory(api)
    err = api.error("export-snapshot-to-template", {"vm": "web1", "name": "s1", "template": "golden"},
                    status=409, code="TemplateExists")
    assert "golden" in err["message"] and inventory(api) == before
    assert [t["name"] for t in api.ok("list-templates", {})["templates"]] == ["golden"]
