"""Can KVM really run a guest on this node? Boot a 1 MiB probe disk under `<domain type='kvm'>` and see.

On some hosts (nested virtualization) libvirt offers the kvm domain type and /dev/kvm exists, yet guests
stop in firmware or bootloader code with "KVM internal error ... emulation failure". The probe disk's boot
sector (source: kvm_probe.S) executes a protected-mode IRET, which is what fails there, then triple-faults
on purpose: with on_reboot=destroy a working KVM shuts the probe domain off within seconds, a broken one
leaves it paused. Everything goes through libvirt (volume upload stream, transient domain), so remote
nodes are probed the same way.

A probe whose process is killed mid-way (a worker restarted, a node cut off) cannot clean up after itself,
and on a broken KVM its paused domain would stay forever. Names therefore carry the probe's start time
(`jvp-kvm-probe-<unix seconds>-<tag>`, volume `.jvp-kvm-probe-<unix seconds>-<tag>.img`), and every probe
first removes leftovers older than STALE_AFTER_S, which no live probe reaches (a probe gives up after its
timeout, 30 s). Names of the earlier form (`jvp-kvm-probe-<tag>`, no time) are always leftovers.
"""
from __future__ import annotations

import re
import time
import uuid

import libvirt

from jvp.hypervisor.xml import element, sub, to_string

BOOT_SECTOR_CODE = bytes.fromhex(
    "fa31c08ed88ed0bc007c0f0116707c0f20c00c010f22c066ea1f7c0000080066b810008ed88ed08ec0bc0070000066b8"
    "18000f00d89c6a08683e7c0000cf0f011d497c0000ccf4ebfd000000000000900000000000000000ffff0000009acf00"
    "ffff00000092cf0067000060008900001f00507c")
IMAGE_BYTES = 1024 * 1024
STALE_AFTER_S = 300
_PROBE_NAME = re.compile(r"^\.?jvp-kvm-probe-(?:(\d+)-)?[0-9a-f]{8}(?:\.img)?$")


def is_stale(name: str, now: float) -> bool:
    """A probe domain or volume left by a probe that can no longer be running."""
    m = _PROBE_NAME.match(name)
    if m is None:
        return False
    started = m.group(1)
    return started is None or now - int(started) > STALE_AFTER_S


def sweep_leftovers(conn: libvirt.virConnect, pool: libvirt.virStoragePool, now: float) -> list[str]:
    """Destroy stale probe domains and delete stale probe volumes; the names removed."""
    removed = []
    for dom in conn.listAllDomains(0):
        name = dom.name()
        if is_stale(name, now):
            try:
                persistent = dom.isPersistent()  # asked first: a transient domain is gone once destroyed
                if dom.isActive():
                    dom.destroy()
                if persistent:
                    dom.undefine()
                removed.append(name)
            except libvirt.libvirtError:
                pass  # gone meanwhile, or another probe's sweep got there first
    for vol in pool.listAllVolumes(0):
        name = vol.name()
        if is_stale(name, now):
            try:
                vol.delete(0)
                removed.append(name)
            except libvirt.libvirtError:
                pass
    return removed


def probe_image() -> bytes:
    sector = BOOT_SECTOR_CODE.ljust(510, b"\0") + b"\x55\xaa"
    return sector + bytes(IMAGE_BYTES - len(sector))


def _volume_xml(name: str) -> str:
    vol = element("volume")
    sub(vol, "name", text_=name)
    sub(vol, "capacity", {"unit": "bytes"}, IMAGE_BYTES)
    sub(sub(vol, "target"), "format", {"type": "raw"})
    return to_string(vol)


def _domain_xml(name: str, disk_path: str, arch: str) -> str:
    dom = element("domain", {"type": "kvm"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, 32)
    sub(dom, "vcpu", text_=1)
    os_ = sub(dom, "os")
    sub(os_, "type", {"arch": arch}, "hvm")
    sub(os_, "boot", {"dev": "hd"})
    sub(dom, "on_reboot", text_="destroy")
    sub(dom, "on_crash", text_="preserve")
    devices = sub(dom, "devices")
    disk = sub(devices, "disk", {"type": "file", "device": "disk"})
    sub(disk, "driver", {"name": "qemu", "type": "raw"})
    sub(disk, "source", {"file": disk_path})
    sub(disk, "target", {"dev": "vda", "bus": "virtio"})
    sub(disk, "readonly")
    return to_string(dom)


def probe_kvm(conn: libvirt.virConnect, pool_name: str, timeout_s: float = 30.0) -> tuple[bool, str]:
    """(usable, what was observed). Uses a temporary volume in `pool_name` and a transient domain."""
    now = time.time()
    tag = f"{int(now)}-{uuid.uuid4().hex[:8]}"
    vol_name = f".jvp-kvm-probe-{tag}.img"
    pool = conn.storagePoolLookupByName(pool_name)
    sweep_leftovers(conn, pool, now)
    vol = pool.createXML(_volume_xml(vol_name), 0)
    dom = None
    try:
        stream = conn.newStream(0)
        vol.upload(stream, 0, IMAGE_BYTES, 0)
        stream.send(probe_image())
        stream.finish()
        arch = conn.getInfo()[0]
        dom = conn.createXML(_domain_xml(f"jvp-kvm-probe-{tag}", vol.path(), arch), 0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                state, reason = dom.state()
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    dom = None  # transient domain gone: it shut off, the probe ran to its end
                    return True, "a KVM guest ran the probe to completion"
                raise
            if state in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTDOWN):
                return True, "a KVM guest ran the probe to completion"
            if state in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_CRASHED):
                return False, ("a KVM guest stopped in early boot code (paused by an internal KVM error, e.g. "
                               "'emulation failure' under nested virtualization)")
            time.sleep(0.2)
        return False, f"the KVM probe guest did not finish within {timeout_s:g}s"
    finally:
        if dom is not None:
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass
        try:
            vol.delete(0)
        except libvirt.libvirtError:
            pass
