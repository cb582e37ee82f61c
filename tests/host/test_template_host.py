"""Templates on the real libvirtd: downloads from the local image server streamed into a pool's template
pool (on the local node and on the second real libvirt node of tests/host/second_node.py), a mirror that
stops mid-download, VMs created from templates (defined, not booted) so usage and the delete refusal are
real, the update flow with an old image kept while a VM is on it, and registrations from a file and from a
volume."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import build_api, make_settings, unique
from tests.host.storage_util import PoolKeeper
from tests.imageserver import ImageServer
from tests.templateutil import MIB, images, sums  # noqa: F401 - pytest fixture


@pytest.fixture
def server(images):
    srv = ImageServer().start()
    srv.add_file("/img/small.qcow2", images.small)
    srv.add_file("/img/big.qcow2", images.big)
    srv.add_bytes("/img/SHA256SUMS", sums((images.small_sha, "small.qcow2"), (images.big_sha, "big.qcow2")))
    yield srv
    srv.stop()


@pytest.fixture
def keeper(host_api, tmp_path):
    keep = PoolKeeper(lambda action, body: host_api.ok(action, body), tmp_path / "pools")
    yield keep
    keep.cleanup()


def template_pool(keep: PoolKeeper, node: str = "local") -> str:
    """A test pool; its template pool is removed first at cleanup (it lives inside the pool's directory)."""
    name = keep.create()["name"]
    keep.names.insert(0, name + "_templates_")
    return name


def run(api, action: str, body: dict, timeout: float = 120) -> dict:
    task = api.ok(action, body)["task"]
    done = api.services.tasks.wait(task["id"], timeout)
    if done["state"] != "succeeded":
        print(f"{action} task {done['state']}: {done['error']}")
    return done


def qemu_img_backing(path: str) -> str | None:
    import json
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", path], check=True,
                                     capture_output=True, text=True).stdout)
    return info.get("backing-filename")


def create_vm(api, keep: PoolKeeper, node: str, pool: str, template: str) -> str:
    name = unique("vm-")
    keep.domains.append(name)
    done = run(api, "create-vm", {"node": node, "name": name, "template": template, "pool": pool, "start": False})
    assert done["state"] == "succeeded", done
    return name


def test_url_template_linked_clone_usage_and_delete(host_api, keeper, server, images):
    pool = template_pool(keeper)
    done = run(host_api, "register-template", {
        "pool": pool, "name": "small", "os": {"name": "debian", "version": "12", "arch": "x86_64"},
        "features": {"cloud_init": True}, "tags": ["test"],
        "source": {"type": "url", "url": server.url("/img/small.qcow2"), "checksum_url": server.url("/img/SHA256SUMS")}})
    assert done["state"] == "succeeded", done
    t = done["result"]["template"]
    assert t["state"] == "ready" and t["storage"]["format"] == "qcow2" and t["storage"]["virtual_size"] == 16 * MIB
    assert t["source"]["checksum"] == f"sha256:{images.small_sha}" and t["source"]["verified"] is True
    assert t["storage"]["path"] == f"{keeper.base}/{pool}/_templates_/small-v1.qcow2"
    assert done["bytes_done"] == done["bytes_total"] == images.small.stat().st_size
    # the internal pool is hidden, and the image is byte for byte the one served
    assert pool + "_templates_" not in {p["name"] for p in host_api.ok("list-storage-pools", {})["pools"]}
    assert subprocess.run(["cmp", t["storage"]["path"], str(images.small)]).returncode == 0

    vm = create_vm(host_api, keeper, "local", pool, "small")
    disk = host_api.ok("describe-vm", {"name": vm})["vm"]["disks"][0]
    assert qemu_img_backing(disk["path"]) == t["storage"]["path"]   # a linked clone of the template
    t = host_api.ok("describe-template", {"name": "small"})["template"]
    assert t["usage"]["vm_count"] == 1 and [v["name"] for v in t["usage"]["vms"]] == [vm]
    err = host_api.error("delete-template", {"name": "small"}, status=409, code="TemplateInUse")
    assert err["details"]["volumes"] == [f"{pool}/{vm}-root.qcow2"] and err["details"]["vms"] == [vm]
    host_api.ok("delete-vm", {"name": vm, "delete_volumes": True})
    t = host_api.ok("describe-template", {"name": "small"})["template"]
    assert t["usage"]["vm_count"] == 0 and t["usage"]["volumes"] == []  # right after the VM is gone
    res = host_api.ok("delete-template", {"name": "small"})
    assert res["template_pool_removed"] is True
    assert not (keeper.base / pool / "_templates_").exists()


def test_the_same_path_on_the_second_node(host_api, second_node, server, images):
    """The second real libvirtd (another host): JVP downloads the image and streams it into that daemon's
    pool (a directory it has: the bed's shared one, read here to compare); the VM is defined there."""
    node = unique("K-twin-")
    pools = Path(second_node.shared) / unique("K-tpl-")
    host_api.ok("create-node", {"name": node, "uri": second_node.uri})
    keep = PoolKeeper(lambda action, body: host_api.ok(action, body), pools, uri=second_node.uri, node=node)
    try:
        pool = template_pool(keep, node)
        done = run(host_api, "register-template", {"node": node, "pool": pool, "name": "small", "source": {
            "type": "url", "url": server.url("/img/small.qcow2"), "sha256": images.small_sha}})
        assert done["state"] == "succeeded", done
        assert done["resource"]["node"] == node
        listed = host_api.ok("list-templates", {"node": node})["templates"]
        assert [(t["node"], t["name"], t["state"]) for t in listed] == [(node, "small", "ready")]
        path = listed[0]["storage"]["path"]
        assert path == f"{pools}/{pool}/_templates_/small-v1.qcow2"
        assert subprocess.run(["cmp", path, str(images.small)], check=False).returncode == 0
        vm = create_vm(host_api, keep, node, pool, "small")
        assert keep.conn.lookupByName(vm).UUIDString()  # defined on the second daemon
        assert vm not in {v["name"] for v in host_api.ok("list-vms", {"node": "local"})["vms"]}
        disk = host_api.ok("describe-vm", {"node": node, "name": vm})["vm"]["disks"][0]
        assert qemu_img_backing(disk["path"]) == path
        assert host_api.ok("describe-template", {"node": node, "name": "small"})["template"]["usage"]["vm_count"] == 1
        host_api.error("delete-template", {"node": node, "name": "small"}, status=409, code="TemplateInUse")
        host_api.ok("delete-vm", {"node": node, "name": vm, "delete_volumes": True})
        assert host_api.ok("delete-template", {"node": node, "name": "small"})["template_pool_removed"] is True
    finally:
        keep.cleanup()
        host_api.ok("delete-node", {"name": node})
        shutil.rmtree(pools, ignore_errors=True)


def test_a_mirror_that_stops_mid_download_is_resumed_then_verified(host_api, keeper, server, images):
    pool = template_pool(keeper)
    size = images.big.stat().st_size
    server.resources["/img/big.qcow2"].throttle_bps = 8 * MIB
    task = host_api.ok("register-template", {"pool": pool, "name": "big", "source": {
        "type": "url", "url": server.url("/img/big.qcow2"), "sha256": images.big_sha}})["task"]
    tasks = host_api.services.tasks
    deadline = time.monotonic() + 30
    while (tasks.describe(task["id"]).get("bytes_done") or 0) < size // 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    server.stop()                                   # the mirror goes away with the transfer half done
    time.sleep(1.5)
    assert tasks.describe(task["id"])["state"] == "running"
    server.resources["/img/big.qcow2"].throttle_bps = None
    server.start()                                  # and comes back on the same port
    done = tasks.wait(task["id"], 120)
    assert done["state"] == "succeeded", done
    gets = server.gets("/img/big.qcow2")
    assert len(gets) >= 2 and gets[-1].headers["Range"] != "bytes=0-" and "If-Range" in gets[-1].headers
    t = done["result"]["template"]
    assert t["source"]["checksum"] == f"sha256:{images.big_sha}" and t["source"]["verified"]
    assert subprocess.run(["cmp", t["storage"]["path"], str(images.big)]).returncode == 0
    host_api.ok("delete-template", {"name": "big"})


def test_update_flow_keeps_the_old_image_while_a_vm_is_on_it(host_api, keeper, server, images):
    pool = template_pool(keeper)
    source = {"type": "url", "url": server.url("/img/small.qcow2"), "checksum_url": server.url("/img/SHA256SUMS")}
    assert run(host_api, "register-template", {"pool": pool, "name": "deb", "source": source})["state"] == "succeeded"
    assert host_api.ok("check-template-update", {"name": "deb"})["update_available"] is False
    vm1 = create_vm(host_api, keeper, "local", pool, "deb")
    # a new release at the same URL, with its new published checksum
    server.replace_file("/img/small.qcow2", images.other)
    server.add_bytes("/img/SHA256SUMS", sums((images.other_sha, "small.qcow2")))
    gets = len(server.gets("/img/small.qcow2"))
    check = host_api.ok("check-template-update", {"name": "deb"}, role="viewer")
    assert check["update_available"] is True and check["decided_by"] == "checksum"
    assert [v["name"] for v in check["vms"]] == [vm1] and check["remote"]["checksum"] == f"sha256:{images.other_sha}"
    assert len(server.gets("/img/small.qcow2")) == gets  # the check downloads no image
    done = run(host_api, "update-template-image", {"name": "deb"})
    assert done["state"] == "succeeded", done
    assert done["result"]["kept_previous"] == ["deb-v1.qcow2"] and done["result"]["replaced"] == "deb-v1.qcow2"
    t = host_api.ok("describe-template", {"name": "deb"})["template"]
    assert t["storage"]["volume"] == "deb-v2.qcow2" and t["storage"]["version"] == 2
    assert t["source"]["checksum"] == f"sha256:{images.other_sha}"
    assert t["previous"][0]["dependents"] == [f"{pool}/{vm1}-root.qcow2"]
    vm2 = create_vm(host_api, keeper, "local", pool, "deb")
    path2 = host_api.ok("describe-vm", {"name": vm2})["vm"]["disks"][0]["path"]
    assert qemu_img_backing(path2).endswith("/_templates_/deb-v2.qcow2")   # new VMs: the new image
    path1 = host_api.ok("describe-vm", {"name": vm1})["vm"]["disks"][0]["path"]
    assert qemu_img_backing(path1).endswith("/_templates_/deb-v1.qcow2")   # the old VM keeps its base
    assert host_api.ok("describe-template", {"name": "deb"})["template"]["usage"]["vm_count"] == 2
    host_api.ok("delete-vm", {"name": vm1, "delete_volumes": True})          # the last VM on v1: v1 goes now
    doc = host_api.services.store.get("template", "local", "deb")              # no template read in between
    assert doc["previous"] == [] and doc["usage"]["vm_count"] == 1
    assert not (keeper.base / pool / "_templates_" / "deb-v1.qcow2").exists()
    check = host_api.ok("check-template-update", {"name": "deb"})
    assert check["update_available"] is False and "removed" not in check["message"]
    host_api.ok("delete-vm", {"name": vm2, "delete_volumes": True})
    host_api.ok("delete-template", {"name": "deb"})


def test_registration_from_a_file_and_from_a_volume(real_libvirt, tmp_path, images):
    files = tmp_path / "images"
    files.mkdir()
    (files / "small.qcow2").write_bytes(images.small.read_bytes())
    api = build_api(make_settings(tmp_path, local_uri=real_libvirt,
                                  download={"allow_file_urls": True, "file_dirs": [str(files)]}))
    keep = PoolKeeper(lambda action, body: api.ok(action, body), tmp_path / "pools")
    try:
        pool = template_pool(keep)
        done = run(api, "register-template", {"pool": pool, "name": "from-file", "source": {
            "type": "file", "path": str(files / "small.qcow2"), "sha256": images.small_sha}})
        assert done["state"] == "succeeded", done
        assert done["result"]["template"]["source"]["checksum"] == f"sha256:{images.small_sha}"
        done = run(api, "register-template", {"pool": pool, "name": "from-url", "source": {
            "type": "url", "url": f"file://{files}/small.qcow2"}})
        assert done["state"] == "succeeded" and done["result"]["template"]["source"]["type"] == "file", done
        api.error("register-template", {"pool": pool, "name": "outside", "source": {
            "type": "file", "path": str(images.small)}}, status=400, code="PathNotAllowed")
        api.error("register-template", {"pool": pool, "name": "escape", "source": {
            "type": "file", "path": f"{files}/../../etc/passwd"}}, status=400, code="PathNotAllowed")
        api.ok("create-volume", {"pool": pool, "name": "golden.qcow2", "size_gib": 1})
        done = run(api, "register-template", {"pool": pool, "name": "from-volume", "source": {
            "type": "volume", "volume": "golden.qcow2"}})
        assert done["state"] == "succeeded", done
        t = done["result"]["template"]
        assert t["storage"]["volume"] == "from-volume-v1.qcow2" and t["storage"]["virtual_size"] == 2**30
        assert t["source"] == {"type": "volume", "pool": pool, "volume": "golden.qcow2",
                               "fetched_at": t["source"]["fetched_at"]}
        for name in ("from-file", "from-url", "from-volume"):
            api.ok("delete-template", {"name": name})
    finally:
        keep.cleanup()
        api.services.close()


def test_two_registrations_of_one_url_do_not_share_a_file(host_api, keeper, server, images):
    pool = template_pool(keeper)
    server.resources["/img/big.qcow2"].throttle_bps = 16 * MIB
    first = host_api.ok("register-template", {"pool": pool, "name": "b1", "source": {
        "type": "url", "url": server.url("/img/big.qcow2")}})["task"]
    time.sleep(0.5)
    second = run(host_api, "register-template", {"pool": pool, "name": "b2", "source": {
        "type": "url", "url": server.url("/img/big.qcow2")}})
    assert second["state"] == "failed" and second["error"]["code"] == "DownloadInProgress"
    assert host_api.services.tasks.wait(first["id"], 120)["state"] == "succeeded"
    host_api.ok("delete-template", {"name": "b1"})


def test_a_restart_mid_download_resumes_on_the_next_registration(real_libvirt, tmp_path, server, images):
    """The server process dies mid-download: its task is marked interrupted at the next start, the partial
    file stays, and registering the same URL again resumes it with Range + If-Range."""
    from tests.conftest import start_server, stop_server
    import os
    import signal
    size = images.big.stat().st_size
    server.resources["/img/big.qcow2"].throttle_bps = 6 * MIB
    live = start_server(tmp_path)
    keep = PoolKeeper(lambda a, b: _ok(live, a, b), tmp_path / "pools")
    try:
        pool = template_pool(keep)
        body = {"pool": pool, "name": "big", "source": {"type": "url", "url": server.url("/img/big.qcow2"),
                                                        "sha256": images.big_sha}}
        task = _ok(live, "register-template", body)["task"]
        deadline = time.monotonic() + 30
        while (_ok(live, "describe-task", {"id": task["id"]})["task"].get("bytes_done") or 0) < size // 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(live.proc.pid, signal.SIGKILL)
        live.proc.wait(10)
        parts = list((live.data_dir / "downloads").glob("*.part"))
        assert len(parts) == 1 and parts[0].stat().st_size >= size // 4
        server.resources["/img/big.qcow2"].throttle_bps = None
        live = start_server(tmp_path)
        keep.call = lambda a, b: _ok(live, a, b)
        old = _ok(live, "describe-task", {"id": task["id"]})["task"]
        assert old["state"] == "failed" and old["error"]["reason"] == "interrupted"
        assert parts[0].exists()                    # kept for the next registration of the URL
        task = _ok(live, "register-template", body)["task"]
        deadline = time.monotonic() + 120
        while (done := _ok(live, "describe-task", {"id": task["id"]})["task"])["state"] in ("pending", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert done["state"] == "succeeded", done
        assert done["result"]["download"]["resumed_from"] >= size // 4
        assert server.gets("/img/big.qcow2")[-1].headers["Range"].startswith("bytes=")
        assert not parts[0].exists()
        _ok(live, "delete-template", {"name": "big"})
    finally:
        keep.cleanup()
        stop_server(live)


def _ok(live, action: str, body: dict) -> dict:
    resp = live.post(action, body)
    assert resp.status_code in (200, 202), (action, resp.status_code, resp.text)
    return resp.json()

