"""SnapshotCloner.plan on a fake node gateway: every check before the clone task, and the names, pools and
MACs it chooses (tests/unit/fakes/snapshot.py)."""
from __future__ import annotations

import pytest

from jvp.domain.snapshot import SnapshotDefinition, SnapshotDiskView
from jvp.errors import JvpError
from jvp.service.snapshot.clone import SnapshotCloner
from jvp.service.snapshot.service import SnapshotService
from tests.unit.fakes.snapshot import (Disk, FakeCloneGateway, FakeReader, FakeSnapshotNodes, FakeVm, FakeVms,
                                       InlineTasks, snapshot_view)

ROOT, DATA = "/pool/web-root.qcow2", "/pool/web-data.qcow2"


def definition(location: str = "internal", held=("vda", "vdb"), xml: str | None = "<domain/>"):
    view = snapshot_view("s1", location=location,
                         disks=[SnapshotDiskView(target=t, snapshot="internal", path=p)
                                for t, p in (("vda", ROOT), ("vdb", DATA)) if t in held])
    return SnapshotDefinition(view=view, xml=xml, uuid="u-src", system_disk="vda",
                              disks=[Disk("vda", path=ROOT), Disk("vdb", path=DATA),
                                     Disk("hdc", device="cdrom", path="/pool/x.iso", format="raw", snapshot="no")],
                              macs=["52:54:00:00:00:01", ""])


def cloner(defn: SnapshotDefinition, **kw) -> tuple[SnapshotCloner, FakeCloneGateway]:
    volumes = {ROOT: {"pool": "default", "name": "web-root.qcow2", "path": ROOT},
               DATA: {"pool": "default", "name": "web-data.qcow2", "path": DATA}}
    gw = FakeCloneGateway({"web": FakeVm(snapshots=["s1"])}, defn, volumes, **kw)
    nodes, tasks = FakeSnapshotNodes(), InlineTasks()
    snaps = SnapshotService(nodes, gw, tasks, FakeVms())
    return SnapshotCloner(snaps, nodes, gw, tasks, FakeReader()), gw


def code_of(fn, *a) -> str:
    with pytest.raises(JvpError) as exc:
        fn(*a)
    return exc.value.code


def test_a_plan_names_the_volumes_and_draws_new_macs():
    c, gw = cloner(definition(), macs={"52:54:00:00:00:01": "web"})
    plan = c.plan("n", "web", "s1", "copy", None, True, "ops")
    assert [(d.target, d.pool, d.volume) for d in plan.disks] == [("vda", "default", "copy-root.qcow2"),
                                                                 ("vdb", "default", "copy-disk1.qcow2")]
    assert plan.old_macs == ["52:54:00:00:00:01", ""]
    assert len(set(plan.macs)) == 2 and not set(plan.macs) & set(gw.macs)
    assert plan.seed is None and "no cloud-init seed" in plan.notes[0]


def test_a_plan_refuses_what_cannot_be_cloned():
    assert code_of(cloner(definition())[0].plan, "n", "web", "s9", "copy", None, True, None) == "SnapshotNotFound"
    assert code_of(cloner(definition(location="external"))[0].plan, "n", "web", "s1", "copy", None, True,
                   None) == "NotSupported"
    assert code_of(cloner(definition(xml=None))[0].plan, "n", "web", "s1", "copy", None, True, None) == "NotSupported"
    assert code_of(cloner(definition())[0].plan, "n", "web", "s1", "web", None, True, None) == "VmExists"
    assert code_of(cloner(definition(held=("vda",)))[0].plan, "n", "web", "s1", "copy", None, True,
                   None) == "SnapshotIncomplete"
    c, _ = cloner(definition(), pools={"default": {"active": False, "type": "dir"}})
    assert code_of(c.plan, "n", "web", "s1", "copy", None, True, None) == "StoragePoolInactive"
    c, gw = cloner(definition())
    gw.volumes["/pool/copy-root.qcow2"] = {"pool": "default", "name": "copy-root.qcow2", "path": "/x"}
    assert code_of(c.plan, "n", "web", "s1", "copy", None, True, None) == "VolumeExists"
