"""What a node offers guests: its figures (arch, CPUs, memory), the hvm domain types libvirt has for an arch,
and the domain capabilities the VM rules ask (CPU modes supported and usable, UEFI, Secure Boot, an emulated
TPM). They change with the host (new firmware, a libvirtd upgrade), not per request: kept per connection
for HOST_FACTS_TTL_S (a reconnect starts afresh), so create-vm does not ask libvirt for them three times and
re-parse its capabilities XML each time.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, TypeVar

import libvirt
from lxml import etree

from jvp.domain.vm_caps import DomainCaps
from jvp.hypervisor import support
from jvp.hypervisor.per_conn import PerConnection
from jvp.hypervisor.xml import parse

HOST_FACTS_TTL_S = 60.0
_KEPT: PerConnection[dict[tuple, tuple[float, Any]]] = PerConnection(dict)
_kept_lock = threading.Lock()
T = TypeVar("T")


def _host_fact(conn: libvirt.virConnect, key: tuple, read: Callable[[], T]) -> T:
    kept = _KEPT.get_or_make(conn)
    if kept is None:  # a connection object that cannot be weakly referenced: not kept
        return read()
    now = time.monotonic()
    with _kept_lock:
        hit = kept.get(key)
    if hit is not None and now - hit[0] < HOST_FACTS_TTL_S:
        return hit[1]
    value = read()
    with _kept_lock:
        kept[key] = (now, value)
    return value


def node_figures(conn: libvirt.virConnect) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        info = conn.getInfo()
        return {"arch": info[0], "cpus": info[2], "memory_mib": info[1]}
    return dict(_host_fact(conn, ("figures",), read))


def guest_types(conn: libvirt.virConnect, arch: str) -> list[str]:
    """Domain types libvirt offers for hvm guests of `arch` (e.g. ['qemu', 'kvm']); any hvm guest's types
    when none matches the arch (libvirt's test driver describes an i686 host that runs x86_64 domains)."""
    return list(_host_fact(conn, ("guest_types", arch), lambda: tuple(_guest_types(conn, arch))))


def _guest_types(conn: libvirt.virConnect, arch: str) -> list[str]:
    caps = parse(conn.getCapabilities())
    hvm = [g for g in caps.findall("guest") if (g.findtext("os_type") or "").strip() == "hvm"]
    matching = [d.get("type") for g in hvm for a in g.findall("arch") if a.get("name") == arch
                for d in a.findall("domain")]
    every = [d.get("type") for g in hvm for d in g.findall("arch/domain")]
    return list(dict.fromkeys(matching or every))


def domain_capabilities(conn: libvirt.virConnect, domain_type: str, arch: str,
                        machine: str | None = None) -> etree._Element | None:
    """libvirt's domain capabilities for that type (and machine: None, the arch's default), or None when the
    driver has none (test driver)."""
    try:
        return parse(conn.getDomainCapabilities(None, arch, machine, domain_type, 0))
    except libvirt.libvirtError as exc:
        if support.lacks("domain_capabilities", exc):
            return None
        raise


def cpu_mode_usable(domcaps: etree._Element | None, mode: str) -> bool:
    """The mode is supported, and for host-model the CPU model it expands to is usable on this host
    (libvirt lists it under custom models with usable='no' when, e.g., nested KVM hides features)."""
    if domcaps is None:
        return False
    el = next((m for m in domcaps.findall("cpu/mode") if m.get("name") == mode), None)
    if el is None or el.get("supported") != "yes":
        return False
    if mode == "host-model":
        model = (el.findtext("model") or "").strip()
        for custom in domcaps.findall("cpu/mode[@name='custom']/model"):
            if (custom.text or "").strip() == model and custom.get("usable") == "no":
                return False
    return True


def cpu_mode_supported(domcaps: etree._Element | None, mode: str) -> bool:
    if domcaps is None:
        return True  # a driver without domain capabilities: let libvirt judge at define/start
    return any(m.get("name") == mode and m.get("supported") == "yes" for m in domcaps.findall("cpu/mode"))


def efi_supported(domcaps: etree._Element | None) -> bool | None:
    """True/False from the firmware enum; None when the driver publishes no domain capabilities."""
    if domcaps is None:
        return None
    values = {(v.text or "").strip() for v in domcaps.findall("os/enum[@name='firmware']/value")}
    return "efi" in values


def secure_boot_supported(domcaps: etree._Element) -> bool:
    """A Secure Boot firmware for the machine the capabilities were asked for (the loader's `secure` enum)."""
    return "yes" in {(v.text or "").strip() for v in domcaps.findall("os/loader/enum[@name='secure']/value")}


def tpm_supported(domcaps: etree._Element) -> bool:
    """An emulated TPM 2.0 on the CRB interface: libvirt lists the emulator backend once it finds swtpm (and
    the 2.0 version when it reads swtpm's features; an older libvirt has no version enum)."""
    tpm = domcaps.find("devices/tpm")
    if tpm is None or tpm.get("supported") != "yes":
        return False

    def enum(name: str) -> set[str] | None:
        el = tpm.find(f"enum[@name='{name}']")
        return None if el is None else {(v.text or "").strip() for v in el.findall("value")}
    versions = enum("backendVersion")
    return ("tpm-crb" in (enum("model") or set()) and "emulator" in (enum("backendModel") or set())
            and (versions is None or "2.0" in versions))


def domain_caps(conn: libvirt.virConnect, domain_type: str, arch: str, machine: str | None = None) -> DomainCaps:
    """The domain capabilities as the VM rules ask them (CPU modes supported and usable, UEFI, Secure Boot for
    that machine, an emulated TPM)."""
    return _host_fact(conn, ("domain_caps", domain_type, arch, machine),
                      lambda: _domain_caps(conn, domain_type, arch, machine))


def _domain_caps(conn: libvirt.virConnect, domain_type: str, arch: str, machine: str | None) -> DomainCaps:
    root = domain_capabilities(conn, domain_type, arch, machine)
    if root is None:
        return DomainCaps(published=False)
    modes = {m.get("name") for m in root.findall("cpu/mode") if m.get("name")}
    return DomainCaps(published=True,
                      cpu_modes_supported=frozenset(m for m in modes if cpu_mode_supported(root, m)),
                      cpu_modes_usable=frozenset(m for m in modes if cpu_mode_usable(root, m)),
                      efi=efi_supported(root), secure_boot=secure_boot_supported(root), tpm=tpm_supported(root))
