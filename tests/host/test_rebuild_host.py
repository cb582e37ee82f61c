"""rebuild-vm on the real libvirtd (tier 3), and the start-up validation and verify-template on a real image.

One guest: the cached Debian cloud image registered as a template (from a volume of a test pool), a VM made
from it with cloud-init, a NIC on an isolated test network and a blank data disk. Through the guest agent a
marker file goes on the system disk and a marker on the raw data disk; rebuild-vm (the running guest is shut
down, rebuilt, started again); then the system-disk marker is gone, the data-disk marker is still there, UUID
and MAC are the same, and cloud-init ran again with the new instance id (and set the same host name). Boots
take minutes under TCG: the guest boots twice (create, rebuild), nothing more.
"""
from __future__ import annotations

import hashlib
import os

import pytest

from tests.conftest import unique
from tests.host import vmutil

DATA_MARKER = "jvp-rebuild-data-marker"


def run(api, action: str, body: dict, timeout: float = 900) -> dict:
    resp = api.call(action, body)
    assert resp.status_code == 202, resp.get_json()
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], timeout)
    assert done["state"] == "succeeded", done
    return done


def sh(dom, script: str, timeout_s: float = 300) -> str:
    code, out, err = vmutil.guest_exec(dom, "/bin/sh", "-c", script, timeout_s=timeout_s)
    assert code == 0, (script, code, out, err)
    return out


@pytest.fixture
def env(host_api, tmp_path):
    image = vmutil.guest_image()
    conn = vmutil.open_conn()
    pool, net = unique("I-pool-"), unique("I-net-")
    names = {"pool": pool, "net": net, "template": unique("I-tpl-"), "vm": unique("I-vm-")}
    try:
        p = vmutil.make_pool(conn, pool, tmp_path / "pool")
        vmutil.upload_file(conn, p, "base.qcow2", image)
        p.refresh(0)
        vmutil.make_isolated_network(conn, net, vmutil.free_subnet(conn))
        yield host_api, conn, names
    finally:
        vmutil.drop_domain(conn, names["vm"])
        try:
            host_api.services.templates.delete("local", names["template"])
        except Exception:  # noqa: BLE001 - the test may have failed before registering it
            pass
        vmutil.drop_network(conn, net)
        vmutil.drop_pool(conn, pool + "_templates_")
        vmutil.drop_pool(conn, pool)
        conn.close()


def test_rebuild_replaces_the_system_disk_keeps_the_data_disk_and_reruns_cloud_init(env):
    api, conn, n = env
    t = run(api, "register-template", {"pool": n["pool"], "name": n["template"],
                                       "source": {"type": "volume", "pool": n["pool"], "volume": "base.qcow2"}},
            timeout=300)["result"]["template"]
    assert t["state"] == "ready"
    assert api.services.store.get("template", "local", n["template"])["storage"]["mtime"]

    # -- the start-up validation on a real image: a touched file is broken until verify-template -------------
    assert api.services.templates.validate_at_start()["local"][n["template"]] == "ok"
    path = t["storage"]["path"]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert api.services.templates.validate_at_start()["local"][n["template"]] == "broken"
    api.error("create-vm", {"name": n["vm"], "template": n["template"], "pool": n["pool"]}, role="operator",
              status=422, code="TemplateBroken")
    done = run(api, "verify-template", {"name": n["template"]}, timeout=300)
    # a template copied from a volume had no checksum: the verified one is kept from now on
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert done["result"]["checksum"] == f"sha256:{sha}" and t["source"].get("checksum") is None
    assert api.services.store.get("template", "local", n["template"])["source"]["checksum"] == f"sha256:{sha}"
    assert api.ok("describe-template", {"name": n["template"]})["template"]["state"] == "ready"
    assert api.services.templates.validate_at_start()["local"][n["template"]] == "ok"
    events = [(e["event"], e["outcome"]) for e in api.ok("list-template-history", {"name": n["template"]})["entries"]]
    assert events == [("verify", "ok"), ("validate", "broken")]

    # -- a guest from the template, markers on its system and data disks -------------------------------------
    hostname = "rebuilt-guest"
    done = run(api, "create-vm", {
        "name": n["vm"], "template": n["template"], "pool": n["pool"], "memory_mib": 512,
        "nics": [{"network": n["net"]}], "extra_disks": [{"size_gib": 1, "format": "qcow2"}],
        "cloud_init": {"hostname": hostname, "users": [{"name": "ops", "sudo": True}]},
        "wait_for": "agent", "wait_timeout_s": 600})
    before = api.ok("describe-vm", {"name": n["vm"]})["vm"]
    assert before["guest_agent"], done
    dom = conn.lookupByName(n["vm"])
    assert "done" in sh(dom, "cloud-init status --wait || true", timeout_s=600)
    first_id = sh(dom, "cat /var/lib/cloud/data/instance-id").strip()
    assert first_id == before["cloud_init"]["instance_id"]
    sh(dom, "echo system > /root/jvp-marker && sync")
    sh(dom, f"printf {DATA_MARKER} | dd of=/dev/vdb conv=fsync status=none && sync")

    # -- rebuild ------------------------------------------------------------------------------------------
    done = run(api, "rebuild-vm", {"name": n["vm"], "stop_timeout_s": 180})
    res = done["result"]
    assert res["vm"]["state"] == "running" and res["replaced"]["volume"] == f"{n['vm']}-root.qcow2"
    after = api.ok("describe-vm", {"name": n["vm"]})["vm"]
    assert after["uuid"] == before["uuid"]
    assert [x["mac"] for x in after["nics"]] == [x["mac"] for x in before["nics"]]
    assert after["cloud_init"]["instance_id"] == res["vm"]["instance_id"] != first_id
    assert after["cloud_init"]["seed_volume"] != before["cloud_init"]["seed_volume"]
    data_before = [d["volume"] for d in before["disks"] if d["device"] == "disk" and not d.get("system")]
    assert [d["volume"] for d in after["disks"] if d["device"] == "disk" and not d.get("system")] == data_before
    dom = conn.lookupByName(n["vm"])
    vmutil.wait_agent(dom, 600)
    assert "done" in sh(dom, "cloud-init status --wait || true", timeout_s=600)
    assert sh(dom, "cat /var/lib/cloud/data/instance-id").strip() == res["vm"]["instance_id"]
    assert sh(dom, "test -e /root/jvp-marker && echo present || echo gone").strip() == "gone"
    assert sh(dom, f"dd if=/dev/vdb bs={len(DATA_MARKER)} count=1 status=none") == DATA_MARKER
    assert sh(dom, "hostname").strip() == hostname
    assert sh(dom, "id -u ops").strip().isdigit()   # the recorded user-data applied again
    # the old system disk and seed are gone from the pool
    vols = {v["name"] for v in api.ok("list-volumes", {"pool": n["pool"], "include_internal": True})["volumes"]}
    assert f"{n['vm']}-root.qcow2" not in vols and f"{n['vm']}-root-1.qcow2" in vols
    assert before["cloud_init"]["seed_volume"] not in vols
    entry = api.ok("list-template-history", {"name": n["template"]})["entries"][0]
    assert (entry["event"], entry["outcome"], entry["vm"]) == ("rebuild", "succeeded", n["vm"])
