"""The image lifecycle end to end on the real libvirtd (tier 3): a URL template, a new version of its image,
rebuild-template-vms, and a rebuild that fails half-way.

One guest, three boots (create, the rebuild, the restart after the failed rebuild):
1. The cached Debian cloud image is served by the tests' image server (tests/imageserver.py) with a
   SHA256SUMS file and registered BY URL; a VM from it with cloud-init (host name set), a NIC on an isolated
   test network and a blank data disk; through the guest agent a marker goes on the system disk and on the
   raw data disk.
2. The server then serves a new version: a copy of the image with one file added (/etc/jvp-image-version,
   written with debugfs into the ext4 partition of a raw copy, `?offset=` instead of a loop device, then
   converted back to qcow2; its /etc/hostname stays the image's own). check-template-updates and
   check-template-update see it, update-template-image downloads it, the history records check and update.
3. rebuild-template-vms {running: restart}: the VM is rebuilt; the system-disk marker is gone and the new
   version's file is there, the data-disk marker is kept, UUID and MAC are the same, cloud-init ran with the
   new instance id and set the host name again (the new disk's own /etc/hostname says otherwise), the VM
   runs and its agent answers.
4. A rebuild that really fails in the middle: a third version is installed and its file then damaged on
   disk (the qcow2 header's cluster size zeroed: libvirt still lists a qcow2 volume, so nothing refuses the
   rebuild up front). rebuild-vm shuts the guest down, then making the new system disk fails in qemu-img;
   the task fails with that error, the VM keeps its old system disk (the marker written after step 3 is
   still there) and the service started it again.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import unique
from tests.host import vmutil
from tests.imageserver import ImageServer, make_qcow2, sha256_file
from tests.templateutil import sums

DATA_MARKER = "jvp-rebuild-template-data-marker"
IMAGE = "/img/debian12.qcow2"
SUMS = "/img/SHA256SUMS"


def run(api, action: str, body: dict, timeout: float = 900, state: str = "succeeded") -> dict:
    resp = api.call(action, body)
    assert resp.status_code == 202, resp.get_json()
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], timeout)
    assert done["state"] == state, done
    return done


def sh(dom, script: str, timeout_s: float = 300) -> str:
    code, out, err = vmutil.guest_exec(dom, "/bin/sh", "-c", script, timeout_s=timeout_s)
    assert code == 0, (script, code, out, err)
    return out


def debugfs(image: Path, offset: int, request: str, write: bool = False) -> str:
    """One debugfs request on the ext4 file system at `offset` bytes into a raw disk image (no loop device:
    e2fsprogs' unix I/O manager reads `file?offset=N`)."""
    argv = ["debugfs", *(["-w"] if write else []), "-R", request, f"{image}?offset={offset}"]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def new_version(src: Path, workdir: Path, marker: str) -> tuple[Path, str]:
    """A bootable copy of the guest image whose root file system holds /etc/jvp-image-version = marker;
    returns the qcow2 and the /etc/hostname inside it."""
    raw, out = workdir / "v2.raw", workdir / "debian12-v2.qcow2"
    subprocess.run(["qemu-img", "convert", "-U", "-q", "-O", "raw", str(src), str(raw)], check=True)
    with open(raw, "rb") as fh:
        mbr = fh.read(512)
    assert mbr[510:512] == b"\x55\xaa", "the guest image has no MBR"
    # the root file system: the MBR's Linux partition (type 0x83; the image is hybrid, its ESP comes first)
    entries = [mbr[446 + 16 * i:446 + 16 * (i + 1)] for i in range(4)]
    root = next((e for e in entries if e[4] == 0x83), None)
    assert root is not None, [e[4] for e in entries]
    offset = int.from_bytes(root[8:12], "little") * 512
    note = workdir / "jvp-image-version"
    note.write_text(marker + "\n")
    debugfs(raw, offset, f"write {note} /etc/jvp-image-version", write=True)
    assert debugfs(raw, offset, "cat /etc/jvp-image-version").strip() == marker
    hostname = debugfs(raw, offset, "cat /etc/hostname").strip()
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(out)], check=True)
    raw.unlink()
    return out, hostname


def damage_qcow2(path: str) -> None:
    """Zero the qcow2 header's cluster_bits (offset 20): the magic stays (libvirt still sees a qcow2 of the
    same size), qemu refuses to open it ("Unsupported cluster size")."""
    with open(path, "r+b") as fh:
        fh.seek(20)
        fh.write((0).to_bytes(4, "big"))


def serve(srv: ImageServer, path: Path) -> str:
    digest = sha256_file(path)
    srv.replace_file(IMAGE, path)
    srv.add_bytes(SUMS, sums((digest, Path(IMAGE).name)), content_type="text/plain")
    return digest


@pytest.fixture
def env(host_api, tmp_path):
    image = vmutil.guest_image()
    conn = vmutil.open_conn()
    srv = ImageServer().start()
    names = {"pool": unique("R-pool-"), "net": unique("R-net-"), "template": unique("R-tpl-"),
             "vm": unique("R-vm-")}
    try:
        vmutil.make_pool(conn, names["pool"], tmp_path / "pool")
        vmutil.make_isolated_network(conn, names["net"], vmutil.free_subnet(conn))
        yield host_api, conn, srv, image, names, tmp_path
    finally:
        srv.stop()
        try:
            host_api.ok("delete-vm", {"name": names["vm"], "force": True, "delete_volumes": True})
        except Exception:  # noqa: BLE001 - the test may have failed before the VM existed
            pass
        vmutil.drop_domain(conn, names["vm"])
        try:
            host_api.services.templates.delete("local", names["template"])
        except Exception:  # noqa: BLE001 - not registered, or still in use after a failure: the pools go below
            pass
        vmutil.drop_network(conn, names["net"])
        vmutil.drop_pool(conn, names["pool"] + "_templates_")
        vmutil.drop_pool(conn, names["pool"])
        conn.close()


def test_url_template_update_then_rebuild_template_vms_and_a_failed_rebuild(env):
    api, conn, srv, image, n, tmp = env
    tpl, vm = n["template"], n["vm"]

    # -- 1. a URL template, a VM with markers ----------------------------------------------------------------
    v1_sha = serve(srv, image)
    done = run(api, "register-template", {"pool": n["pool"], "name": tpl, "features": {"cloud_init": True},
                                          "source": {"type": "url", "url": srv.url(IMAGE),
                                                     "checksum_url": srv.url(SUMS)}}, timeout=600)
    t = done["result"]["template"]
    assert t["state"] == "ready" and t["source"]["checksum"] == f"sha256:{v1_sha}" and t["source"]["verified"]
    assert t["storage"]["version"] == 1

    hostname = "jvp-rebuilt-guest"
    done = run(api, "create-vm", {
        "name": vm, "template": tpl, "pool": n["pool"], "memory_mib": 512,
        "nics": [{"network": n["net"]}], "extra_disks": [{"size_gib": 1, "format": "qcow2"}],
        "cloud_init": {"hostname": hostname, "users": [{"name": "ops", "sudo": True}]},
        "wait_for": "agent", "wait_timeout_s": 600})
    before = api.ok("describe-vm", {"name": vm})["vm"]
    assert before["guest_agent"], done
    dom = conn.lookupByName(vm)
    assert "done" in sh(dom, "cloud-init status --wait || true", timeout_s=600)
    first_id = sh(dom, "cat /var/lib/cloud/data/instance-id").strip()
    assert first_id == before["cloud_init"]["instance_id"]
    assert sh(dom, "hostname").strip() == hostname
    assert sh(dom, "cat /etc/jvp-image-version 2>/dev/null || echo none").strip() == "none"  # version 1
    sh(dom, "echo system > /root/jvp-marker && sync")
    sh(dom, f"printf {DATA_MARKER} | dd of=/dev/vdb conv=fsync status=none && sync")

    # -- 2. a new version served; checked, downloaded --------------------------------------------------------
    version_mark = f"jvp-image-v2-{unique('')}"
    v2, image_hostname = new_version(image, tmp, version_mark)
    assert image_hostname and image_hostname != hostname   # only cloud-init can set the host name below
    v2_sha = serve(srv, v2)
    assert v2_sha != v1_sha
    gets = len(srv.gets(IMAGE))
    checked = run(api, "check-template-updates", {}, timeout=120)["result"]
    mine = [r for r in checked["templates"] if r["name"] == tpl]
    assert [(r["outcome"], r["update_available"]) for r in mine] == [("update-available", True)], checked
    check = api.ok("check-template-update", {"name": tpl})
    assert check["update_available"] is True and check["decided_by"] == "checksum"
    assert check["remote"]["checksum"] == f"sha256:{v2_sha}" and [v["name"] for v in check["vms"]] == [vm]
    assert len(srv.gets(IMAGE)) == gets                      # a check downloads no image
    done = run(api, "update-template-image", {"name": tpl}, timeout=600)
    assert done["bytes_done"] == done["bytes_total"] == v2.stat().st_size and done["progress"] == 100
    t = api.ok("describe-template", {"name": tpl})["template"]
    assert t["storage"]["version"] == 2 and t["source"]["checksum"] == f"sha256:{v2_sha}"
    assert [p["volume"] for p in t["previous"]] == [f"{tpl}-v1.qcow2"]  # the VM is still on it
    history = api.ok("list-template-history", {"name": tpl})["entries"]
    assert [(e["event"], e["outcome"]) for e in history[:3]] == [
        ("update", "succeeded"), ("check", "update-available"), ("check", "update-available")]
    assert history[0]["old"]["checksum"] == f"sha256:{v1_sha}" and history[0]["new"]["checksum"] == f"sha256:{v2_sha}"
    assert history[0]["new"]["version"] == 2 and history[0]["new"]["size"] == v2.stat().st_size

    # -- 3. rebuild-template-vms -------------------------------------------------------------------------
    done = run(api, "rebuild-template-vms", {"name": tpl, "running": "restart", "stop_timeout_s": 180})
    res = done["result"]
    assert res["counts"] == {"rebuilt": 1}, res
    (entry,) = res["vms"]
    assert (entry["vm"], entry["state"], entry["outcome"], entry["state_after"]) == (vm, "running", "rebuilt",
                                                                                     "running")
    assert entry["system_disk"] == {"pool": n["pool"], "volume": f"{vm}-root-1.qcow2"}
    after = api.ok("describe-vm", {"name": vm})["vm"]
    assert after["state"] == "running" and after["uuid"] == before["uuid"]
    assert [x["mac"] for x in after["nics"]] == [x["mac"] for x in before["nics"]]
    assert after["cloud_init"]["instance_id"] != first_id
    data_before = [d["volume"] for d in before["disks"] if d["device"] == "disk" and not d.get("system")]
    assert [d["volume"] for d in after["disks"] if d["device"] == "disk" and not d.get("system")] == data_before
    dom = conn.lookupByName(vm)
    assert dom.UUIDString() == before["uuid"]
    vmutil.wait_agent(dom, 600)
    assert "done" in sh(dom, "cloud-init status --wait || true", timeout_s=600)
    assert sh(dom, "cat /var/lib/cloud/data/instance-id").strip() == after["cloud_init"]["instance_id"]
    assert sh(dom, "test -e /root/jvp-marker && echo present || echo gone").strip() == "gone"
    assert sh(dom, "cat /etc/jvp-image-version").strip() == version_mark          # the new image
    assert sh(dom, f"dd if=/dev/vdb bs={len(DATA_MARKER)} count=1 status=none") == DATA_MARKER
    assert sh(dom, "hostname").strip() == hostname                               # not the image's own
    assert sh(dom, "id -u ops").strip().isdigit()
    t = api.ok("describe-template", {"name": tpl})["template"]
    assert t["previous"] == [] and t["usage"]["vm_count"] == 1                 # v1 went with the old disk
    last = api.ok("list-template-history", {"name": tpl})["entries"][0]
    assert (last["event"], last["outcome"], last["vm"]) == ("rebuild", "succeeded", vm)
    assert last["new"]["checksum"] == f"sha256:{v2_sha}"
    sh(dom, "echo after-rebuild > /root/jvp-marker-2 && sync")

    # -- 4. a rebuild that fails half-way ---------------------------------------------------------------
    v3 = make_qcow2(tmp / "debian12-v3.qcow2", virtual_mib=16, data_mib=2, seed=7)
    serve(srv, v3)
    run(api, "update-template-image", {"name": tpl}, timeout=300)
    t = api.ok("describe-template", {"name": tpl})["template"]
    assert t["storage"]["version"] == 3 and [p["volume"] for p in t["previous"]] == [f"{tpl}-v2.qcow2"]
    damage_qcow2(t["storage"]["path"])
    domain_id = conn.lookupByName(vm).ID()
    failed = run(api, "rebuild-vm", {"name": vm, "stop_timeout_s": 180}, state="failed")
    msg = failed["error"]["message"]   # the step, qemu-img's reason, where the VM is now
    assert msg.startswith(f"rebuilding vm '{vm}' on node 'local' failed while making the new system disk "
                          f"{n['pool']}/{vm}-root.qcow2 on the image of template '{tpl}'"), msg
    assert "Unsupported cluster size" in msg and f"verify-template '{tpl}'" in msg, msg
    assert f"back on its old system disk {n['pool']}/{vm}-root-1.qcow2 and running" in msg, msg
    now = api.ok("describe-vm", {"name": vm})["vm"]
    assert now["state"] == "running" and now["uuid"] == before["uuid"]
    assert [d for d in now["disks"] if d.get("system")][0]["volume"] == f"{vm}-root-1.qcow2"
    assert now["cloud_init"] == after["cloud_init"]
    vols = {v["name"] for v in api.ok("list-volumes", {"pool": n["pool"], "include_internal": True})["volumes"]}
    assert f"{vm}-root.qcow2" not in vols and f"{vm}-root-1.qcow2" in vols
    dom = conn.lookupByName(vm)
    assert dom.ID() != domain_id            # the guest was shut down (the failure came after) and started again
    vmutil.wait_agent(dom, 600)
    assert sh(dom, "cat /root/jvp-marker-2").strip() == "after-rebuild"
    assert sh(dom, "cat /etc/jvp-image-version").strip() == version_mark
    assert sh(dom, f"dd if=/dev/vdb bs={len(DATA_MARKER)} count=1 status=none") == DATA_MARKER
    last = api.ok("list-template-history", {"name": tpl})["entries"][0]
    assert (last["event"], last["outcome"], last["vm"]) == ("rebuild", "failed", vm)


def test_a_template_image_that_reads_as_another_format_is_refused(host_api, tmp_path):
    """libvirt probes a file's format at every pool refresh: a template image whose qcow2 header was wiped reads
    as raw. create-vm refuses it (TemplateBroken) instead of cloning it as a raw base, and leaves nothing."""
    conn = vmutil.open_conn()
    srv = ImageServer().start()
    pool, tpl, vm = unique("R-fmt-"), unique("R-fmt-tpl-"), unique("R-fmt-vm-")
    try:
        vmutil.make_pool(conn, pool, tmp_path / "pool")
        image = make_qcow2(tmp_path / "small.qcow2", virtual_mib=16, data_mib=2, seed=11)
        srv.add_file(IMAGE, image)
        t = run(host_api, "register-template", {"pool": pool, "name": tpl, "source": {
            "type": "url", "url": srv.url(IMAGE), "sha256": sha256_file(image)}}, timeout=120)["result"]["template"]
        assert t["storage"]["format"] == "qcow2"
        with open(t["storage"]["path"], "r+b") as fh:
            fh.write(b"\0" * 512)                     # the header gone: the file now probes as raw
        conn.storagePoolLookupByName(pool + "_templates_").refresh(0)
        before = {v["name"] for v in host_api.ok("list-volumes", {"pool": pool, "include_internal": True})["volumes"]}
        err = host_api.error("create-vm", {"name": vm, "template": tpl, "pool": pool, "start": False},
                             role="operator", status=422, code="TemplateBroken")
        assert "reads as raw" in err["message"] and "registered as qcow2" in err["message"], err
        assert vm not in {d.name() for d in conn.listAllDomains(0)}
        assert {v["name"] for v in host_api.ok("list-volumes", {"pool": pool, "include_internal": True})["volumes"]} \
            == before
    finally:
        srv.stop()
        vmutil.drop_domain(conn, vm)
        try:
            host_api.services.templates.delete("local", tpl)
        except Exception:  # noqa: BLE001 - the pools go below
            pass
        vmutil.drop_pool(conn, pool + "_templates_")
        vmutil.drop_pool(conn, pool)
        conn.close()
