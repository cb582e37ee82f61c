"""Snapshots on the real libvirtd (tier 3), through a real `jvp serve`, with the real Debian cloud guest.

One guest is booted for the whole module (boots take minutes under TCG) from a template registered from the
cached image; the tests run in file order on it, the README's snapshot session among them:
a marker file written through the guest agent, a disk snapshot (quiesced), a memory snapshot, the marker
changed; the memory revert resumes the running guest with the marker as it was; a clone and a template
made from the disk snapshot while the guest runs (a revert meanwhile is a 409); the disk revert (through
`jvp call`, `start: false` as SPEC 2.5's default) and again without `start` (the README's block) boots it,
as recorded, from its disks with the marker as it was; the clone boots with its own host name, MAC and
instance id; a VM created from the exported template boots and holds the marker (read in the guest).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.conftest import REPO, start_server, stop_server, unique
from tests.host import vmutil
from tests.host.test_readme import readme_block

BASE = "jvptest-base.qcow2"
MARKER = "/root/jvp-marker"
BOOT_S = 600


@dataclass
class Env:
    server: Any
    conn: libvirt.virConnect
    pool: str
    pool_dir: Path
    network: str
    subnet: ipaddress.IPv4Network | None
    work: Path
    names: dict[str, str]
    vms: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)

    def call(self, action: str, body: dict, status: int = 200) -> dict:
        resp = self.server.post(action, body)
        assert resp.status_code == status, (action, resp.status_code, resp.text)
        return resp.json()

    def run(self, action: str, body: dict, timeout: float = 300) -> dict:
        task = self.call(action, body, status=202)["task"]
        deadline = time.monotonic() + timeout
        while True:
            done = self.call("describe-task", {"id": task["id"]})["task"]
            if done["state"] not in ("pending", "running") or time.monotonic() > deadline:
                assert done["state"] == "succeeded", done
                return done
            time.sleep(1)

    def shell(self, marker: str, timeout: float) -> list[dict]:
        """Run a README block in bash (variables and functions kept between blocks in state.sh)."""
        state = self.work / "state.sh"
        prelude = f"source {state}\n" if state.exists() else ""
        keep = "OPS|ADM|JVP|VM|SNAP|CLONE|TMPL"
        script = (prelude + readme_block(marker) + f"\n{{ declare -p $(compgen -v | grep -xE '{keep}'); "
                  f"declare -f api wait_task; }} > {state}\n")
        env = {**os.environ, "JVP_URL": self.server.url, "JVP_DATA_DIR": str(self.server.data_dir),
               "JVP_CONFIG": str(self.server.data_dir.parent / "config.yaml"), "VM": self.names["vm"],
               "SNAP": self.names["snap"], "CLONE": self.names["clone"], "TMPL": self.names["tmpl"]}
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.work, env=env,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, (res.stdout, res.stderr)
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]

    def dom(self, name: str) -> libvirt.virDomain:
        return self.conn.lookupByName(self.names[name])


# -- the guest, from outside (guest agent) ---------------------------------------------------------------------
def write_file(dom: libvirt.virDomain, path: str, text: str) -> None:
    handle = vmutil.agent(dom, "guest-file-open", path=path, mode="w")
    vmutil.agent(dom, "guest-file-write", handle=handle, **{"buf-b64": base64.b64encode(text.encode()).decode()})
    vmutil.agent(dom, "guest-file-close", handle=handle)


def read_file(dom: libvirt.virDomain, path: str) -> str:
    handle = vmutil.agent(dom, "guest-file-open", path=path, mode="r")
    data = vmutil.agent(dom, "guest-file-read", handle=handle, count=65536)
    vmutil.agent(dom, "guest-file-close", handle=handle)
    return base64.b64decode(data.get("buf-b64", "")).decode()


def wait_guest(dom: libvirt.virDomain) -> None:
    """The agent answers and cloud-init has finished (its first-boot work included)."""
    vmutil.wait_agent(dom, BOOT_S)
    code, out, err = vmutil.guest_exec(dom, "/usr/bin/cloud-init", "status", "--wait", timeout_s=BOOT_S)
    assert "done" in out, (code, out, err)


@pytest.fixture(scope="module")
def env(real_libvirt, tmp_path_factory):
    image = vmutil.guest_image()
    tmp = tmp_path_factory.mktemp("snap")
    (tmp / "work").mkdir()
    (tmp / "work" / ".venv").symlink_to(REPO / ".venv")  # the README calls .venv/bin/jvp
    (tmp / "server").mkdir()
    # TCG straight away: this host's KVM cannot run guests (tests/host/test_vm_host.py covers the probe)
    server = start_server(tmp / "server", real_libvirt, extra_env={"JVP_DOMAIN_TYPE": "qemu"})
    conn = vmutil.open_conn()
    names = {k: unique(f"{k}-") for k in ("vm", "clone", "tmpl", "base", "fromtmpl")}
    names["snap"] = "before-upgrade"
    e = Env(server=server, conn=conn, pool=unique("pool-"), pool_dir=tmp / "pool", network=unique("net-"),
            subnet=None, work=tmp / "work", names=names)
    e.vms += [names["vm"], names["clone"], names["fromtmpl"]]
    e.templates += [names["tmpl"], names["base"]]
    try:
        vmutil.upload_file(conn, vmutil.make_pool(conn, e.pool, e.pool_dir), BASE, image)
        e.subnet = vmutil.free_subnet(conn)
        vmutil.make_isolated_network(conn, e.network, e.subnet)
        yield e
    finally:
        for name in e.vms:
            vmutil.drop_domain(conn, name)
        for name in e.templates:
            e.server.post("delete-template", {"name": name})
        vmutil.drop_network(conn, e.network)
        vmutil.drop_pool(conn, e.pool + "_templates_")
        vmutil.drop_pool(conn, e.pool)
        stop_server(server)
        conn.close()


@pytest.fixture(scope="module")
def guest(env):
    """The template (registered from the cached image) and the running guest built from it."""
    env.run("register-template", {"pool": env.pool, "name": env.names["base"],
                                  "source": {"type": "volume", "volume": BASE}})
    done = env.run("create-vm", {
        "name": env.names["vm"], "memory_mib": 512, "pool": env.pool, "template": env.names["base"],
        "nics": [{"network": env.network}], "wait_for": "agent", "wait_timeout_s": BOOT_S,
        "cloud_init": {"users": [{"name": "alice", "password": "snap-Pass-1", "sudo": True}]}}, timeout=BOOT_S + 60)
    dom = env.dom("vm")
    vmutil.wait_agent(dom, BOOT_S)
    return {"create": done, "dom": dom}


def test_a_disk_snapshot_of_the_running_guest_is_quiesced(env, guest):
    write_file(guest["dom"], MARKER, "one")
    task, listed = env.shell("snapshots-create", timeout=120)
    assert task["state"] == "succeeded", task
    result = task["result"]
    assert result["method"] == "qemu-monitor" and result["quiesced"] is True, result
    snap = result["snapshot"]
    assert (snap["state"], snap["has_memory"], snap["revert_state"]) == ("running", False, "running")
    assert {d["target"]: d["snapshot"] for d in snap["disks"]} == {"vda": "internal", "hda": "no", "hdc": "no"}
    assert listed == [{"name": "before-upgrade", "state": "running", "has_memory": False, "parent": None,
                       "current": True}]
    assert vmutil.agent(guest["dom"], "guest-ping") == {}  # thawed: the agent (and the guest) go on


def test_a_memory_snapshot_reverts_to_the_running_guest(env, guest):
    dom, vm = guest["dom"], env.names["vm"]
    write_file(dom, MARKER, "two")
    env.run("create-snapshot", {"vm": vm, "name": "with-memory", "include_memory": True})
    write_file(dom, MARKER, "three")
    res = env.call("revert-snapshot", {"vm": vm, "name": "with-memory"})
    assert res["state"] == "running" and res["vm"]["state"] == "running", res
    vmutil.wait_agent(dom, 60)
    assert read_file(dom, MARKER) == "two"
    snaps = env.call("list-snapshots", {"vm": vm})["snapshots"]
    assert [(s["name"], s["parent"], s["has_memory"], s["current"]) for s in snaps] == [
        ("before-upgrade", None, False, False), ("with-memory", "before-upgrade", True, True)]


def test_clone_and_export_while_the_guest_runs_and_revert_meanwhile_is_busy(env, guest):
    answers: list[Any] = []
    runner = threading.Thread(target=lambda: answers.append(env.shell("snapshots-clone", timeout=600)))
    runner.start()
    busy = None
    deadline = time.monotonic() + 120
    while busy is None and time.monotonic() < deadline and runner.is_alive():
        tasks = env.call("list-tasks", {"kind": "clone-from-snapshot"})["tasks"]
        if any(t["state"] == "running" for t in tasks):
            busy = env.call("revert-snapshot", {"vm": env.names["vm"], "name": "before-upgrade"}, status=409)
        time.sleep(0.3)
    runner.join(600)
    assert busy is not None and busy["error"]["code"] == "ResourceBusy", busy
    clone, export = answers[0]
    assert clone["state"] == "succeeded" and export["state"] == "succeeded", answers
    assert clone["result"]["vm"]["state"] == "running"
    tmpl = export["result"]["template"]
    assert tmpl["type"] == "snapshot" and tmpl["source"]["vm"] == env.names["vm"]
    assert tmpl["source"]["snapshot"] == "before-upgrade" and tmpl["source"]["checksum"].startswith("sha256:")
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", tmpl["storage"]["path"]],
                                     capture_output=True, text=True, check=True).stdout)
    assert "backing-filename" not in info and not info.get("snapshots")  # flat and standalone
    check = json.loads(subprocess.run(["qemu-img", "check", "-U", "--output=json", tmpl["storage"]["path"]],
                                      capture_output=True, text=True, check=True).stdout)
    assert check["compressed-clusters"] > 0 and check["check-errors"] == 0
    assert tmpl["features"]["cloud_init"] is True and tmpl["features"]["qemu_guest_agent"] is True
    assert guest["dom"].state()[0] == libvirt.VIR_DOMAIN_RUNNING  # the source kept running


def jvp_call(env: Env, *args: str) -> dict:
    """`jvp call` against the test's server (URL and token from the environment, as a user would set them)."""
    res = subprocess.run([str(REPO / ".venv" / "bin" / "jvp"), "call", *args], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "JVP_URL": env.server.url, "JVP_TOKEN": env.server.token})
    assert res.returncode == 0, (res.stdout, res.stderr)
    return json.loads(res.stdout)


def test_reverting_the_disk_snapshot_boots_from_the_disks_as_they_were(env, guest):
    dom, vm = guest["dom"], env.names["vm"]
    # SPEC 2.5's start=false (the default) is the recorded state: running, booted from the reverted disks
    res = jvp_call(env, "revert-snapshot", f"vm={vm}", "name=before-upgrade", "start=false")
    assert res["state"] == "running" and res["snapshot"]["current"] is True
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    listed = jvp_call(env, "list-snapshots", f"vm={vm}")["snapshots"]
    assert [(s["name"], s["current"], s["revert_state"]) for s in listed] == [
        ("before-upgrade", True, "running"), ("with-memory", False, "running")]
    # the README's block: no `start`, so the state recorded (running): booted from the disks as they were
    reverted, names = env.shell("snapshots-revert", timeout=60)
    assert reverted["state"] == "running", reverted
    assert names == [{"name": "before-upgrade", "current": True}, {"name": "with-memory", "current": False}]
    vmutil.wait_agent(dom, BOOT_S)
    assert read_file(dom, MARKER) == "one"


def test_the_clone_boots_with_its_own_identity(env, guest):
    src_dom, dom = guest["dom"], env.dom("clone")
    wait_guest(dom)
    clone = env.call("describe-vm", {"name": env.names["clone"]})["vm"]
    source = env.call("describe-vm", {"name": env.names["vm"]})["vm"]
    assert vmutil.agent(dom, "guest-get-host-name")["host-name"] == env.names["clone"]
    macs = {i.get("hardware-address") for i in vmutil.agent(dom, "guest-network-get-interfaces")}
    assert clone["nics"][0]["mac"] in macs and source["nics"][0]["mac"] not in macs
    assert clone["uuid"] != source["uuid"]
    ids = [read_file(d, "/var/lib/cloud/data/instance-id").strip() for d in (src_dom, dom)]
    assert ids[1] == clone["cloud_init"]["instance_id"] and ids[0] != ids[1]
    assert read_file(dom, MARKER) == "one"
    root = next(d for d in clone["disks"] if d["system"])
    assert root["volume"] == f"{env.names['clone']}-root.qcow2" and root["backing"] is None
    base = env.call("describe-template", {"name": env.names["base"]})["template"]
    assert {env.names["vm"], env.names["clone"]} <= {v["name"] for v in base["usage"]["vms"]}


def test_a_vm_from_the_exported_template_holds_the_marker(env, guest):
    name = env.names["fromtmpl"]
    env.run("create-vm", {"name": name, "memory_mib": 512, "pool": env.pool, "template": env.names["tmpl"],
                          "nics": [{"network": env.network}], "cloud_init": {"hostname": name},
                          "wait_for": "agent", "wait_timeout_s": BOOT_S},
            timeout=BOOT_S + 60)
    vm = env.call("describe-vm", {"name": name})["vm"]
    root = next(d for d in vm["disks"] if d["system"])
    tmpl = env.call("describe-template", {"name": env.names["tmpl"]})["template"]
    assert root["backing"] == tmpl["storage"]["path"] and [v["name"] for v in tmpl["usage"]["vms"]] == [name]
    dom = env.dom("fromtmpl")
    assert vm["state"] == "running"
    wait_guest(dom)  # it booted from the exported image: its agent answers, cloud-init ran its first boot
    assert read_file(dom, MARKER) == "one"  # read inside the guest
    # its own identity from its own seed (a new instance id for cloud-init), not the source's
    assert vmutil.agent(dom, "guest-get-host-name")["host-name"] == name
    err = env.call("delete-template", {"name": env.names["tmpl"]}, status=409)["error"]
    assert err["code"] == "TemplateInUse" and name in err["details"]["vms"]
    dom.destroy()  # frees its memory for the rest of the module


def test_delete_snapshot_then_the_vm_with_the_rest(env, guest):
    deleted = env.shell("snapshots-delete", timeout=60)[0]
    assert deleted["deleted"] == ["before-upgrade"]
    assert [s["name"] for s in env.call("list-snapshots", {"vm": env.names["vm"]})["snapshots"]] == ["with-memory"]
    res = env.call("delete-vm", {"name": env.names["vm"], "force": True, "delete_volumes": True})
    assert res["snapshots_deleted"] == 1
    assert f"{env.names['vm']}-root.qcow2" in {v["volume"] for v in res["deleted_volumes"]}
    env.call("describe-vm", {"name": env.names["vm"]}, status=404)


def test_snapshot_clone_and_export_on_the_second_node(env, second_node):
    """The same paths on the second real libvirt node (tests/host/second_node.py: another host), with a pool
    of the same name in a directory it has (the bed's shared one): every byte of the disk at the snapshot
    travels through libvirt streams (a stopped VM with a blank disk: nothing to boot)."""
    node, vm, clone, tmpl = unique("K-twin-"), unique("K-vm-"), unique("K-clone-"), unique("K-tmpl-")
    remote = vmutil.open_conn(second_node.uri)
    pool_dir = Path(second_node.shared) / unique("K-pool-")
    try:
        vmutil.make_pool(remote, env.pool, pool_dir)
        env.call("create-node", {"name": node, "uri": second_node.uri})
        env.run("create-vm", {"node": node, "name": vm, "pool": env.pool, "disk_size_gib": 1, "memory_mib": 128,
                              "start": False})
        assert vm not in {d.name() for d in env.conn.listAllDomains(0)}  # on the second daemon only
        snap = env.run("create-snapshot", {"node": node, "vm": vm, "name": "s1"})["result"]["snapshot"]
        assert (snap["node"], snap["state"], snap["has_memory"]) == (node, "stopped", False)
        assert [s.getName() for s in remote.lookupByName(vm).listAllSnapshots(0)] == ["s1"]
        done = env.run("clone-from-snapshot", {"node": node, "vm": vm, "name": "s1", "new_name": clone,
                                               "start": False})
        assert done["result"]["vm"]["state"] == "stopped"
        root = next(d for d in env.call("describe-vm", {"node": node, "name": clone})["vm"]["disks"] if d["system"])
        assert root["volume"] == f"{clone}-root.qcow2" and root["backing"] is None
        assert (pool_dir / f"{clone}-root.qcow2").exists()
        t = env.run("export-snapshot-to-template", {"node": node, "vm": vm, "name": "s1", "template": tmpl})
        assert t["result"]["template"]["node"] == node and t["result"]["template"]["state"] == "ready"
        assert Path(t["result"]["template"]["storage"]["path"]).parent == pool_dir / "_templates_"
        env.call("delete-template", {"node": node, "name": tmpl})
        for name in (clone, vm):
            env.call("delete-vm", {"node": node, "name": name, "delete_volumes": True})
        assert [n for n in (vm, clone) if n in {d.name() for d in remote.listAllDomains(0)}] == []
    finally:
        for name in (clone, vm):
            vmutil.drop_domain(remote, name)
        env.server.post("delete-template", {"node": node, "name": tmpl})  # when the test failed before it
        env.server.post("delete-node", {"name": node})
        vmutil.drop_pool(remote, env.pool + "_templates_")
        vmutil.drop_pool(remote, env.pool)
        remote.close()
        shutil.rmtree(pool_dir, ignore_errors=True)
