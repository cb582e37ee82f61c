"""Build a new domain's XML from a DomainSpec, and JVP's <metadata> element (read and edit in place).

Devices every JVP VM gets, and why:
- a serial port on a pty plus a serial console (cloud images log and offer a login there; the console relay
  streams it through libvirt, so remote nodes work);
- VNC graphics on 127.0.0.1 only, port chosen by libvirt (consoles are relayed through JVP's authenticated
  websocket, never exposed on the network), virtio video and a USB tablet (absolute pointer for VNC);
- the qemu guest agent channel `org.qemu.guest_agent.0` (IPs, password reset, graceful shutdown);
- a virtio RNG fed by the host's /dev/urandom (first boot key generation does not stall) and a balloon.
The machine type is the arch's default (`pc`, i440fx on x86): hot-plugging disks and NICs works on its PCI
bus without spare root ports, and cdroms sit on IDE (hda..hdd); a Secure Boot VM is q35 (cdroms on SATA).
Firmware, Secure Boot and TPM are built by firmware_xml.py (UEFI through libvirt's firmware auto-selection,
`<os firmware='efi'>`, which also creates the NVRAM file).
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice, VmFacts
from jvp.hypervisor import firmware_xml
from jvp.hypervisor import domain_windows
from jvp.hypervisor.xml import element, sub, to_string
from jvp.hypervisor.xml.domain import (AGENT_CHANNEL, NS, NSMAP, Q, RUNTIME_NS, Boot, Channel, Console, Disk, Domain,
                                       Facts, Graphics, Interface)

__all__ = ["NS", "NSMAP", "Q", "RUNTIME_NS", "build_domain", "build_domain_xml", "disk_element", "nic_element",
           "facts_element", "update_facts", "read_facts", "facts_of", "ensure_facts", "runtime_element",
           "started_at_of", "driver_format", "QEMU_FORMATS"]


# -- devices -----------------------------------------------------------------------------------------
# Image formats QEMU opens itself; anything else libvirt reports for a volume (`iso`, `unknown`) is raw data.
QEMU_FORMATS = {"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "luks", "bochs", "cloop", "dmg",
                "parallels"}


def driver_format(volume_format: str | None) -> str:
    return volume_format if volume_format in QEMU_FORMATS else "raw"


def disk(spec: DiskDevice) -> Disk:
    d = Disk.new(type="file", device=spec.device, driver_name="qemu", format=driver_format(spec.format),
                 # guests' TRIM frees space in sparse/qcow2 files
                 discard="unmap" if spec.device == "disk" else None,
                 target=spec.target, bus=spec.bus, readonly=spec.device == "cdrom")
    if spec.path:
        d.source.file = spec.path  # placed before <target> by Disk.ORDER
    return d


def disk_element(spec: DiskDevice) -> etree._Element:
    return disk(spec).el


def nic(spec: NicDevice) -> Interface:
    n = Interface.new(type=spec.kind, mac=spec.mac)
    if spec.kind == "network":
        n.source_network = spec.source
    elif spec.kind == "bridge":
        n.source_bridge = spec.source
    else:  # macvtap in bridge mode: guests on the same host interface can talk to each other
        n.source_dev, n.source_mode = spec.source, "bridge"
    n.model = spec.model
    return n


def nic_element(spec: NicDevice) -> etree._Element:
    return nic(spec).el


def _fixed_devices(dom: Domain) -> None:
    devices = dom.el.find("devices")
    serial = sub(devices, "serial", {"type": "pty"})
    sub(serial, "target", {"port": 0})
    dom.consoles.add(Console.new(type="pty", target_type="serial", target_port=0))
    dom.channels.add(Channel.new(type="unix", target_type="virtio", target_name=AGENT_CHANNEL))
    sub(devices, "input", {"type": "tablet", "bus": "usb"})
    dom.graphics.add(Graphics.new(type="vnc", port=-1, autoport=True, listen="127.0.0.1", listen_type="address",
                                  listen_address="127.0.0.1"))
    video = sub(devices, "video")
    sub(video, "model", {"type": "virtio", "heads": 1, "primary": "yes"})
    rng = sub(devices, "rng", {"model": "virtio"})
    sub(rng, "backend", {"model": "random"}, "/dev/urandom")
    sub(devices, "memballoon", {"model": "virtio"})


# -- the domain --------------------------------------------------------------------------------------
def build_domain(spec: DomainSpec) -> etree._Element:
    dom = Domain.new(type=spec.domain_type, name=spec.name, uuid=spec.uuid)
    update_facts(dom.ensure_facts().el, **_facts_fields(spec.facts))
    dom.memory_mib = dom.current_memory_mib = spec.memory_mib
    dom.vcpus, dom.vcpu_placement = spec.vcpus, "static"
    dom.os.type, dom.os.arch = "hvm", spec.arch
    # Disk first, then cdrom: a blank disk is skipped by the firmware and the install ISO boots; once
    # installed, the disk boots without touching the order.
    dom.os.boots.add(Boot.new(dev="hd"))
    dom.os.boots.add(Boot.new(dev="cdrom"))
    # written here only, never read or edited: plain elements
    features = sub(dom.el, "features")
    sub(features, "acpi")  # graceful shutdown is an ACPI power-button press
    sub(features, "apic")
    if spec.cpu_mode:
        dom.cpu.mode = spec.cpu_mode
        dom.cpu.check = "partial" if spec.cpu_mode == "host-model" else None
    clock = sub(dom.el, "clock", {"offset": "utc"})
    sub(clock, "timer", {"name": "rtc", "tickpolicy": "catchup"})
    sub(clock, "timer", {"name": "pit", "tickpolicy": "delay"})
    sub(clock, "timer", {"name": "hpet", "present": "no"})
    sub(dom.el, "on_poweroff", text_="destroy")
    sub(dom.el, "on_reboot", text_="restart")
    sub(dom.el, "on_crash", text_="destroy")
    sub(dom.el, "devices")
    for d in spec.disks:
        dom.disks.add(disk(d))
    for n in spec.nics:
        dom.interfaces.add(nic(n))
    _fixed_devices(dom)
    firmware_xml.apply(dom, spec)  # UEFI, Secure Boot (machine, SMM), TPM
    if spec.os_profile == domain_windows.WINDOWS:
        domain_windows.apply(dom)
    return dom.el


def build_domain_xml(spec: DomainSpec) -> str:
    return to_string(build_domain(spec))


# -- JVP's metadata ----------------------------------------------------------------------------------
def _facts_fields(facts: VmFacts) -> dict[str, Any]:
    return dict(created_at=facts.created_at, created_by=facts.created_by, description=facts.description,
                template=facts.template, keypairs=facts.keypairs, labels=facts.labels,
                system_disk=facts.system_disk,
                cloud_init={"instance-id": facts.instance_id, "pool": facts.seed_pool,
                            "volume": facts.seed_volume} if facts.instance_id else None)


def facts_element(facts: VmFacts) -> etree._Element:
    el = Facts.new().el
    update_facts(el, **_facts_fields(facts))
    return el


_UNSET = object()


def update_facts(el: etree._Element, *, created_at: Any = _UNSET, created_by: Any = _UNSET,
                 description: Any = _UNSET, template: Any = _UNSET, keypairs: Any = _UNSET,
                 labels: Any = _UNSET, system_disk: Any = _UNSET, cloud_init: Any = _UNSET) -> etree._Element:
    """Change the named facts of a <jvp:vm> element in place; children JVP does not know are kept."""
    facts = Facts(el)
    for name, value in (("created_at", created_at), ("created_by", created_by), ("description", description)):
        if value is not _UNSET:
            setattr(facts, name, str(value) if value not in (None, "") else None)
    if template is not _UNSET:
        facts.template = template
    if system_disk is not _UNSET:  # dropped and added again: the element ends last, as before
        facts.system_disk = None
        facts.system_disk = system_disk or None
    if keypairs is not _UNSET:
        facts.keypairs = keypairs
    if labels is not _UNSET:
        facts.labels = labels
    if cloud_init is not _UNSET:
        facts.cloud_init_el.remove()
        if cloud_init:
            facts.instance_id = cloud_init.get("instance-id") or None
            facts.seed_pool = cloud_init.get("pool") or None
            facts.seed_volume = cloud_init.get("volume") or None
    return el


def facts_of(root: etree._Element) -> etree._Element | None:
    """The <jvp:vm> element of a domain document, or None (a domain JVP did not create)."""
    return Domain(root).facts.el


def ensure_facts(root: etree._Element) -> etree._Element:
    return Domain(root).ensure_facts().el


def read_facts(root: etree._Element) -> VmFacts:
    dom = Domain(root)
    facts = VmFacts(description=(dom.description or "").strip())
    f = dom.facts
    if not f.exists():
        return facts
    facts.created_at = f.created_at or None
    facts.created_by = f.created_by or None
    facts.description = f.description or facts.description
    facts.template = f.template
    facts.keypairs = f.keypairs
    facts.labels = f.labels
    facts.system_disk = f.system_disk
    if f.cloud_init_el.exists():
        facts.instance_id, facts.seed_pool, facts.seed_volume = f.instance_id, f.seed_pool, f.seed_volume
    return facts


def runtime_element(started_at: str) -> str:
    """For virDomainSetMetadata, which takes the element unqualified and files it under RUNTIME_NS."""
    return to_string(element("runtime", {"started-at": started_at}))


def started_at_of(root: etree._Element) -> str | None:
    return Domain(root).started_at
