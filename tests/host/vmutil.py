"""Helpers for the real-host VM tests: a temp-dir pool holding the cached guest image (sent through a
libvirt upload stream), an isolated test network, and guest-agent commands to check a guest from outside."""
from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import subprocess
import time
from pathlib import Path

import libvirt
import libvirt_qemu

from jvp.hypervisor.xml import element, parse, sub, to_string

# the cached image tests/fixtures/build-guest-image.sh keeps, BIOS- and UEFI-bootable (JVP_TEST_GUEST_IMAGE:
# another build of it)
GUEST_IMAGE = Path(os.environ.get("JVP_TEST_GUEST_IMAGE", "/var/cache/jvp-test/debian12-cloud-hybrid.qcow2"))
BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "build-guest-image.sh"
# 198.18.128.0/17: the part of the test space (198.18.0.0/15) these tests draw from
VM_TEST_SPACE = ipaddress.ip_network("198.18.128.0/17")


def open_conn(uri: str = "qemu:///system") -> libvirt.virConnect:
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt.open(uri)


def guest_image() -> Path:
    """The cached Debian cloud image; the fixture script returns at once when the cache is valid and
    (re)builds it otherwise."""
    subprocess.run(["bash", str(BUILD_SCRIPT), str(GUEST_IMAGE)], check=True, stdout=subprocess.DEVNULL)
    return GUEST_IMAGE


def make_pool(conn: libvirt.virConnect, name: str, path: Path) -> libvirt.virStoragePool:
    path.mkdir(parents=True, exist_ok=True)
    pool = element("pool", {"type": "dir"})
    sub(pool, "name", text_=name)
    sub(sub(pool, "target"), "path", text_=str(path))
    p = conn.storagePoolDefineXML(to_string(pool), 0)
    p.create(0)
    return p


def upload_file(conn: libvirt.virConnect, pool: libvirt.virStoragePool, name: str, src: Path) -> None:
    """A raw volume of the file's size, filled through a libvirt stream; the pool refresh then sees the
    qcow2 inside."""
    size = src.stat().st_size
    vol_xml = element("volume")
    sub(vol_xml, "name", text_=name)
    sub(vol_xml, "capacity", {"unit": "bytes"}, size)
    sub(vol_xml, "allocation", {"unit": "bytes"}, 0)
    sub(sub(vol_xml, "target"), "format", {"type": "raw"})
    vol = pool.createXML(to_string(vol_xml), 0)
    stream = conn.newStream(0)
    vol.upload(stream, 0, size, 0)
    with open(src, "rb") as fh:
        while chunk := fh.read(4 * 2**20):
            off = 0
            while off < len(chunk):
                off += stream.send(chunk[off:])
    stream.finish()
    pool.refresh(0)


def make_volume(pool: libvirt.virStoragePool, name: str, size: int) -> libvirt.virStorageVol:
    vol = element("volume")
    sub(vol, "name", text_=name)
    sub(vol, "capacity", {"unit": "bytes"}, size)
    sub(sub(vol, "target"), "format", {"type": "raw"})
    return pool.createXML(to_string(vol), 0)


def drop_pool(conn: libvirt.virConnect, name: str) -> None:
    try:
        p = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        return
    if p.isActive():
        p.refresh(0)
        for v in p.listAllVolumes(0):
            try:
                v.delete(0)
            except libvirt.libvirtError:
                pass
        p.destroy()
    try:
        p.delete(0)
    except libvirt.libvirtError:
        pass
    p.undefine()


def free_subnet(conn: libvirt.virConnect) -> ipaddress.IPv4Network:
    taken = []
    for net in conn.listAllNetworks(0):
        for ip in parse(net.XMLDesc(0)).findall("ip"):
            if ip.get("address") and ip.get("family", "ipv4") == "ipv4":
                prefix = ip.get("prefix") or ip.get("netmask") or "24"
                taken.append(ipaddress.ip_interface(f"{ip.get('address')}/{prefix}").network)
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    for link in json.loads(out):
        for a in link.get("addr_info", []):
            taken.append(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network)
    candidates = list(VM_TEST_SPACE.subnets(new_prefix=24))
    random.shuffle(candidates)
    return next(s for s in candidates if not any(s.overlaps(t) for t in taken))


def make_isolated_network(conn: libvirt.virConnect, name: str, subnet: ipaddress.IPv4Network
                          ) -> libvirt.virNetwork:
    """No <forward>: guests reach the host and each other, nothing else."""
    net = element("network")
    sub(net, "name", text_=name)
    sub(net, "bridge", {"name": f"jvpv{random.randint(0, 99999)}", "stp": "on", "delay": "0"})
    ip = sub(net, "ip", {"address": str(subnet.network_address + 1), "prefix": subnet.prefixlen})
    sub(sub(ip, "dhcp"), "range", {"start": str(subnet.network_address + 100),
                                   "end": str(subnet.network_address + 200)})
    n = conn.networkDefineXML(to_string(net))
    n.create()
    return n


def drop_network(conn: libvirt.virConnect, name: str) -> None:
    try:
        n = conn.networkLookupByName(name)
    except libvirt.libvirtError:
        return
    if n.isActive():
        n.destroy()
    n.undefine()


def drop_domain(conn: libvirt.virConnect, name: str) -> None:
    try:
        d = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    if d.isActive():
        d.destroy()
    try:
        d.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    except libvirt.libvirtError:
        pass


# -- the guest agent, from outside ---------------------------------------------------------------------
def agent(dom: libvirt.virDomain, command: str, timeout: int = 10, **arguments) -> dict:
    msg = {"execute": command, **({"arguments": arguments} if arguments else {})}
    return json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(msg), timeout, 0))["return"]


def wait_agent(dom: libvirt.virDomain, timeout_s: float) -> None:
    """Until the guest agent answers a ping; past timeout_s, fails with what diagnose() reads of the guest."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            agent(dom, "guest-ping", timeout=5)
            return
        except libvirt.libvirtError as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{dom.name()}'s guest agent did not answer in {timeout_s:.0f} s: {e}\n"
                                     f"{diagnose(dom)}") from e
            time.sleep(2)


def diagnose(dom: libvirt.virDomain, console_s: float = 8) -> str:
    """What a failed agent wait leaves to read: the domain's state, whether its vCPU spends time, QEMU's run
    state, whether the guest holds the agent's port open, and what the serial console prints when poked."""
    out = []

    def step(label, fn):
        try:
            out.append(f"{label}: {fn()}")
        except Exception as e:  # noqa: BLE001 - a diagnosis reads what it can
            out.append(f"{label}: failed: {e}")

    def monitor(command: str, **arguments) -> object:
        msg = {"execute": command, **({"arguments": arguments} if arguments else {})}
        return json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(msg), 0))["return"]

    def cpu_spent() -> str:
        first = dom.info()[4]
        time.sleep(2)
        return f"{(dom.info()[4] - first) / 2e7:.0f}% of a CPU over 2 s"

    step("state", dom.state)
    step("vcpu", cpu_spent)
    step("qemu", lambda: monitor("query-status"))
    step("agent port", lambda: [c for c in monitor("query-chardev") if c["label"] == "charchannel0"])
    step("registers", lambda: monitor("human-monitor-command", **{"command-line": "info registers"})[:160])
    step("console", lambda: console_text(dom, console_s))
    return "\n".join(out)


def console_text(dom: libvirt.virDomain, seconds: float) -> str:
    """What the serial console prints over `seconds` after a carriage return (the console taken over)."""
    stream = dom.connect().newStream(libvirt.VIR_STREAM_NONBLOCK)
    dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    got, deadline = b"", time.monotonic() + seconds
    try:
        stream.send(b"\r")
        while time.monotonic() < deadline:
            chunk = stream.recv(4096)
            if chunk == -2:
                time.sleep(0.1)
            elif not chunk:
                break
            else:
                got += chunk
    finally:
        stream.abort()
    return repr(got.decode(errors="replace")[-2000:])


def guest_exec(dom: libvirt.virDomain, path: str, *args: str, timeout_s: float = 120) -> tuple[int, str, str]:
    """Run a program in the guest (argv, no shell) and return (exit code, stdout, stderr)."""
    pid = agent(dom, "guest-exec", path=path, arg=list(args), **{"capture-output": True})["pid"]
    deadline = time.monotonic() + timeout_s
    while True:
        st = agent(dom, "guest-exec-status", pid=pid)
        if st.get("exited"):
            dec = lambda k: base64.b64decode(st.get(k, "")).decode(errors="replace")  # noqa: E731
            return st.get("exitcode", -1), dec("out-data"), dec("err-data")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} {args} still running after {timeout_s}s")
        time.sleep(0.5)


def password_matches(password: str, shadow_hash: str) -> bool:
    """Check a password against an /etc/shadow hash with the host's libcrypt: cloud-init writes SHA-512
    ($6$) hashes, Debian 12's chpasswd (the guest agent's password reset) writes yescrypt ($y$)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated since 3.11, still the way to reach libcrypt's yescrypt
    return crypt.crypt(password, shadow_hash) == shadow_hash
