"""migrate-vm and check-migrate-vm on libvirt's test driver (tier 2): request validation, every preflight
refusal with its code (the same check answered by check-migrate-vm with ok: false), and the task path up to
libvirt (the test driver cannot migrate: the task fails with MigrationFailed and the VM stays). Two test-driver
nodes: tests/fixtures/hosts/migration_source.xml and migration_target.xml. The moves themselves run on two
real daemons in tests/host/test_migration_host.py."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
SRC, DST = "mig-src", "mig-dst"


@pytest.fixture
def mig(api):
    api.add_fixture_node(SRC, HOSTS / "migration_source.xml")
    api.add_fixture_node(DST, HOSTS / "migration_target.xml")
    return api


def check(api, vm: str, target: str = DST, **extra) -> dict:
    return api.ok("check-migrate-vm", {"node": SRC, "name": vm, "target_node": target, **extra})["plan"]


def failed(plan: dict) -> dict[str, str]:
    return {c["check"]: c["code"] for c in plan["checks"] if not c["ok"]}


def refused(api, vm: str, status: int, code: str, target: str = DST, **extra) -> dict:
    """check-migrate-vm names the failed check; migrate-vm refuses with its code before any task exists."""
    plan = check(api, vm, target, **extra)
    assert plan["ok"] is False and code in failed(plan).values(), plan
    before = api.ok("list-tasks")["tasks"]
    err = api.error("migrate-vm", {"node": SRC, "name": vm, "target_node": target, **extra}, status=status,
                    code=code)
    assert api.ok("list-tasks")["tasks"] == before
    return err


def test_the_preflight_of_a_vm_on_shared_storage_passes_every_check(mig):
    plan = check(mig, "mover")
    assert plan["ok"] is True, plan
    assert plan["mode"] == "live" and plan["vm"] == "mover" and plan["target_node"] == DST
    assert [c["check"] for c in plan["checks"]] == ["target", "same_host", "state", "name", "machine", "cpu",
                                                     "memory", "network", "storage"]
    assert all(c["ok"] and c["code"] is None for c in plan["checks"])
    assert plan["disks"] == [{"target": "vda", "device": "disk", "path": "/var/lib/jvp-mig/shared/mover.qcow2",
                              "pool": "shared", "volume": "mover.qcow2", "format": "qcow2",
                              "capacity_bytes": 10 * 2**30, "readonly": False, "action": "shared",
                              "backing": None}]
    assert plan["target_uri"] is None  # a test:/// URI names no host
    assert plan["memory_mib"] == 1024


def test_a_local_disk_is_copied_unless_copy_storage_is_none(mig):
    plan = check(mig, "local-disk")
    assert plan["ok"] is True and plan["disks"][0]["action"] == "copy", plan
    err = refused(mig, "local-disk", 409, "MigrationStorageNotShared", copy_storage="none")
    assert err["details"]["path"] == "/var/lib/jvp-mig/local/local-disk.qcow2"


def test_copy_storage_all_refuses_a_disk_the_target_already_has(mig):
    err = refused(mig, "mover", 409, "VolumeExists", copy_storage="all")
    assert "copy_storage auto or none" in err["message"]


def test_a_missing_pool_on_the_target_is_refused(mig):
    mig.ok("delete-storage-pool", {"node": DST, "name": "local"})
    err = refused(mig, "local-disk", 404, "StoragePoolNotFound")
    assert err["details"]["node"] == DST


def test_a_pool_at_another_path_on_the_target_is_refused(mig):
    mig.ok("delete-storage-pool", {"node": DST, "name": "local"})
    mig.ok("create-storage-pool", {"node": DST, "name": "local", "type": "dir",
                                   "path": "/var/lib/jvp-mig/elsewhere"})
    err = refused(mig, "local-disk", 409, "MigrationStoragePathMismatch")
    assert err["details"]["path"] == "/var/lib/jvp-mig/elsewhere"


def test_a_missing_network_on_the_target_is_refused(mig):
    mig.ok("delete-network", {"node": DST, "name": "mig-net"})
    err = refused(mig, "mover", 404, "NetworkNotFound")
    assert err["details"]["node"] == DST


def test_an_inactive_network_is_refused_for_a_live_move(mig):
    mig.ok("stop-network", {"node": DST, "name": "mig-net"})
    refused(mig, "mover", 422, "NetworkInactive")


def test_a_target_in_maintenance_is_refused(mig):
    mig.ok("disable-node", {"name": DST})
    err = refused(mig, "mover", 409, "NodeInMaintenance")
    assert err["details"]["node"] == DST


def test_the_same_node_is_refused(mig):
    err = refused(mig, "mover", 409, "MigrationSameHost", target=SRC)
    assert err["details"]["target_node"] == SRC


def test_a_vm_of_that_name_on_the_target_is_refused(mig):
    # the target holds a VM named like the one that moves: a copy of the source fixture as a third node
    copy = mig.fixture_file(HOSTS / "migration_source.xml", "copy.xml")
    mig.ok("create-node", {"name": "copy", "uri": f"test://{copy}"})
    err = refused(mig, "mover", 409, "VmExists", target="copy")
    assert err["details"]["node"] == "copy"


def test_an_unsupported_machine_type_is_refused(mig):
    err = refused(mig, "odd-machine", 422, "MigrationMachineUnsupported")
    assert err["details"]["machine"] == "pc-i440fx-0.0"


def test_too_little_memory_on_the_target_is_refused(mig):
    plan = check(mig, "big-stopped")
    assert plan["mode"] == "offline"
    err = refused(mig, "big-stopped", 422, "NodeCapacityExceeded")
    assert err["details"]["requested"] == 12 * 1024 and err["details"]["available"] == 8 * 1024


def test_a_crashed_vm_is_refused(mig):
    err = refused(mig, "crashed-vm", 409, "InvalidState")
    assert err["details"]["state"] == "crashed"


def test_the_cpu_check_says_when_the_driver_cannot_compare(mig):
    plan = check(mig, "mover")
    cpu = next(c for c in plan["checks"] if c["check"] == "cpu")
    assert cpu["ok"] is True and "default CPU model" in cpu["message"]


@pytest.mark.parametrize("body, field", [
    ({"name": "mover"}, "target_node"),
    ({"name": "mover", "target_node": DST, "copy_storage": "some"}, "copy_storage"),
    ({"name": "mover", "target_node": DST, "bandwidth_mib_s": 0}, "bandwidth_mib_s"),
    ({"name": "mover", "target_node": DST, "max_downtime_ms": 1.5}, "max_downtime_ms"),
    ({"name": "mover", "target_node": DST, "live": "yes please"}, "live"),
])
def test_bad_requests_are_refused_with_the_field(mig, body, field):
    for action in ("migrate-vm", "check-migrate-vm"):
        err = mig.error(action, {"node": SRC, **body}, status=400, code="ValidationFailed")
        assert field in err["details"]["field_errors"]


def test_post_copy_needs_a_live_move(mig):
    err = mig.error("migrate-vm", {"node": SRC, "name": "mover", "target_node": DST, "live": False,
                                   "post_copy": True}, status=400, code="InvalidInput")
    assert "post_copy" in err["details"]["field_errors"]


def test_unknown_vm_and_unknown_target(mig):
    mig.error("check-migrate-vm", {"node": SRC, "name": "nope", "target_node": DST}, status=404,
              code="VmNotFound")
    mig.error("migrate-vm", {"node": SRC, "name": "mover", "target_node": "nowhere"}, status=404,
              code="NodeNotFound")


def test_a_viewer_cannot_migrate(mig):
    mig.error("migrate-vm", {"node": SRC, "name": "mover", "target_node": DST}, status=403, code="Forbidden",
              role="viewer")


def test_the_task_reports_libvirts_refusal_and_the_vm_stays(mig):
    """The test driver has no migration: the task runs past the preflight and fails with MigrationFailed,
    naming libvirt's error; the VM is still on the source, nothing on the target."""
    task = mig.ok("migrate-vm", {"node": SRC, "name": "mover", "target_node": DST})["task"]
    assert task["kind"] == "migrate-vm" and task["resource"] == {"kind": "vm", "node": SRC, "name": "mover"}
    deadline = time.monotonic() + 30
    while task["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        task = mig.ok("describe-task", {"id": task["id"]})["task"]
    assert task["state"] == "failed", task
    assert task["error"]["code"] == "MigrationFailed"
    assert task["error"]["details"]["libvirt_error"]["message"]
    assert mig.ok("describe-vm", {"node": SRC, "name": "mover"})["vm"]["state"] == "running"
    mig.error("describe-vm", {"node": DST, "name": "mover"}, status=404, code="VmNotFound")


def _wait(api, task: dict, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while task["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        task = api.ok("describe-task", {"id": task["id"]})["task"]
    return task


def test_evacuate_reports_each_vm_and_puts_the_node_in_maintenance(mig):
    """The test driver cannot migrate: every running VM is reported with why it stays (a failed preflight on
    every target, or libvirt's refusal), stays running, and what a failed move made on the target is gone;
    stopped and crashed VMs are listed as stayed; the node ends in maintenance."""
    task = mig.ok("evacuate-node", {"name": SRC, "target_nodes": [DST]})["task"]
    assert task["kind"] == "evacuate-node" and task["resource"]["name"] == SRC
    task = _wait(mig, task)
    assert task["state"] == "succeeded", task
    result = task["result"]
    assert result["moved"] == [] and result["maintenance"] is True
    failed = {f["vm"]: f["code"] for f in result["failed"]}
    assert failed == {"mover": "MigrationFailed", "local-disk": "MigrationFailed",
                      "odd-machine": "MigrationMachineUnsupported"}
    assert {s["vm"]: s["state"] for s in result["stayed"]} == {"big-stopped": "stopped", "crashed-vm": "crashed"}
    for vm in failed:
        assert mig.ok("describe-vm", {"node": SRC, "name": vm})["vm"]["state"] == "running"
    # local-disk's copy target was made on the target before libvirt refused: removed again
    vols = mig.ok("list-volumes", {"node": DST, "pool": "local"})["volumes"]
    assert vols == []
    assert mig.ok("describe-node", {"name": SRC})["node"]["maintenance"] is True


def test_evacuate_refuses_bad_targets(mig):
    mig.error("evacuate-node", {"name": SRC, "target_nodes": [SRC]}, status=400, code="InvalidInput")
    mig.error("evacuate-node", {"name": SRC, "target_nodes": ["nowhere"]}, status=404, code="NodeNotFound")
    mig.error("evacuate-node", {"name": "nowhere"}, status=404, code="NodeNotFound")
    mig.error("evacuate-node", {"name": SRC}, status=403, code="Forbidden", role="operator")


def _auto(api, **extra) -> dict:
    body = {"node": "auto", "name": extra.pop("name", "placed"), "memory_mib": 512, "disk_size_gib": 1,
            "start": False, **extra}
    return api.call("create-vm", body)


def test_auto_placement_picks_the_node_with_the_most_memory_that_has_what_is_asked(mig):
    # the pool `shared` and the network mig-net: the two fixture nodes have them, the inventory does not;
    # mig-src (16 GiB) before mig-dst (8 GiB): the test driver gives no free memory, so total memory counts
    resp = _auto(mig, pool="shared", nics=[{"network": "mig-net"}])
    assert resp.status_code == 202, resp.get_json()
    task = _wait(mig, resp.get_json()["task"])
    assert task["state"] == "succeeded" and task["resource"]["node"] == SRC, task
    mig.ok("disable-node", {"name": SRC})
    task = _wait(mig, _auto(mig, name="placed2", pool="shared", nics=[{"network": "mig-net"}]).get_json()["task"])
    assert task["state"] == "succeeded" and task["resource"]["node"] == DST, task
    # the inventory (32 GiB, the largest) has the pool `default`: it takes a VM that asks for it
    task = _wait(mig, _auto(mig, name="placed3", pool="default").get_json()["task"])
    assert task["state"] == "succeeded" and task["resource"]["node"] == "local", task


def test_auto_placement_says_why_no_node_fits(mig):
    mig.ok("disable-node", {"name": SRC})
    err = mig.error("create-vm", {"node": "auto", "name": "nowhere", "memory_mib": 512, "disk_size_gib": 1,
                                  "pool": "shared", "nics": [{"network": "no-such-net"}], "start": False},
                    status=409, code="NoNodeAvailable")
    nodes = err["details"]["nodes"]
    assert nodes["local"]["code"] == "StoragePoolNotFound" and nodes[DST]["code"] == "NetworkNotFound"
    assert SRC not in nodes  # in maintenance: not a candidate
    # a request error that no node changes is answered as such
    mig.error("create-vm", {"node": "auto", "name": "bad", "memory_mib": 512, "disk_size_gib": 1,
                            "pool": "shared", "cloud_init": {"keypairs": ["nope"]}}, status=404,
              code="KeypairNotFound")
    mig.error("create-node", {"name": "auto", "uri": "test:///default"}, status=400, code="InvalidName")
