"""A host as admins have it (issue 13), on the real libvirtd (tier 3): VMs defined with virsh, not through JVP,
then listed, described and operated through JVP's API (the Flask app on qemu:///system), with virsh as the
ground truth (`virsh dominfo`, `domstate --reason`, `dumpxml`, `list`).

Cases: a VM whose NIC names a network that was deleted afterwards; a UEFI VM whose loader and NVRAM are volumes
of a test pool; a direct-kernel-boot VM (kernel, initrd, dtb) that also has a volume-type disk on an overlay
whose backing file is another volume; a transient VM; a VM whose QEMU process was killed (libvirt: shut off,
reason crashed); a VM whose name has a space and non-ASCII characters. These guests boot no OS (diskless or
dummy-disk TCG guests sit in the BIOS or fail in it) and take seconds. One guest boots the cached Debian image
(about 90 s under TCG, up to three minutes on a busy machine): its guest agent suspends it to RAM
(pmsuspended, woken by resume-vm), then a kernel panic through the pvpanic device leaves libvirt's own
`crashed (panicked)` state (<on_crash>preserve</on_crash>), from which stop-vm force and start-vm recover it.

Every object carries the prefix jvptest-e- and is removed by the fixtures' finalizers even when a test fails
(virsh destroy, undefine --nvram; the pool and its files; the network).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import libvirt
import pytest

from jvp.hypervisor.xml import element, parse, sub, to_string
from tests.api.test_ref_index import eventually
from tests.conftest import unique
from tests.host import vmutil

pytestmark = pytest.mark.host

URI = "qemu:///system"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
AGENT_CHANNEL = "org.qemu.guest_agent.0"


def virsh(*args: str, check: bool = True) -> str:
    res = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res.stdout


def dominfo(name: str) -> dict[str, str]:
    out = virsh("dominfo", "--domain", name)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


# virsh's wording of a few reasons -> libvirt's enum names as JVP spells them (lower case, '-')
VIRSH_REASONS = {"event-wakeup": "wakeup", "post-copy": "postcopy", "post-copy-failed": "postcopy-failed"}


def domstate(name: str) -> tuple[str, str]:
    """virsh's "shut off (crashed)" as ("shut off", "crashed"); reasons spelled as JVP spells them."""
    out = virsh("domstate", "--reason", "--domain", name).strip()
    state, _, reason = out.partition(" (")
    reason = reason.rstrip(")").replace(" ", "-")
    return state, VIRSH_REASONS.get(reason, reason)


def virsh_names() -> set[str]:
    return {n for n in virsh("list", "--all", "--name").splitlines() if n.strip()}


def domain_xml(name: str, *, memory_mib: int = 128, current_mib: int = 96, vcpus: int = 2,
               current_vcpus: int = 1):
    """A TCG domain with no <cpu> (see HOST-NOTES), distinct current and maximum figures, a VNC display."""
    dom = element("domain", {"type": "qemu"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, memory_mib)
    sub(dom, "currentMemory", {"unit": "MiB"}, current_mib)
    sub(dom, "vcpu", {"current": current_vcpus}, vcpus)
    os_ = sub(dom, "os")
    sub(os_, "type", {"arch": "x86_64"}, "hvm")
    devices = sub(dom, "devices")
    sub(devices, "graphics", {"type": "vnc", "listen": "127.0.0.1", "autoport": "yes"})
    return dom


@dataclass
class Host:
    api: object
    conn: libvirt.virConnect
    work: Path
    pool: str
    pool_dir: Path
    domains: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def define(self, dom, *, transient: bool = False) -> str:
        """`virsh define` (or `create` for a transient domain) of the XML, from a file."""
        name = dom.findtext("name")
        self.domains.append(name)
        path = self.work / f"dom-{len(self.domains)}.xml"
        path.write_text(to_string(dom), encoding="utf-8")
        virsh("create" if transient else "define", "--file", str(path))
        return name

    def vm(self, name: str) -> dict:
        return self.api.ok("describe-vm", {"name": name})["vm"]

    def listed(self) -> dict[str, dict]:
        answer = self.api.ok("list-vms", {"node": "local"})
        assert answer["errors"] == [], answer["errors"]
        return {v["name"]: v for v in answer["vms"]}

    def pool_file(self, name: str, content: bytes | Path) -> Path:
        path = self.pool_dir / name
        if isinstance(content, Path):
            shutil.copyfile(content, path)
        else:
            path.write_bytes(content)
        return path

    def refresh(self) -> None:
        self.conn.storagePoolLookupByName(self.pool).refresh(0)


@pytest.fixture(scope="module")
def host(real_libvirt, tmp_path_factory):
    from tests.conftest import build_api, make_settings
    tmp = tmp_path_factory.mktemp("foreign")
    api = build_api(make_settings(tmp, local_uri=real_libvirt, node_timeout_s=10.0))
    conn = vmutil.open_conn(real_libvirt)
    pool = unique("e-pool-")
    h = Host(api=api, conn=conn, work=tmp, pool=pool, pool_dir=tmp / "pool")
    try:
        vmutil.make_pool(conn, pool, h.pool_dir)
        yield h
    finally:
        api.services.close()
        conn.close()
        cleanup(h)


def cleanup(h: Host) -> None:
    """Everything the module made, through virsh, each step on its own (one failure stops none of the others);
    libvirtd may be restarting (it is shared): each step is retried for a few seconds."""
    steps = []
    for name in h.domains:
        steps += [("destroy", "--domain", name), ("undefine", "--nvram", "--domain", name)]
    for net in h.networks:
        steps += [("net-destroy", "--network", net), ("net-undefine", "--network", net)]
    steps += [("pool-destroy", "--pool", h.pool), ("pool-undefine", "--pool", h.pool)]
    for step in steps:
        for _ in range(10):
            res = subprocess.run(["virsh", "-c", URI, *step], capture_output=True, text=True, timeout=60)
            if res.returncode == 0 or "failed to connect" not in res.stderr.lower():
                break  # done, or nothing to do (not found, not active)
            time.sleep(1)
    shutil.rmtree(h.pool_dir, ignore_errors=True)


def assert_figures_match_virsh(vm: dict, name: str) -> None:
    """describe-vm's figures against `virsh dominfo`, `domstate --reason` and the vCPU maximum in `dumpxml`."""
    info = dominfo(name)
    assert vm["name"] == info["Name"] and vm["uuid"] == info["UUID"]
    assert vm["persistent"] is (info["Persistent"] == "yes")
    assert vm["memory_mib"] * 1024 == int(info["Used memory"].split()[0])
    assert vm["max_memory_mib"] * 1024 == int(info["Max memory"].split()[0])
    assert vm["vcpus"] == int(info["CPU(s)"])
    assert vm["max_vcpus"] == int(parse(virsh("dumpxml", "--domain", name)).findtext("vcpu"))
    state, reason = domstate(name)
    expect = {"running": "running", "shut off": "stopped", "paused": "paused", "crashed": "crashed",
              "pmsuspended": "pmsuspended", "in shutdown": "shutting-down"}[state]
    assert (vm["state"], vm["state_reason"]) == (expect, reason)


# -- a NIC on a network that was deleted -------------------------------------------------------------------
@pytest.fixture(scope="module")
def dangling(host):
    net = unique("e-net-")
    host.networks.append(net)
    vmutil.make_isolated_network(host.conn, net, vmutil.free_subnet(host.conn))
    dom = domain_xml(unique("e-dangling-"))
    iface = sub(dom.find("devices"), "interface", {"type": "network"})
    sub(iface, "source", {"network": net})
    sub(iface, "model", {"type": "virtio"})
    name = host.define(dom)
    virsh("net-destroy", "--network", net)
    virsh("net-undefine", "--network", net)
    return name, net


def test_a_vm_on_a_deleted_network_is_listed_with_a_problem_and_the_others_too(host, dangling):
    name, net = dangling
    before = virsh_names()
    listed = host.listed()
    after = virsh_names()
    assert (before & after) <= set(listed), "list-vms left out VMs virsh lists"
    row = listed[name]
    assert row["problems"], row
    assert any(net in p["message"] for p in row["problems"]), row["problems"]
    assert all(set(p) >= {"code", "message"} for p in row["problems"])
    vm = host.vm(name)
    assert vm["problems"] == row["problems"]
    assert_figures_match_virsh(vm, name)
    assert [n["network"] for n in vm["nics"]] == [net]
    mac = parse(virsh("dumpxml", "--domain", name)).find("devices/interface/mac").get("address")
    assert vm["nics"][0]["mac"] == mac


def test_starting_a_vm_on_a_deleted_network_answers_what_libvirt_said(host, dangling):
    name, net = dangling
    resp = host.api.call("start-vm", {"name": name})
    body = resp.get_json()
    assert resp.status_code not in (200, 404) and resp.status_code < 500, (resp.status_code, body)
    assert body["error"]["code"] != "VmNotFound", body
    assert net in body["error"]["message"], body
    assert body["error"]["details"]["libvirt_error"]["code"] == libvirt.VIR_ERR_NO_NETWORK, body
    assert domstate(name)[0] == "shut off"  # libvirt did not start it
    host.vm(name)  # still described


# -- UEFI with NVRAM, loader and NVRAM as volumes of a test pool ---------------------------------------------
@pytest.fixture(scope="module")
def uefi(host):
    if not (OVMF_CODE.exists() and OVMF_VARS.exists()):
        pytest.skip("OVMF is not installed (apt-get install ovmf)")
    name = unique("e-uefi-")
    code = host.pool_file(f"{name}_CODE.fd", OVMF_CODE)
    nvram = host.pool_file(f"{name}_VARS.fd", OVMF_VARS)
    host.refresh()
    dom = domain_xml(name)
    os_ = dom.find("os")
    sub(os_, "loader", {"readonly": "yes", "type": "pflash"}, str(code))
    sub(os_, "nvram", None, str(nvram))
    sub(sub(dom, "features"), "acpi")  # libvirt: UEFI requires ACPI on x86
    host.define(dom)
    return name, code, nvram


def test_a_uefi_vm_is_described_as_virsh_shows_it(host, uefi):
    name, code, nvram = uefi
    xml = parse(virsh("dumpxml", "--domain", name))
    assert xml.findtext("os/nvram") == str(nvram) and xml.findtext("os/loader") == str(code)
    vm = host.vm(name)
    assert vm["firmware"] == "uefi"
    assert vm["state"] == "stopped" and vm["persistent"] is True
    assert name in host.listed()


def test_the_nvram_and_the_loader_of_a_defined_vm_cannot_be_deleted(host, uefi):
    name, code, nvram = uefi
    # the fixture defined the VM with virsh: JVP's reference index learns of it from its lifecycle event
    def users() -> dict:
        used = {v["name"]: v["used_by"] for v in host.api.ok("list-volumes", {"pool": host.pool})["volumes"]}
        return {vol: used.get(vol) for vol in (nvram.name, code.name)}
    used = eventually(users, {nvram.name: [name], code.name: [name]})
    assert used[nvram.name] == [name] and used[code.name] == [name], used
    for vol in (nvram, code):
        err = host.api.error("delete-volume", {"pool": host.pool, "name": vol.name}, status=409,
                             code="VolumeInUse")
        assert err["details"]["vms"] == [name], err
        assert vol.exists()


# -- direct kernel boot, a volume-type disk on an overlay of another volume -----------------------------------
@pytest.fixture(scope="module")
def kernel_boot(host):
    name = unique("e-kernel-")
    files = {role: host.pool_file(f"{name}-{fname}", b"\0" * 4096)
             for role, fname in (("kernel", "vmlinuz"), ("initrd", "initrd.img"), ("dtb", "board.dtb"))}
    base, overlay = host.pool_dir / f"{name}-base.qcow2", host.pool_dir / f"{name}-overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay)],
                   check=True)
    host.refresh()
    dom = domain_xml(name)
    os_ = dom.find("os")
    for role, path in files.items():
        sub(os_, role, None, str(path))
    sub(os_, "cmdline", None, "console=ttyS0")
    disk = sub(dom.find("devices"), "disk", {"type": "volume", "device": "disk"})
    sub(disk, "driver", {"name": "qemu", "type": "qcow2"})
    sub(disk, "source", {"pool": host.pool, "volume": overlay.name})
    sub(disk, "target", {"dev": "vda", "bus": "virtio"})
    host.define(dom)
    return name, files, base, overlay


def test_a_direct_kernel_boot_vm_is_described_with_its_volume_disk(host, kernel_boot):
    name, files, base, overlay = kernel_boot
    vm = host.vm(name)
    xml = parse(virsh("dumpxml", "--domain", name))
    assert {r: xml.findtext(f"os/{r}") for r in files} == {r: str(p) for r, p in files.items()}
    [disk] = vm["disks"]
    vol_path = virsh("vol-path", "--pool", host.pool, overlay.name).strip()
    assert (disk["target"], disk["bus"], disk["pool"], disk["volume"], disk["path"]) == (
        "vda", "virtio", host.pool, overlay.name, vol_path)


def test_the_boot_files_and_the_disk_chain_of_a_defined_vm_cannot_be_deleted(host, kernel_boot):
    name, files, base, overlay = kernel_boot
    for path in (*files.values(), overlay, base):
        err = host.api.error("delete-volume", {"pool": host.pool, "name": path.name}, status=409,
                             code="VolumeInUse")
        assert name in str(err["details"]), (path.name, err)
        assert path.exists()


# -- a transient VM ----------------------------------------------------------------------------------------
def test_a_transient_vm_is_listed_not_persistent_and_stopping_it_removes_it(host):
    name = host.define(domain_xml(unique("e-transient-")), transient=True)
    assert dominfo(name)["Persistent"] == "no"
    row = host.listed()[name]
    assert row["persistent"] is False and row["state"] == "running"
    vm = host.vm(name)
    assert_figures_match_virsh(vm, name)
    answer = host.api.ok("stop-vm", {"name": name, "force": True})
    assert answer["stopped"] is True and answer["gone"] is True, answer
    assert name not in virsh_names()
    host.api.error("describe-vm", {"name": name}, status=404, code="VmNotFound")
    assert name not in host.listed()


# -- a VM whose QEMU process was killed ----------------------------------------------------------------------
def qemu_pid(name: str) -> int:
    """From libvirt's pidfile: never by matching process names."""
    return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())


def wait_state(name: str, state: str, timeout_s: float = 20) -> tuple[str, str]:
    deadline = time.monotonic() + timeout_s
    while (st := domstate(name))[0] != state and time.monotonic() < deadline:
        time.sleep(0.2)
    return st


def test_a_vm_whose_qemu_was_killed_shows_crashed_and_start_recovers_it(host):
    dom = domain_xml(unique("e-crash-"))
    sub(dom, "on_crash", None, "preserve")
    name = host.define(dom)
    virsh("start", "--domain", name)
    pid = qemu_pid(name)
    os.kill(pid, signal.SIGKILL)
    assert wait_state(name, "shut off") == ("shut off", "crashed")
    vm = host.vm(name)
    assert (vm["state"], vm["state_reason"]) == ("stopped", "crashed")
    assert_figures_match_virsh(vm, name)
    assert host.listed()[name]["state"] == "stopped"
    host.api.error("stop-vm", {"name": name, "force": True}, status=409, code="InvalidState")
    answer = host.api.ok("start-vm", {"name": name})
    assert answer["state"] == "running" and domstate(name)[0] == "running"
    assert qemu_pid(name) != pid
    answer = host.api.ok("stop-vm", {"name": name, "force": True})
    assert answer["stopped"] is True and domstate(name) == ("shut off", "destroyed")


# -- a name with a space and non-ASCII characters ------------------------------------------------------------
def test_a_vm_named_with_a_space_and_non_ascii_is_addressed_by_its_exact_name(host):
    name = host.define(domain_xml(unique("e-Grüße an alle ") + " ü"))
    assert name in virsh_names()
    assert name in host.listed()
    vm = host.vm(name)
    assert vm["name"] == name
    assert_figures_match_virsh(vm, name)
    answer = host.api.ok("start-vm", {"name": name})
    assert answer["vm"]["name"] == name and domstate(name)[0] == "running"
    assert host.listed()[name]["state"] == "running"
    answer = host.api.ok("stop-vm", {"name": name, "force": True})
    assert answer["stopped"] is True and domstate(name)[0] == "shut off"
    assert host.api.ok("describe-vm-xml", {"name": name})["name"] == name


@pytest.mark.parametrize("case", ["dangling", "uefi", "kernel_boot"])
def test_the_defined_vms_figures_are_virshs(host, case, request):
    name = request.getfixturevalue(case)[0]
    assert_figures_match_virsh(host.vm(name), name)
    row = host.listed()[name]
    info = dominfo(name)
    assert (row["memory_mib"], row["max_memory_mib"], row["vcpus"]) == (
        int(info["Used memory"].split()[0]) // 1024, int(info["Max memory"].split()[0]) // 1024,
        int(info["CPU(s)"]))


# -- a booted guest: pm-suspended and woken, then panicked (libvirt's own crashed state) -----------------
@pytest.fixture(scope="module")
def booted(host):
    """The one guest of this module that boots an OS (the cached Debian image through a qcow2 overlay; about
    90 s under TCG, more when the machine is busy): its guest agent suspends it to RAM, and a kernel panic
    reaches libvirt through the ISA pvpanic device, kept as `crashed (panicked)` by <on_crash>preserve."""
    image = vmutil.guest_image()
    name = unique("e-booted-")
    overlay = host.pool_dir / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image), str(overlay)],
                   check=True)
    dom = domain_xml(name, memory_mib=512, current_mib=512, vcpus=1)
    sub(sub(dom, "features"), "acpi")
    sub(dom, "on_crash", None, "preserve")
    sub(sub(dom, "pm"), "suspend-to-mem", {"enabled": "yes"})
    devices = dom.find("devices")
    disk = sub(devices, "disk", {"type": "file", "device": "disk"})
    sub(disk, "driver", {"name": "qemu", "type": "qcow2"})
    sub(disk, "source", {"file": str(overlay)})
    sub(disk, "target", {"dev": "vda", "bus": "virtio"})
    sub(sub(devices, "channel", {"type": "unix"}), "target", {"type": "virtio", "name": AGENT_CHANNEL})
    sub(devices, "serial", {"type": "pty"})
    sub(devices, "panic", {"model": "isa"})
    host.define(dom)
    virsh("start", "--domain", name)
    vmutil.wait_agent(host.conn.lookupByName(name), timeout_s=420)
    return name


def test_a_guest_that_suspended_itself_shows_pmsuspended_and_resume_wakes_it(host, booted):
    name = booted
    virsh("dompmsuspend", "--domain", name, "--target", "mem")
    assert wait_state(name, "pmsuspended")[0] == "pmsuspended"
    vm = host.vm(name)
    assert vm["state"] == "pmsuspended"
    assert_figures_match_virsh(vm, name)
    assert host.listed()[name]["state"] == "pmsuspended"
    answer = host.api.ok("resume-vm", {"name": name})
    assert answer["state"] == "running"
    assert domstate(name) == ("running", "wakeup")
    assert (answer["vm"]["state"], answer["vm"]["state_reason"]) == ("running", "wakeup")


def test_a_panicked_guest_shows_crashed_and_stop_force_then_start_recover_it(host, booted):
    name = booted
    if domstate(name)[0] != "running":  # the test above left it asleep
        virsh("dompmwakeup", "--domain", name)
        assert wait_state(name, "running")[0] == "running"
    dom = host.conn.lookupByName(name)
    vmutil.wait_agent(dom, timeout_s=60)
    vmutil.agent(dom, "guest-exec", path="/bin/sh",
                 arg=["-c", "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger"])
    assert wait_state(name, "crashed", timeout_s=60) == ("crashed", "panicked")
    vm = host.vm(name)
    assert (vm["state"], vm["state_reason"]) == ("crashed", "panicked")
    assert_figures_match_virsh(vm, name)
    assert host.listed()[name]["state"] == "crashed"
    answer = host.api.ok("stop-vm", {"name": name, "force": True})
    assert answer["stopped"] is True and domstate(name) == ("shut off", "destroyed")
    answer = host.api.ok("start-vm", {"name": name})
    assert answer["state"] == "running" and domstate(name) == ("running", "booted")


# -- last: the UEFI VM runs, stops and is deleted with its NVRAM (its loader, shared firmware, stays) ---------
def test_the_uefi_vm_starts_stops_and_delete_removes_its_nvram_only(host, uefi):
    name, code, nvram = uefi
    answer = host.api.ok("start-vm", {"name": name})
    assert answer["state"] == "running" and domstate(name)[0] == "running"
    answer = host.api.ok("stop-vm", {"name": name, "force": True})
    assert answer["stopped"] is True and domstate(name) == ("shut off", "destroyed")
    answer = host.api.ok("delete-vm", {"name": name})
    assert answer["nvram_removed"] is True
    assert name not in virsh_names()
    assert not nvram.exists() and code.exists()
