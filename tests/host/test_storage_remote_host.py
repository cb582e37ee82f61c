"""The pool and volume paths against a really remote node (SPEC 2.1): the second libvirt daemon of
tests/host/second_node.py (another host UUID, hostname and runtime state), reached over qemu+tcp. Everything
goes through the libvirt connection, nothing through the controller's filesystem. The pools lie under the
bed's shared directory (the same path on both daemons), where the tests also read the files to compare."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import unique
from tests.host.storage_util import GIB, MIB, PoolKeeper, filled_image, sha256


@pytest.fixture
def remote(host_api, second_node):
    name = unique("K-twin-")
    host_api.ok("create-node", {"name": name, "uri": second_node.uri})
    yield name
    host_api.ok("delete-node", {"name": name})


@pytest.fixture
def pools_dir(second_node):
    """A directory for this test's pools that the second daemon has (the bed's shared one); removed after."""
    path = Path(second_node.shared) / unique("K-pools-")
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_pool_and_volume_paths_on_a_remote_node(host_api, remote, pools_dir, second_node):
    keeper = PoolKeeper(lambda action, body: host_api.ok(action, body), pools_dir, uri=second_node.uri,
                        node=remote)
    try:
        pool = keeper.create()
        name = pool["name"]
        assert pool["node"] == remote and pool["state"] == "running"
        assert name in {p["name"] for p in host_api.ok("list-storage-pools", {"node": remote})["pools"]}
        # on the other daemon only: the host's libvirtd does not have it
        assert name not in {p["name"] for p in host_api.ok("list-storage-pools", {"node": "local"})["pools"]}
        base = {"node": remote, "pool": name}

        # Pool state changes through the TCP connection.
        stopped = host_api.ok("stop-storage-pool", {"node": remote, "name": name})["pool"]
        assert (stopped["state"], stopped["active"], stopped["capacity_bytes"]) == ("inactive", False, None)
        host_api.error("list-volumes", base, status=422, code="StoragePoolInactive")
        host_api.error("refresh-storage-pool", {"node": remote, "name": name}, status=422,
                       code="StoragePoolInactive")
        started = host_api.ok("start-storage-pool", {"node": remote, "name": name})["pool"]
        assert started["state"] == "running" and started["capacity_bytes"] > 0
        assert host_api.ok("refresh-storage-pool", {"node": remote, "name": name})["pool"]["volume_count"] == 0
        assert host_api.ok("modify-storage-pool", {"node": remote, "name": name, "autostart": False}
                           )["pool"]["autostart"] is False
        q = host_api.ok("create-volume", {**base, "name": "q.qcow2", "size_gib": 1})["volume"]
        assert q["node"] == remote and q["format"] == "qcow2"
        host_api.ok("create-volume", {**base, "name": "r.raw", "size_gib": 1, "format": "raw"})
        host_api.ok("create-volume", {**base, "name": "o.qcow2", "size_gib": 2, "backing_volume": "q.qcow2"})
        res = host_api.ok("resize-volume", {**base, "name": "q.qcow2", "size_gib": 2})
        assert res["volume"]["capacity_bytes"] == 2 * GIB
        described = host_api.ok("describe-volume", {**base, "name": "q.qcow2"})["volume"]
        assert (described["node"], described["pool"], described["format"], described["type"]) == \
            (remote, name, "qcow2", "file")
        assert described["capacity_bytes"] == 2 * GIB and described["used_by"] == [] and described["key"]
        overlay = host_api.ok("describe-volume", {**base, "name": "o.qcow2"})["volume"]
        assert overlay["backing"]["volume"] == "q.qcow2" and overlay["backing"]["pool"] == name

        # Upload and download through libvirt streams on the TCP connection.
        data = os.urandom(3 * MIB) + bytes(4 * MIB) + os.urandom(MIB)
        resp = host_api.client.post("/api/upload-volume", query_string={**base, "name": "u.raw"}, data=data,
                                    headers={"Authorization": f"Bearer {host_api.tokens['operator']}",
                                             "Content-Type": "application/octet-stream"})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["volume"]["capacity_bytes"] == len(data)
        down = host_api.call("download-volume", {**base, "name": "u.raw"}, role="operator")
        assert down.status_code == 200
        body = b"".join(down.response)
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()

        task = host_api.ok("clone-volume", {**base, "name": "u.raw", "new_name": "u-copy.raw"})["task"]
        done = host_api.services.tasks.wait(task["id"], 120)
        assert done["state"] == "succeeded", done
        assert done["resource"]["node"] == remote

        listed = {v["name"]: v for v in host_api.ok("list-volumes", {"node": remote, "pool": name})["volumes"]}
        assert set(listed) == {"q.qcow2", "r.raw", "o.qcow2", "u.raw", "u-copy.raw"}
        assert listed["o.qcow2"]["backing"]["volume"] == "q.qcow2"
        # Without `pool`: every pool of the node, ours among them, each volume naming its pool and node.
        everywhere = host_api.ok("list-volumes", {"node": remote})
        ours = {v["name"]: v for v in everywhere["volumes"] if v["pool"] == name}
        assert set(ours) == set(listed) and all(v["node"] == remote for v in ours.values())
        assert ours["o.qcow2"]["backing"] == listed["o.qcow2"]["backing"]
        host_api.error("delete-volume", {**base, "name": "q.qcow2"}, status=409, code="VolumeHasDependents")
        host_api.ok("delete-volume", {**base, "name": "o.qcow2"})
        host_api.error("create-volume", {**base, "name": "r.raw", "size_gib": 1}, status=409, code="VolumeExists")
        res = host_api.ok("delete-storage-pool", {"node": remote, "name": name, "delete_volumes": True})
        assert sorted(res["deleted_volumes"]) == ["q.qcow2", "r.raw", "u-copy.raw", "u.raw"]
        host_api.error("describe-storage-pool", {"node": remote, "name": name}, status=404,
                       code="StoragePoolNotFound")
    finally:
        keeper.cleanup()


def test_clone_progress_is_polled_over_the_remote_connection(host_api, remote, pools_dir, second_node,
                                                           monkeypatch):
    """While libvirt copies on the node (createXMLFrom in one thread), a second call on the same TCP
    connection polls the new volume's allocation: the task's byte progress. Small volume, fast polls."""
    from jvp.hypervisor import volume as vol_hv
    monkeypatch.setattr(vol_hv, "CLONE_POLL_S", 0.01)
    seen: list[int] = []
    real_clone = vol_hv.clone

    def recording_clone(conn, src_pool, src_name, pool, new_name, xml, expected, progress):
        def record(done):
            seen.append(done)
            progress(done)
        return real_clone(conn, src_pool, src_name, pool, new_name, xml, expected, record)
    monkeypatch.setattr(vol_hv, "clone", recording_clone)
    keeper = PoolKeeper(lambda action, body: host_api.ok(action, body), pools_dir, uri=second_node.uri,
                        node=remote)
    try:
        src_pool, dst_pool = keeper.create()["name"], keeper.create()["name"]
        base = {"node": remote, "pool": src_pool}
        host_api.ok("create-volume", {**base, "name": "src.raw", "size_gib": 1, "format": "raw"})
        src_path = pools_dir / src_pool / "src.raw"
        filled_image(src_path, 256 * MIB)  # fully allocated: every byte is copied
        host_api.ok("refresh-storage-pool", {"node": remote, "name": src_pool})
        task = host_api.call("clone-volume", {**base, "name": "src.raw", "new_name": "copy.raw",
                                              "target_pool": dst_pool}, role="operator",
                             expect=202).get_json()["task"]
        done = host_api.services.tasks.wait(task["id"], 120)
        assert done["state"] == "succeeded", done
        assert done["resource"] == {"kind": "volume", "node": remote, "pool": dst_pool, "name": "copy.raw"}
        total = done["bytes_total"]
        assert 256 * MIB <= total < 256 * MIB + MIB and done["bytes_done"] == total and done["progress"] == 100
        # Polled through the TCP connection while createXMLFrom still ran on it (the data phase may already
        # be over by then, libvirt flushing the copy: the figure is then the whole copy).
        assert any(0 < b <= total for b in seen), seen
        copy = host_api.ok("describe-volume", {"node": remote, "pool": dst_pool, "name": "copy.raw"})["volume"]
        assert copy["capacity_bytes"] == 256 * MIB and copy["node"] == remote
        assert sha256(pools_dir / dst_pool / "copy.raw") == sha256(src_path)
    finally:
        keeper.cleanup()
