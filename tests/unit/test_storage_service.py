"""The rules of the pool, volume and transfer services on a fake gateway (tests/unit/fakes/storage.py)."""
from __future__ import annotations

import io
import struct
from dataclasses import replace

import pytest

from jvp.errors import JvpError
from jvp.service.storage.pool import StoragePoolService
from jvp.service.storage.transfer import VolumeTransferService
from jvp.service.storage.volume import VolumeService
from tests.unit.fakes.storage import FakeNodes, FakeStorageGateway, FakeTasks, disk, pool_view, vol_view

GIB = 2**30


def services(gw: FakeStorageGateway):
    nodes, tasks = FakeNodes(), FakeTasks()
    volumes = VolumeService(nodes, gw, tasks)
    return (StoragePoolService(nodes, gw, volumes), volumes, VolumeTransferService(nodes, gw, volumes, tasks),
            tasks)


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(JvpError) as err:
        fn(*args, **kwargs)
    return err.value.code


# -- pools ----------------------------------------------------------------------------------------------------
def test_template_pool_names_are_reserved_and_paths_unique():
    gw = FakeStorageGateway(pools=[pool_view("p1", path="/srv/vms")])
    pools = services(gw)[0]
    assert code_of(pools.create, "local", "x_templates_", "dir", path="/srv/x") == "ReservedName"
    assert code_of(pools.create, "local", "p1", "dir", path="/srv/other") == "StoragePoolExists"
    assert code_of(pools.create, "local", "p2", "dir", path="/srv/vms/") == "StoragePoolPathInUse"
    assert gw.calls == []
    assert pools.create("local", "p2", "dir", path="/srv/p2").internal is False


def test_stop_is_refused_while_a_running_vm_has_a_volume_open():
    gw = FakeStorageGateway(pools=[pool_view("p1")], volumes=[vol_view("p1", "a.qcow2")],
                            disks=[disk("web1", "/srv/p1/a.qcow2", running=True)])
    pools = services(gw)[0]
    assert code_of(pools.stop, "local", "p1") == "StoragePoolInUse"
    gw.disks[0] = replace(gw.disks[0], running=False)
    assert pools.stop("local", "p1").active is False


def test_delete_refuses_users_volumes_templates_and_outside_dependents():
    gw = FakeStorageGateway(pools=[pool_view("p1"), pool_view("p2")],
                            volumes=[vol_view("p1", "base.qcow2"),
                                     vol_view("p2", "top.qcow2", backing="/srv/p1/base.qcow2")],
                            disks=[disk("web1", "/srv/p1/base.qcow2")])
    pools = services(gw)[0]
    assert code_of(pools.delete, "local", "p1", delete_volumes=True) == "StoragePoolInUse"
    gw.disks = []
    assert code_of(pools.delete, "local", "p1") == "StoragePoolNotEmpty"
    assert code_of(pools.delete, "local", "p1", delete_volumes=True) == "VolumeHasDependents"
    gw.pools["p1_templates_"] = pool_view("p1_templates_")
    assert code_of(pools.delete, "local", "p1", delete_volumes=True) == "StoragePoolInUse"
    assert code_of(pools.delete, "local", "p1_templates_") == "StoragePoolIsInternal"
    assert not [c for c in gw.calls if c[0] in ("delete_pool", "delete_volume")]


def test_delete_with_volumes_removes_them_then_the_pool():
    gw = FakeStorageGateway(pools=[pool_view("p1")], volumes=[vol_view("p1", "a.qcow2"), vol_view("p1", "b.raw")])
    res = services(gw)[0].delete("local", "p1", delete_volumes=True)
    assert res == {"ok": True, "deleted_volumes": ["a.qcow2", "b.raw"], "directory_removed": True}
    assert gw.calls[-1] == ("delete_pool", "p1") and "p1" not in gw.pools


def test_an_inactive_pool_is_started_to_be_checked_and_stopped_again_when_refused():
    gw = FakeStorageGateway(pools=[pool_view("p1", active=False)], volumes=[vol_view("p1", "a.qcow2")])
    assert code_of(services(gw)[0].delete, "local", "p1") == "StoragePoolNotEmpty"
    assert [c[0] for c in gw.calls] == ["start_pool", "stop_pool"]


def test_a_transient_pool_cannot_autostart():
    gw = FakeStorageGateway(pools=[pool_view("p1", persistent=False)])
    assert code_of(services(gw)[0].modify, "local", "p1", True) == "InvalidState"


# -- volumes --------------------------------------------------------------------------------------------------
def test_create_checks_space_existence_and_overlay_size():
    gw = FakeStorageGateway(pools=[pool_view("p1", available=10 * GIB)],
                            volumes=[vol_view("p1", "base.qcow2", capacity=4 * GIB)])
    volumes = services(gw)[1]
    assert code_of(volumes.create, "local", "p1", "big", 11) == "InsufficientSpace"
    assert code_of(volumes.create, "local", "p1", "base.qcow2", 1) == "VolumeExists"
    assert code_of(volumes.create, "local", "p1", "o", 2, backing_volume="base.qcow2") == "InvalidSize"
    assert code_of(volumes.create, "local", "p1", "o", 4, backing_volume="ghost") == "BackingVolumeNotFound"
    assert code_of(volumes.create, "local", "p1", "o", 4, fmt="raw", backing_volume="base.qcow2") == \
        "FormatNotSupported"
    vol = volumes.create("local", "p1", "o", 4, backing_volume="base.qcow2")
    assert vol.backing.path == "/srv/p1/base.qcow2" and vol.backing.volume == "base.qcow2"
    assert gw.calls == [("create_volume", "p1", "o", 4 * GIB, "qcow2")]


def test_used_by_and_delete_refusals():
    gw = FakeStorageGateway(pools=[pool_view("p1")],
                            volumes=[vol_view("p1", "a.qcow2"), vol_view("p1", "b.qcow2", backing="/srv/p1/c"),
                                     vol_view("p1", "c", path="/srv/p1/c")],
                            disks=[disk("web1", "/srv/p1/a.qcow2")])
    volumes = services(gw)[1]
    assert volumes.describe("local", "p1", "a.qcow2").used_by == ["web1"]
    assert code_of(volumes.delete, "local", "p1", "a.qcow2") == "VolumeInUse"
    assert code_of(volumes.delete, "local", "p1", "c") == "VolumeHasDependents"
    volumes.delete("local", "p1", "b.qcow2")
    assert gw.calls == [("delete_volume", "p1", "b.qcow2")]


def test_resize_grows_only_and_goes_through_the_running_vm():
    gw = FakeStorageGateway(pools=[pool_view("p1")], volumes=[vol_view("p1", "a.qcow2", capacity=2 * GIB)],
                            disks=[disk("web1", "/srv/p1/a.qcow2", running=True)])
    volumes = services(gw)[1]
    assert code_of(volumes.resize, "local", "p1", "a.qcow2", 1) == "VolumeShrinkRefused"
    res = volumes.resize("local", "p1", "a.qcow2", 3)
    assert res["live_vms"] == ["web1"] and gw.calls == [("block_resize", "web1", "vda", 3 * GIB)]
    gw.disks = []
    volumes.resize("local", "p1", "a.qcow2", 4)
    assert gw.calls[-1] == ("resize_volume", "p1", "a.qcow2", 4 * GIB)


def test_clone_refuses_a_running_source_and_reports_progress():
    gw = FakeStorageGateway(pools=[pool_view("p1")], volumes=[vol_view("p1", "a.qcow2")],
                            disks=[disk("web1", "/srv/p1/a.qcow2", running=True)])
    volumes, tasks = services(gw)[1], services(gw)[3]
    assert code_of(volumes.clone, "local", "p1", "a.qcow2", "b.qcow2", None) == "VolumeInUse"
    gw.disks = []
    volumes = VolumeService(FakeNodes(), gw, tasks)
    res = volumes.clone("local", "p1", "a.qcow2", "b.qcow2", None)
    assert res["result"]["volume"]["name"] == "b.qcow2" and res["cleanups"] == []
    assert ("p1", "b.qcow2") in gw.vols and tasks.handles[0].progressed[-1] == 100


def test_a_partial_volume_is_removed_by_its_cleanup():
    gw = FakeStorageGateway(pools=[pool_view("p1")], volumes=[vol_view("p1", "x")])
    services(gw)[1].remove_partial({"type": "volume", "node": "local", "pool": "p1", "name": "x"})
    assert ("p1", "x") not in gw.vols


# -- transfers ------------------------------------------------------------------------------------------------
class Body(io.BytesIO):
    def __init__(self, data: bytes, length: int | None = None):
        super().__init__(data)
        self.length = len(data) if length is None else length


def qcow2_head(size: int, backing: bool = False) -> bytes:
    return b"QFI\xfb" + b"\0" * 4 + struct.pack(">Q", 512 if backing else 0) + b"\0" * 8 + struct.pack(">Q", size) \
        + b"\0" * 4064


def test_upload_streams_every_byte_and_checks_the_format():
    gw = FakeStorageGateway(pools=[pool_view("p1")])
    transfers = services(gw)[2]
    data = b"x" * 5000
    transfers.upload("local", "p1", "raw.img", Body(data), "raw")
    assert gw.uploaded[("p1", "raw.img")] == data
    assert code_of(transfers.upload, "local", "p1", "q.img", Body(data), "qcow2") == "FormatMismatch"
    assert code_of(transfers.upload, "local", "p1", "b.qcow2", Body(qcow2_head(GIB, backing=True))) == \
        "BackingFileNotAllowed"
    assert code_of(transfers.upload, "local", "p1", "raw.img", Body(data)) == "VolumeExists"
    assert code_of(transfers.upload, "local", "p1", "e", Body(b"", 0)) == "EmptyUpload"
    chunked = Body(data)
    chunked.length = None
    assert code_of(transfers.upload, "local", "p1", "n", chunked) == "LengthRequired"


def test_a_short_upload_body_fails_the_stream():
    gw = FakeStorageGateway(pools=[pool_view("p1")])
    body = Body(b"x" * 100, length=200)
    assert code_of(services(gw)[2].upload, "local", "p1", "short.img", body, "raw") == "UploadIncomplete"


def test_download_refuses_a_volume_open_in_a_running_vm():
    gw = FakeStorageGateway(pools=[pool_view("p1")], volumes=[vol_view("p1", "a.qcow2")],
                            disks=[disk("web1", "/srv/p1/a.qcow2", running=True)])
    transfers = services(gw)[2]
    assert code_of(transfers.download, "local", "p1", "a.qcow2") == "VolumeInUse"
    gw.disks = []
    facts, chunks = transfers.download("local", "p1", "a.qcow2")
    assert facts["length"] == GIB // 4 and sum(len(c) for c in chunks) == GIB // 4
