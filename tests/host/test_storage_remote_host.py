"""The pool and volume paths against a node reached over qemu+tcp://127.0.0.1/system as if it were remote
(SPEC 2.1): everything goes through the libvirt connection, nothing through the controller's filesystem."""
from __future__ import annotations

import hashlib
import os

import pytest

from tests.conftest import require, unique
from tests.host.storage_util import GIB, MIB, PoolKeeper

LOOPBACK = "qemu+tcp://127.0.0.1/system"


@pytest.fixture
def remote(host_api):
    from tests.conftest import libvirtd_reachable
    require(libvirtd_reachable(LOOPBACK), f"libvirtd does not listen on {LOOPBACK} (run `make host`)")
    name = unique("tcp-")
    host_api.ok("create-node", {"name": name, "uri": LOOPBACK})
    yield name
    host_api.ok("delete-node", {"name": name})


def test_pool_and_volume_paths_on_a_remote_node(host_api, remote, tmp_path):
    keeper = PoolKeeper(lambda action, body: host_api.ok(action, body), tmp_path, uri=LOOPBACK, node=remote)
    try:
        pool = keeper.create()
        name = pool["name"]
        assert pool["node"] == remote and pool["state"] == "running"
        assert name in {p["name"] for p in host_api.ok("list-storage-pools", {"node": remote})["pools"]}
        base = {"node": remote, "pool": name}
        q = host_api.ok("create-volume", {**base, "name": "q.qcow2", "size_gib": 1})["volume"]
        assert q["node"] == remote and q["format"] == "qcow2"
        host_api.ok("create-volume", {**base, "name": "r.raw", "size_gib": 1, "format": "raw"})
        host_api.ok("create-volume", {**base, "name": "o.qcow2", "size_gib": 2, "backing_volume": "q.qcow2"})
        res = host_api.ok("resize-volume", {**base, "name": "q.qcow2", "size_gib": 2})
        assert res["volume"]["capacity_bytes"] == 2 * GIB

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
        host_api.error("delete-volume", {**base, "name": "q.qcow2"}, status=409, code="VolumeHasDependents")
        host_api.ok("delete-volume", {**base, "name": "o.qcow2"})
        host_api.error("create-volume", {**base, "name": "r.raw", "size_gib": 1}, status=409, code="VolumeExists")
        res = host_api.ok("delete-storage-pool", {"node": remote, "name": name, "delete_volumes": True})
        assert sorted(res["deleted_volumes"]) == ["q.qcow2", "r.raw", "u-copy.raw", "u.raw"]
        host_api.error("describe-storage-pool", {"node": remote, "name": name}, status=404,
                       code="StoragePoolNotFound")
    finally:
        keeper.cleanup()
