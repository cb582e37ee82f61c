"""SnapshotService rules on a fake node gateway (tests/unit/fakes/snapshot.py): what create-snapshot checks
before its task, and how revert and delete name a missing snapshot or a refused delete."""
from __future__ import annotations

import pytest

from jvp.errors import JvpError
from jvp.service.snapshot.service import SnapshotService
from tests.unit.fakes.snapshot import (Disk, FakeSnapshotGateway, FakeSnapshotNodes, FakeVm, FakeVms,
                                       InlineTasks)


def service(**vms: FakeVm) -> tuple[SnapshotService, FakeSnapshotGateway]:
    gw = FakeSnapshotGateway(vms)
    return SnapshotService(FakeSnapshotNodes(), gw, InlineTasks(), FakeVms()), gw


def error_of(fn, *a, **kw) -> JvpError:
    with pytest.raises(JvpError) as exc:
        fn(*a, **kw)
    return exc.value


def test_create_checks_state_disks_and_name_before_the_task():
    svc, gw = service(off=FakeVm(state="stopped"), raw=FakeVm(refused=[Disk("vdb", path="/p/d.raw", format="raw",
                                                                                  reason="raw")]),
                      ro=FakeVm(disks=[Disk("hdc", device="cdrom", snapshot="no")]),
                      web=FakeVm(snapshots=["s1"]), gone=FakeVm(state="shutdown"))
    assert error_of(svc.create, "n", "off", "s", "", True).code == "InvalidState"
    err = error_of(svc.create, "n", "raw", "s", "", False)
    assert err.code == "DiskNotSnapshottable" and err.details["disks"][0]["target"] == "vdb"
    assert error_of(svc.create, "n", "ro", "s", "", False).code == "DiskNotSnapshottable"
    assert error_of(svc.create, "n", "web", "s1", "", False).code == "SnapshotExists"
    assert error_of(svc.create, "n", "gone", "s", "", False).code == "InvalidState"
    assert error_of(svc.create, "n", "ghost", "s", "", False).code == "VmNotFound"
    assert gw.calls == []
    done = svc.create("n", "off", None, "", False)["result"]
    assert done["snapshot"]["name"].startswith("snap-") and done["method"] == "libvirt"


def test_revert_and_delete_name_the_vm_of_a_missing_snapshot():
    svc, gw = service(web=FakeVm(snapshots=["s1"]))
    err = error_of(svc.revert, "n", "web", "s9", None)
    assert err.code == "SnapshotNotFound" and err.details["vm"] == "web"
    assert error_of(svc.delete, "n", "web", "s9", False).code == "SnapshotNotFound"
    assert gw.calls == []
    assert svc.revert("n", "web", "s1", True)["state"] == "running"
    assert svc.delete("n", "web", "s1", False)["deleted"] == ["s1"]


def test_a_delete_libvirt_refuses_for_changed_media_says_what_to_do():
    svc, gw = service(web=FakeVm(snapshots=["s1"]))
    gw.fail_delete = JvpError("libvirt refused", code="OperationFailed", status=500, details={
        "libvirt_error": {"message": "source is not the same as disk image currently used"}})
    err = error_of(svc.delete, "n", "web", "s1", False)
    assert err.code == "SnapshotDeleteRefused" and "Stop the VM" in err.message
