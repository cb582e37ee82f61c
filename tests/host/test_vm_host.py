"""VMs on the real libvirtd (tier 3), through a real `jvp serve`.

The cached Debian cloud image is registered as a template through JVP (register-template from a file on the
JVP server, sha256-verified, streamed into the pool's template pool). The README's VM session creates the
guest from that template (a linked clone, cloud-init with a user, a password and a keypair, on an isolated
network in 198.18.0.0/15), and the tests check it from the outside between the README's blocks: hostname,
user and key through the guest agent, the DHCP lease in describe-vm, the domain XML, the password reset in
/etc/shadow, a graceful stop, and a delete that leaves nothing but the template. One guest is booted (boots
take minutes under TCG); the tests run in file order on it. The last test registers the image on the
second real libvirt node (tests/host/second_node.py: another host) too and creates, starts and deletes a VM
from it there: the image and the seed ISO reach that daemon's pool through libvirt streams only.
"""
from __future__ import annotations

import io
import ipaddress
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import pycdlib
import pytest
from lxml import etree

from jvp.hypervisor.domain_xml import NS
from tests.conftest import REPO, start_server, stop_server, unique
from tests.host import second_node as bed
from tests.host import vmutil
from tests.host.test_readme import readme_block


@dataclass
class Env:
    server: Any
    conn: libvirt.virConnect
    pool: str
    pool_dir: Path
    network: str
    subnet: ipaddress.IPv4Network
    work: Path
    vm: str
    template: str
    image: Path
    vms: list[str] = field(default_factory=list)

    def call(self, action: str, body: dict, status: int = 200) -> dict:
        resp = self.server.post(action, body)
        assert resp.status_code == status, (action, resp.status_code, resp.text)
        return resp.json()

    def run_task(self, action: str, body: dict, timeout_s: float = 300) -> dict:
        task = self.call(action, body, status=202)["task"]
        deadline = time.monotonic() + timeout_s
        while task["state"] in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(1)
            task = self.call("describe-task", {"id": task["id"]})["task"]
        return task

    def register_template(self, name: str, node: str = "local") -> dict:
        """The cached guest image as a template, through JVP: a `file` source on the JVP server."""
        sha = Path(f"{self.image}.sha256").read_text().split()[0]
        done = self.run_task("register-template", {
            "node": node, "pool": self.pool, "name": name,
            "source": {"type": "file", "path": str(self.image), "sha256": sha},
            "os": {"name": "debian", "version": "12", "arch": "x86_64"},
            "features": {"cloud_init": True, "virtio": True, "qemu_guest_agent": True}})
        assert done["state"] == "succeeded", done
        assert done["result"]["template"]["source"]["verified"] is True
        return done["result"]["template"]

    def shell(self, marker: str, timeout: float) -> list[dict]:
        """Run a README block in bash (state kept between blocks in state.sh); its JSON output lines."""
        state = self.work / "state.sh"
        prelude = f"source {state}\n" if state.exists() else ""
        script = (prelude + readme_block(marker)
                  + f"\n{{ declare -p OPS JVP POOL TEMPLATE NET VM; declare -f api; }} > {state}\n")
        env = {**os.environ, "JVP_URL": self.server.url, "JVP_DATA_DIR": str(self.server.data_dir),
               "JVP_CONFIG": str(self.server.data_dir.parent / "config.yaml"), "POOL": self.pool,
               "TEMPLATE": self.template, "NET": self.network, "VM": self.vm}
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.work, env=env,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, (res.stdout, res.stderr)
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def env(real_libvirt, tmp_path_factory):
    image = vmutil.guest_image()
    tmp = tmp_path_factory.mktemp("vm")
    (tmp / "work").mkdir()
    (tmp / "work" / ".venv").symlink_to(REPO / ".venv")  # the README calls .venv/bin/jvp
    (tmp / "server").mkdir()
    # the image's directory is the one place file sources may come from
    server = start_server(tmp / "server", real_libvirt, extra_env={
        "JVP_DOWNLOAD_ALLOW_FILE_URLS": "true", "JVP_DOWNLOAD_FILE_DIRS": f"[{image.parent}]"})
    conn = vmutil.open_conn()
    pool, network = unique("pool-"), unique("net-")
    e = Env(server=server, conn=conn, pool=pool, pool_dir=tmp / "pool", network=network, subnet=None,
            work=tmp / "work", vm=unique("vm-"), template=unique("tpl-"), image=image)
    try:
        vmutil.make_pool(conn, pool, e.pool_dir)
        e.register_template(e.template)
        e.subnet = vmutil.free_subnet(conn)
        vmutil.make_isolated_network(conn, network, e.subnet)
        e.vms.append(e.vm)
        yield e
    finally:
        for name in e.vms:
            vmutil.drop_domain(conn, name)
        try:  # JVP's own delete first; the pools below go in any case
            e.server.post("delete-template", {"name": e.template})
        except Exception:  # noqa: BLE001 - the server may be the thing that failed
            pass
        vmutil.drop_network(conn, network)
        vmutil.drop_pool(conn, pool + "_templates_")
        vmutil.drop_pool(conn, pool)
        stop_server(server)
        conn.close()


@pytest.fixture(scope="module")
def created(env):
    """README block 1: keypair, create-vm, task polled, VM polled until the agent and an IP show."""
    task, vm = env.shell("vms-create", timeout=600)
    dom = env.conn.lookupByName(env.vm)
    code, out, err = vmutil.guest_exec(dom, "/usr/bin/cloud-init", "status", "--wait", timeout_s=300)
    assert "done" in out, (code, out, err)
    return {"task": task, "vm": vm, "dom": dom}


def test_the_readme_creates_a_running_vm_with_an_ip(env, created):
    task, vm = created["task"], created["vm"]
    assert task["state"] == "succeeded", task
    # KVM stops guests in firmware on this host: the probe said so and JVP fell back to TCG
    assert "emulation" in task["message"] and task["result"]["vm"]["domain_type"] == "qemu"
    assert vm["state"] == "running" and vm["guest_agent"] is True
    assert vm["ips"] and all(ipaddress.ip_address(ip) in env.subnet for ip in vm["ips"] if ":" not in ip)
    leases = env.conn.networkLookupByName(env.network).DHCPLeases()
    assert {lease["ipaddr"] for lease in leases if lease["mac"] == vm["nics"][0]["mac"]} & set(vm["ips"])


def test_the_guest_has_the_identity_cloud_init_was_asked_for(env, created):
    dom = created["dom"]
    assert vmutil.agent(dom, "guest-get-host-name")["host-name"] == env.vm
    code, out, _ = vmutil.guest_exec(dom, "/usr/bin/getent", "passwd", "alice")
    assert code == 0 and out.startswith("alice:")
    public = env.call("describe-keypair", {"name": f"{env.vm}-key"})["keypair"]["public_key"]
    code, keys, _ = vmutil.guest_exec(dom, "/bin/cat", "/home/alice/.ssh/authorized_keys")
    assert code == 0 and public.split()[1] in keys
    assert (env.work / f"{env.vm}-key").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    code, shadow, _ = vmutil.guest_exec(dom, "/usr/bin/getent", "shadow", "alice")
    assert shadow.split(":")[1].startswith("$6$") and vmutil.password_matches("first-Pass-1", shadow.split(":")[1])


def test_domain_xml_describe_and_list(env, created):
    config = etree.fromstring(created["dom"].XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    # cpu_mode auto under TCG: JVP writes no <cpu>; libvirt records the default model it used at start
    cpu = config.find("cpu")
    assert config.get("type") == "qemu" and (cpu is None or cpu.get("mode") == "custom")
    root = etree.fromstring(created["dom"].XMLDesc(0).encode())
    vnc = root.find("devices/graphics[@type='vnc']")
    assert vnc.get("listen") == "127.0.0.1" and vnc.find("listen").get("address") == "127.0.0.1"
    assert root.find("devices/channel/target[@name='org.qemu.guest_agent.0']").get("state") == "connected"
    assert root.find(f"metadata/{{{NS}}}vm/{{{NS}}}created-by").text == "vm-ops"
    vm = env.call("describe-vm", {"name": env.vm})["vm"]
    system = next(d for d in vm["disks"] if d["system"])
    assert (system["pool"], system["volume"]) == (env.pool, f"{env.vm}-root.qcow2")
    template = env.call("describe-template", {"name": env.template})["template"]
    assert system["backing"] == template["storage"]["path"] == str(
        env.pool_dir / "_templates_" / f"{env.template}-v1.qcow2")
    assert vm["template"] == env.template
    assert [v["name"] for v in template["usage"]["vms"]] == [env.vm] and template["usage"]["last_used"]
    assert vm["cloud_init"]["seed_volume"].startswith(".jvp-cidata-") and vm["keypairs"] == [f"{env.vm}-key"]
    assert vm["uptime"] > 0 and vm["graphics"][0]["port"] >= 5900
    listed = env.call("list-vms", {"node": "local", "label": "none"})
    assert listed["vms"] == []
    row = next(v for v in env.call("list-vms", {})["vms"] if v["name"] == env.vm)
    assert row["ips"] == vm["ips"] and row["state"] == "running"
    summary = env.call("describe-node-summary", {"name": "local"})["summary"]
    assert summary["virtualization"]["kvm_usable"] is False


def _guest_disks(dom) -> set[str]:
    return set(vmutil.guest_exec(dom, "/bin/ls", "/sys/block")[1].split())


def _eventually(check, timeout_s: float = 60) -> bool:
    """The guest handles PCI hot-plug (an ACPI event) in its own time, slowly under TCG."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def test_live_device_changes_on_the_running_guest(env, created):
    """Hot-plug is what libvirt's test driver cannot do: disks, NICs, cdrom media and memory, live."""
    dom = created["dom"]
    pool = env.conn.storagePoolLookupByName(env.pool)
    for name in ("jvptest-extra.raw", "jvptest-media.iso"):
        vmutil.make_volume(pool, name, 2**20)
    try:
        res = env.call("attach-volume", {"name": env.vm, "pool": env.pool, "volume": "jvptest-extra.raw"})
        assert res["live"] == "applied" and res["target"] == "vdb"
        assert _eventually(lambda: "vdb" in _guest_disks(dom))
        res = env.call("detach-volume", {"name": env.vm, "target": "vdb"})
        assert res["live"] in ("applied", "pending")  # pending: the guest had not released it within 5 s
        assert _eventually(lambda: "vdb" not in _guest_disks(dom))
        assert _eventually(lambda: "vdb" not in {d["target"] for d in env.call(
            "describe-vm", {"name": env.vm})["vm"]["disks"]})
        res = env.call("attach-nic", {"name": env.vm, "network": env.network})
        mac = res["mac"]
        assert res["live"] == "applied"
        assert _eventually(lambda: mac in {i.get("hardware-address") for i in vmutil.agent(
            dom, "guest-network-get-interfaces")})
        assert env.call("detach-nic", {"name": env.vm, "mac": mac})["live"] in ("applied", "pending")
        assert _eventually(lambda: all(n["mac"] != mac for n in env.call(
            "describe-vm", {"name": env.vm})["vm"]["nics"]))
        res = env.call("insert-media", {"name": env.vm, "target": "hda", "pool": env.pool,
                                        "volume": "jvptest-media.iso"})
        assert next(d for d in res["vm"]["disks"] if d["target"] == "hda")["volume"] == "jvptest-media.iso"
        res = env.call("eject-media", {"name": env.vm, "target": "hda"})
        assert next(d for d in res["vm"]["disks"] if d["target"] == "hda")["path"] is None
        res = env.call("modify-vm", {"name": env.vm, "memory_mib": 768, "vcpus": 2})
        assert res["applied_live"] == ["memory_mib"] and res["next_boot"] == ["vcpus"]
        assert _eventually(lambda: dom.info()[2] == 768 * 1024, 30)  # the guest's balloon reached the target
    finally:
        for name in ("jvptest-extra.raw", "jvptest-media.iso"):
            try:
                pool.storageVolLookupByName(name).delete(0)
            except libvirt.libvirtError:
                pass


def test_reset_password_through_the_guest_agent(env, created):
    dom = created["dom"]
    _, before, _ = vmutil.guest_exec(dom, "/usr/bin/getent", "shadow", "alice")
    assert env.shell("vms-password", timeout=60) == [{"ok": True}]
    _, after, _ = vmutil.guest_exec(dom, "/usr/bin/getent", "shadow", "alice")
    old_hash, new_hash = before.split(":")[1], after.split(":")[1]
    assert new_hash != old_hash and vmutil.password_matches("second-Pass-2", new_hash)
    err = env.call("reset-vm-password", {"name": env.vm, "user": "nobody-here", "password": "x"}, status=422)
    assert err["error"]["details"]["libvirt_error"]["message"]


def test_stop_waits_for_the_guest_then_delete_leaves_no_file(env, created):
    seed = env.call("describe-vm", {"name": env.vm})["vm"]["cloud_init"]["seed_volume"]
    stopped, deleted = env.shell("vms-delete", timeout=240)
    assert stopped["stopped"] is True and stopped["state"] == "stopped" and stopped["waited_s"] > 0
    assert {v["volume"] for v in deleted["deleted_volumes"]} == {f"{env.vm}-root.qcow2", seed}
    assert deleted["kept_volumes"] == []
    with pytest.raises(libvirt.libvirtError):
        env.conn.lookupByName(env.vm)
    # only the template is left: its directory, holding its image
    assert sorted(p.name for p in env.pool_dir.iterdir()) == ["_templates_"]
    assert sorted(p.name for p in (env.pool_dir / "_templates_").iterdir()) == [f"{env.template}-v1.qcow2"]
    assert env.call("describe-template", {"name": env.template})["template"]["usage"]["vm_count"] == 0


def _read_iso_file(conn: libvirt.virConnect, pool: str, volume: str, name: str) -> bytes:
    """Download the seed volume through a libvirt stream and read one file of the ISO."""
    vol = conn.storagePoolLookupByName(pool).storageVolLookupByName(volume)
    stream, data = conn.newStream(0), bytearray()
    vol.download(stream, 0, 0, 0)
    while chunk := stream.recv(256 * 1024):
        data += chunk
    stream.finish()
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(bytes(data)))
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
    iso.close()
    return out.getvalue()


def test_create_start_delete_on_the_second_node(env, second_node):
    """The second node has its own pool and network of the same names (its pool in a directory it has, the
    bed's shared one; its network in its own network namespace), nothing of the host's."""
    node, name, template = unique("K-twin-"), unique("K-vm-"), unique("K-tpl-")
    remote = vmutil.open_conn(second_node.uri)
    pool_dir = Path(second_node.shared) / unique("K-pool-")
    user_data = "#cloud-config\n# raw: kept byte for byte, comments and all\nruncmd:\n  - [echo, 'héllo']\n"
    try:
        vmutil.make_pool(remote, env.pool, pool_dir)
        vmutil.make_isolated_network(remote, env.network, env.subnet)  # its own namespace: no clash
        env.call("create-node", {"name": node, "uri": second_node.uri})
        env.register_template(template, node=node)  # the image reaches the node through a libvirt stream
        done = env.run_task("create-vm", {
            "node": node, "name": name, "memory_mib": 256, "pool": env.pool, "template": template,
            "firmware": "uefi", "nics": [{"network": env.network}], "user_data": user_data}, timeout_s=120)
        assert done["state"] == "succeeded", done
        vm = env.call("describe-vm", {"node": node, "name": name})["vm"]
        assert vm["state"] == "running" and vm["node"] == node and vm["firmware"] == "uefi"
        assert vm["template"] == template
        assert remote.lookupByName(name).isActive() and name not in {d.name() for d in env.conn.listAllDomains(0)}
        seed = vm["cloud_init"]
        assert _read_iso_file(remote, env.pool, seed["seed_volume"], "user-data") == user_data.encode()
        nvram = etree.fromstring(remote.lookupByName(name).XMLDesc(0).encode()).findtext("os/nvram")
        assert nvram and bed.host_path(nvram).exists()  # in the second daemon's own /var/lib/libvirt
        env.call("delete-vm", {"node": node, "name": name}, status=409)
        res = env.call("delete-vm", {"node": node, "name": name, "force": True, "delete_volumes": True})
        assert res["nvram_removed"] is True and not bed.host_path(nvram).exists()
        assert env.call("delete-template", {"node": node, "name": template})["ok"] is True
        assert list(pool_dir.iterdir()) == []  # the VM's volumes, its seed, the template and its pool: gone
        # the host's pool holds what it held: the module's template, nothing of the second node's
        assert sorted(p.name for p in env.pool_dir.iterdir()) == ["_templates_"]
        assert sorted(p.name for p in (env.pool_dir / "_templates_").iterdir()) == [f"{env.template}-v1.qcow2"]
    finally:
        vmutil.drop_domain(remote, name)
        env.server.post("delete-template", {"node": node, "name": template})  # when the test failed before it
        env.server.post("delete-node", {"name": node})
        vmutil.drop_pool(remote, env.pool + "_templates_")
        vmutil.drop_pool(remote, env.pool)
        vmutil.drop_network(remote, env.network)
        remote.close()
        shutil.rmtree(pool_dir, ignore_errors=True)
