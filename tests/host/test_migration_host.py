"""migrate-vm between two real libvirt daemons (tier 3): the host's (node `local`) and the second node of
tests/host/second_node.py (node `twin`: another host UUID, hostname and runtime state).

One guest is booted (the cached Debian image, TCG) on a pool both daemons define over the same directory
(shared storage), with a counter running inside it; it moves live to the twin and back, and after each move
the guest agent shows the counter advanced and the boot id unchanged. The same guest then meets a cancelled
move (bandwidth limited so that the job lasts): it keeps running on the source. Disks that are not shared
are tested on guests that need no OS (a blank disk: the firmware runs, QEMU migrates all the same): a live
move copying the disk (non-shared-disk migration) and an offline move of a stopped linked clone whose volume,
base image and cloud-init seed go through libvirt streams. The preflight refusals that need real daemons (a
CPU the target cannot give, the same host reached under another URI) are tested here too; the others are in
tests/api/test_migration.py.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.conftest import build_api, make_settings, unique
from tests.host import second_node as bed
from tests.host import vmutil

BOOT_S = 600
BASE = "base.qcow2"
COUNTER = ("i=0; while :; do i=$((i+1)); echo $i > /dev/shm/jvp-counter; sleep 0.2; done")


@dataclass
class Env:
    api: Any
    local: libvirt.virConnect
    twin: libvirt.virConnect
    twin_info: Any
    shared: str          # pool on both daemons over one directory
    local_pool: str      # pool of the same name and path on both, different directories
    network: str
    guest: str
    vms: list[str] = field(default_factory=list)

    def conn(self, node: str) -> libvirt.virConnect:
        return self.local if node == "local" else self.twin

    def run(self, action: str, body: dict, timeout: float = BOOT_S, state: str = "succeeded") -> dict:
        task = self.api.ok(action, body)["task"]
        deadline = time.monotonic() + timeout
        while task["state"] in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            task = self.api.ok("describe-task", {"id": task["id"]})["task"]
        assert task["state"] == state, task
        return task


def _twin_dir(path: str) -> Path:
    """Where a path under the twin's private /var/lib/libvirt lies on the host's file system."""
    rel = Path(path).relative_to("/var/lib/libvirt")
    return bed.BASE / "private" / "var_lib_libvirt" / rel


def _define_pool(conn: libvirt.virConnect, name: str, path: str) -> None:
    xml = f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
    p = conn.storagePoolDefineXML(xml, 0)
    p.build(0)
    p.create(0)


def _forget_pool(conn: libvirt.virConnect, name: str) -> None:
    try:
        p = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        return
    if p.isActive():
        p.destroy()
    p.undefine()


@pytest.fixture(scope="module")
def env(second_node, real_libvirt, tmp_path_factory):
    image = vmutil.guest_image()
    tmp = tmp_path_factory.mktemp("migration")
    api = build_api(make_settings(tmp, local_uri=real_libvirt, node_timeout_s=10.0, domain_type="qemu"))
    local, twin = vmutil.open_conn(real_libvirt), vmutil.open_conn(second_node.uri)
    e = Env(api=api, local=local, twin=twin, twin_info=second_node, shared=unique("H-shared-"),
            local_pool=unique("H-local-"), network=unique("H-net-"), guest=unique("H-vm-"))
    shared_dir = Path(second_node.shared) / e.shared
    try:
        api.ok("create-node", {"name": "twin", "uri": second_node.uri})
        for conn in (local, twin):
            vmutil.make_pool(conn, e.shared, shared_dir)
            _define_pool(conn, e.local_pool, f"/var/lib/libvirt/images/{e.local_pool}")
        subnet = vmutil.free_subnet(local)
        vmutil.make_isolated_network(local, e.network, subnet)
        vmutil.make_isolated_network(twin, e.network, subnet)  # its own network namespace: no clash
        vmutil.upload_file(local, local.storagePoolLookupByName(e.shared), BASE, image)
        twin.storagePoolLookupByName(e.shared).refresh(0)
        yield e
    finally:
        for name in [e.guest, *e.vms]:
            vmutil.drop_domain(local, name)
            vmutil.drop_domain(twin, name)
        _forget_pool(twin, e.shared)  # the same directory as the host's: the host's drop removes it
        for conn in (local, twin):
            vmutil.drop_pool(conn, e.local_pool)
            vmutil.drop_pool(conn, e.shared)
            vmutil.drop_network(conn, e.network)
        subprocess.run(["rm", "-rf", str(shared_dir)], check=False)
        api.services.close()
        local.close()
        twin.close()


@pytest.fixture(scope="module")
def booted(env):
    """The running guest on shared storage (a linked clone of the image), booted to the end of cloud-init (its
    agent answers some seconds before cloud-init's last stages end: the moves are of a guest at rest, not one
    restarting its services), its counter started."""
    env.run("create-vm", {"name": env.guest, "memory_mib": 384, "pool": env.shared, "volume": BASE,
                          "clone": "linked", "nics": [{"network": env.network}], "labels": {"suite": "migration"},
                          "cloud_init": {"hostname": env.guest, "users": [{"name": "mig", "password": "mig-Pass-1"}]},
                          "wait_for": "agent", "wait_timeout_s": BOOT_S}, timeout=BOOT_S + 60)
    dom = env.local.lookupByName(env.guest)
    vmutil.wait_agent(dom, BOOT_S)
    code, out, err = vmutil.guest_exec(dom, "/usr/bin/cloud-init", "status", "--wait", timeout_s=BOOT_S)
    assert "done" in out, (code, out, err)
    vmutil.agent(dom, "guest-exec", path="/usr/bin/setsid", arg=["-f", "/bin/sh", "-c", COUNTER])
    time.sleep(1)
    return env.guest


@pytest.fixture
def guest(env, booted):
    """The guest, running on the host's node as each test starts: a test that failed with it on the twin is
    not followed by failures of the next ones for that alone (it is moved back first)."""
    if booted not in [d.name() for d in env.local.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]:
        env.run("migrate-vm", {"node": "twin", "name": booted, "target_node": "local"}, timeout=300)
    return booted


def _inside(env: Env, node: str, name: str) -> tuple[int, str]:
    """(the counter, the boot id) read through the guest agent on the node the guest runs on."""
    dom = env.conn(node).lookupByName(name)
    # 180 s: right after a live move the guest (TCG on this host, throttled by auto-converge while it moved)
    # was once seen taking over a minute before its agent answered on the target again
    vmutil.wait_agent(dom, 180)
    _, counter, _ = vmutil.guest_exec(dom, "/bin/cat", "/dev/shm/jvp-counter")
    _, boot_id, _ = vmutil.guest_exec(dom, "/bin/cat", "/proc/sys/kernel/random/boot_id")
    return int(counter.strip()), boot_id.strip()


def _move_live(env: Env, name: str, source: str, target: str, **extra) -> dict:
    before = env.api.ok("describe-vm", {"node": source, "name": name})["vm"]
    counter, boot_id = _inside(env, source, name)
    plan = env.api.ok("check-migrate-vm", {"node": source, "name": name, "target_node": target})["plan"]
    assert plan["ok"] is True, plan
    assert {d["target"]: d["action"] for d in plan["disks"]}["vda"] == "shared"
    task = env.run("migrate-vm", {"node": source, "name": name, "target_node": target, **extra}, timeout=300)
    assert task["result"]["node"] == target and task["result"]["mode"] == "live"
    # on the target: running, persistent, JVP's metadata along; on the source: gone (undefined)
    after = env.api.ok("describe-vm", {"node": target, "name": name})["vm"]
    assert after["state"] == "running" and after["persistent"] is True
    for key in ("uuid", "created_by", "created_at", "labels", "template", "keypairs", "description"):
        assert after.get(key) == before.get(key), key
    env.api.error("describe-vm", {"node": source, "name": name}, status=404, code="VmNotFound")
    assert name not in [d.name() for d in env.conn(source).listAllDomains(0)]
    # the same boot, still counting
    counter2, boot_id2 = _inside(env, target, name)
    assert boot_id2 == boot_id and counter2 > counter
    return task


def test_a_running_guest_moves_live_to_the_other_host_and_back(env, guest):
    there = _move_live(env, guest, "local", "twin", max_downtime_ms=500, auto_converge=True)
    assert there["result"]["elapsed_ms"] is None or there["result"]["elapsed_ms"] > 0
    assert env.twin.lookupByName(guest).isPersistent()
    back = _move_live(env, guest, "twin", "local")
    assert back["result"]["from_node"] == "twin"
    assert env.local.lookupByName(guest).isActive()


def test_cancel_aborts_the_move_and_the_guest_keeps_running_on_the_source(env, guest):
    counter, boot_id = _inside(env, "local", guest)
    task = env.api.ok("migrate-vm", {"node": "local", "name": guest, "target_node": "twin",
                                     "bandwidth_mib_s": 1})["task"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = env.api.ok("describe-task", {"id": task["id"]})["task"]
        if task.get("bytes_done"):
            break
        assert task["state"] in ("pending", "running"), task
        time.sleep(0.3)
    assert task["bytes_total"] and task["bytes_done"] < task["bytes_total"], task
    assert task["message"].startswith("migrating: memory")
    env.api.ok("cancel-task", {"id": task["id"]})
    deadline = time.monotonic() + 60
    while task["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        task = env.api.ok("describe-task", {"id": task["id"]})["task"]
    assert task["state"] == "cancelled", task
    assert env.local.lookupByName(guest).isActive()
    assert guest not in [d.name() for d in env.twin.listAllDomains(0)]
    counter2, boot_id2 = _inside(env, "local", guest)
    assert boot_id2 == boot_id and counter2 > counter


def test_real_preflight_refusals(env, guest):
    # the same host under another URI: refused by host UUID
    env.api.ok("create-node", {"name": "loop", "uri": "qemu+tcp://127.0.0.1/system"})
    try:
        err = env.api.error("migrate-vm", {"node": "local", "name": guest, "target_node": "loop"}, status=409,
                            code="MigrationSameHost")
        assert err["details"]["host_uuid"]
    finally:
        env.api.ok("delete-node", {"name": "loop"})
    # a CPU the target's hypervisor (TCG) cannot give
    name = unique("H-cpu-")
    env.vms.append(name)
    env.local.defineXML(
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type>"
        "</os><cpu mode='custom' match='exact' check='full'><model fallback='forbid'>Icelake-Server</model></cpu>"
        "</domain>")
    plan = env.api.ok("check-migrate-vm", {"node": "local", "name": name, "target_node": "twin"})["plan"]
    assert {c["check"]: c["code"] for c in plan["checks"] if not c["ok"]} == {"cpu": "MigrationCpuIncompatible"}
    env.api.error("migrate-vm", {"node": "local", "name": name, "target_node": "twin"}, status=422,
                  code="MigrationCpuIncompatible")
    # the guest's network missing on the target
    vmutil.drop_network(env.twin, env.network)
    try:
        env.api.error("migrate-vm", {"node": "local", "name": guest, "target_node": "twin"}, status=404,
                      code="NetworkNotFound")
    finally:
        subnet = vmutil.free_subnet(env.local)
        vmutil.make_isolated_network(env.twin, env.network, subnet)


def _blank_vm(env: Env, name: str, start: bool) -> None:
    env.vms.append(name)
    env.run("create-vm", {"name": name, "memory_mib": 128, "pool": env.local_pool, "disk_size_gib": 1,
                          "start": start}, timeout=120)


def test_a_running_vm_on_local_disks_moves_live_with_its_disk_copied(env):
    name = unique("H-copy-")
    _blank_vm(env, name, start=True)
    vol = env.api.ok("describe-vm", {"node": "local", "name": name})["vm"]["disks"][0]
    plan = env.api.ok("check-migrate-vm", {"node": "local", "name": name, "target_node": "twin",
                                           "copy_storage": "none"})["plan"]
    assert plan["ok"] is False
    env.api.error("migrate-vm", {"node": "local", "name": name, "target_node": "twin", "copy_storage": "none"},
                  status=409, code="MigrationStorageNotShared")
    task = env.run("migrate-vm", {"node": "local", "name": name, "target_node": "twin"}, timeout=300)
    assert [d for d in task["result"]["disks"] if d["action"] != "none"] == [{"target": "vda", "action": "copy"}]
    assert task["result"]["removed_from_source"] == [{"pool": env.local_pool, "volume": vol["volume"],
                                                      "state": "deleted"}]
    assert env.twin.lookupByName(name).isActive()
    assert env.twin.storagePoolLookupByName(env.local_pool).storageVolLookupByName(vol["volume"])
    assert not Path(vol["path"]).exists()            # the source's copy is gone
    assert _twin_dir(vol["path"]).exists()           # the target's is in its own /var/lib/libvirt


def test_a_stopped_linked_clone_moves_offline_with_its_volumes_and_base_image(env):
    # the base image in the local pool (not on the twin), a linked clone with a cloud-init seed, never started
    vmutil.upload_file(env.local, env.local.storagePoolLookupByName(env.local_pool), BASE, vmutil.guest_image())
    name = unique("H-off-")
    env.vms.append(name)
    env.run("create-vm", {"name": name, "memory_mib": 256, "pool": env.local_pool, "volume": BASE,
                          "clone": "linked", "start": False, "cloud_init": {"hostname": name}}, timeout=120)
    vm = env.api.ok("describe-vm", {"node": "local", "name": name})["vm"]
    plan = env.api.ok("check-migrate-vm", {"node": "local", "name": name, "target_node": "twin"})["plan"]
    assert plan["ok"] is True and plan["mode"] == "offline", plan
    by_target = {d["target"]: d for d in plan["disks"]}
    system = by_target["vda"]
    assert system["action"] == "transfer" and system["backing"]["action"] == "transfer"
    seed = [d for d in plan["disks"] if d["device"] == "cdrom" and d["path"]]
    assert [d["action"] for d in seed] == ["transfer"]       # the cloud-init seed (an empty drive: none)
    task = env.run("migrate-vm", {"node": "local", "name": name, "target_node": "twin"}, timeout=300)
    assert task["result"]["mode"] == "offline"
    moved = env.api.ok("describe-vm", {"node": "twin", "name": name})["vm"]
    assert moved["state"] == "stopped" and moved["persistent"] is True
    assert moved["created_by"] == vm["created_by"] and moved["uuid"] == vm["uuid"]
    env.api.error("describe-vm", {"node": "local", "name": name}, status=404, code="VmNotFound")
    # the volumes are on the twin's pool, the overlay still on the (copied) base image
    pool = env.twin.storagePoolLookupByName(env.local_pool)
    pool.refresh(0)
    names = set(pool.listVolumes())
    assert {BASE, system["volume"]} <= names
    info = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(_twin_dir(system["path"]))],
                          capture_output=True, text=True, check=True).stdout
    assert f'"backing-filename": "{system["backing"]["path"]}"' in info
    # the source keeps its base image and drops the VM's own volumes
    src = env.local.storagePoolLookupByName(env.local_pool)
    src.refresh(0)
    assert BASE in src.listVolumes() and system["volume"] not in src.listVolumes()


def test_evacuate_moves_the_running_vms_off_the_second_node(env, guest):
    """The guest goes to the twin; the blank VM of the copy test (running there) and the stopped clone of the
    offline test are there already. Evacuating the twin (never the host's own node: other tests' VMs run
    there) moves both running VMs to the host, leaves the stopped one, and puts the twin in maintenance."""
    _move_live(env, guest, "local", "twin")
    running = sorted(d.name() for d in env.twin.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
    assert guest in running and len(running) == 2, running
    stopped = [d.name() for d in env.twin.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)]
    counter, boot_id = _inside(env, "twin", guest)
    task = env.run("evacuate-node", {"name": "twin", "target_nodes": ["local"]}, timeout=600)
    result = task["result"]
    assert sorted(m["vm"] for m in result["moved"]) == running and result["failed"] == [], result
    assert all(m["target_node"] == "local" for m in result["moved"])
    assert [s["vm"] for s in result["stayed"]] == stopped
    assert env.twin.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) == []
    for name in running:
        assert env.local.lookupByName(name).isActive()
    counter2, boot_id2 = _inside(env, "local", guest)
    assert boot_id2 == boot_id and counter2 > counter
    assert env.api.ok("describe-node", {"name": "twin"})["node"]["maintenance"] is True
    env.api.ok("enable-node", {"name": "twin"})
