"""Build a new domain's XML from a DomainSpec, and JVP's <metadata> element (read and edit in place).

Devices every JVP VM gets, and why:
- a serial port on a pty plus a serial console (cloud images log and offer a login there; the console relay
  streams it through libvirt, so remote nodes work);
- VNC graphics on 127.0.0.1 only, port chosen by libvirt (consoles are relayed through JVP's authenticated
  websocket, never exposed on the network), virtio video and a USB tablet (absolute pointer for VNC);
- the qemu guest agent channel `org.qemu.guest_agent.0` (IPs, password reset, graceful shutdown);
- a virtio RNG fed by the host's /dev/urandom (first boot key generation does not stall) and a balloon.
The machine type is the arch's default (`pc`, i440fx on x86): hot-plugging disks and NICs works on its PCI
bus without spare root ports, and cdroms sit on IDE (hda..hdd). UEFI uses libvirt's firmware auto-selection
(`<os firmware='efi'>`), which also creates the NVRAM file.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice, VmFacts
from jvp.hypervisor.xml import element, sub, text, to_string

NS = "urn:jvp:vm:1"              # JVP's facts, config and live alike
RUNTIME_NS = "urn:jvp:vm-runtime:1"  # live-only facts (when JVP started the domain)
NSMAP = {"jvp": NS}
Q = f"{{{NS}}}"


# -- devices -----------------------------------------------------------------------------------------
# Image formats QEMU opens itself; anything else libvirt reports for a volume (`iso`, `unknown`) is raw data.
QEMU_FORMATS = {"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "luks", "bochs", "cloop", "dmg",
                "parallels"}


def driver_format(volume_format: str | None) -> str:
    return volume_format if volume_format in QEMU_FORMATS else "raw"


def disk_element(disk: DiskDevice) -> etree._Element:
    el = element("disk", {"type": "file", "device": disk.device})
    drv = {"name": "qemu", "type": driver_format(disk.format)}
    if disk.device == "disk":
        drv["discard"] = "unmap"  # guests' TRIM frees space in sparse/qcow2 files
    sub(el, "driver", drv)
    if disk.path:
        sub(el, "source", {"file": disk.path})
    sub(el, "target", {"dev": disk.target, "bus": disk.bus})
    if disk.device == "cdrom":
        sub(el, "readonly")
    return el


def nic_element(nic: NicDevice) -> etree._Element:
    el = element("interface", {"type": nic.kind})
    sub(el, "mac", {"address": nic.mac})
    if nic.kind == "network":
        sub(el, "source", {"network": nic.source})
    elif nic.kind == "bridge":
        sub(el, "source", {"bridge": nic.source})
    else:  # macvtap in bridge mode: guests on the same host interface can talk to each other
        sub(el, "source", {"dev": nic.source, "mode": "bridge"})
    sub(el, "model", {"type": nic.model})
    return el


def _fixed_devices(devices: etree._Element) -> None:
    serial = sub(devices, "serial", {"type": "pty"})
    sub(serial, "target", {"port": 0})
    console = sub(devices, "console", {"type": "pty"})
    sub(console, "target", {"type": "serial", "port": 0})
    channel = sub(devices, "channel", {"type": "unix"})
    sub(channel, "target", {"type": "virtio", "name": "org.qemu.guest_agent.0"})
    sub(devices, "input", {"type": "tablet", "bus": "usb"})
    graphics = sub(devices, "graphics", {"type": "vnc", "port": -1, "autoport": "yes", "listen": "127.0.0.1"})
    sub(graphics, "listen", {"type": "address", "address": "127.0.0.1"})
    video = sub(devices, "video")
    sub(video, "model", {"type": "virtio", "heads": 1, "primary": "yes"})
    rng = sub(devices, "rng", {"model": "virtio"})
    sub(rng, "backend", {"model": "random"}, "/dev/urandom")
    sub(devices, "memballoon", {"model": "virtio"})


# -- the domain --------------------------------------------------------------------------------------
def build_domain(spec: DomainSpec) -> etree._Element:
    dom = element("domain", {"type": spec.domain_type})
    sub(dom, "name", text_=spec.name)
    sub(dom, "uuid", text_=spec.uuid)
    metadata = sub(dom, "metadata")
    metadata.append(facts_element(spec.facts))
    sub(dom, "memory", {"unit": "KiB"}, spec.memory_mib * 1024)
    sub(dom, "currentMemory", {"unit": "KiB"}, spec.memory_mib * 1024)
    sub(dom, "vcpu", {"placement": "static"}, spec.vcpus)
    os_ = sub(dom, "os", {"firmware": "efi"} if spec.firmware == "uefi" else None)
    sub(os_, "type", {"arch": spec.arch}, "hvm")
    # Disk first, then cdrom: a blank disk is skipped by the firmware and the install ISO boots; once
    # installed, the disk boots without touching the order.
    sub(os_, "boot", {"dev": "hd"})
    sub(os_, "boot", {"dev": "cdrom"})
    features = sub(dom, "features")
    sub(features, "acpi")  # graceful shutdown is an ACPI power-button press
    sub(features, "apic")
    if spec.cpu_mode:
        sub(dom, "cpu", {"mode": spec.cpu_mode, **({"check": "partial"} if spec.cpu_mode == "host-model"
                                                   else {})})
    clock = sub(dom, "clock", {"offset": "utc"})
    sub(clock, "timer", {"name": "rtc", "tickpolicy": "catchup"})
    sub(clock, "timer", {"name": "pit", "tickpolicy": "delay"})
    sub(clock, "timer", {"name": "hpet", "present": "no"})
    sub(dom, "on_poweroff", text_="destroy")
    sub(dom, "on_reboot", text_="restart")
    sub(dom, "on_crash", text_="destroy")
    devices = sub(dom, "devices")
    for disk in spec.disks:
        devices.append(disk_element(disk))
    for nic in spec.nics:
        devices.append(nic_element(nic))
    _fixed_devices(devices)
    return dom


def build_domain_xml(spec: DomainSpec) -> str:
    return to_string(build_domain(spec))


# -- JVP's metadata ----------------------------------------------------------------------------------
def facts_element(facts: VmFacts) -> etree._Element:
    el = etree.Element(f"{Q}vm", nsmap=NSMAP)
    update_facts(el, created_at=facts.created_at, created_by=facts.created_by, description=facts.description,
                 template=facts.template, keypairs=facts.keypairs, labels=facts.labels,
                 system_disk=facts.system_disk,
                 cloud_init={"instance-id": facts.instance_id, "pool": facts.seed_pool,
                             "volume": facts.seed_volume} if facts.instance_id else None)
    return el


def _child(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(f"{Q}{name}")
    return found if found is not None else etree.SubElement(parent, f"{Q}{name}")


def _drop(parent: etree._Element, name: str) -> None:
    for el in parent.findall(f"{Q}{name}"):
        parent.remove(el)


_UNSET = object()


def update_facts(el: etree._Element, *, created_at: Any = _UNSET, created_by: Any = _UNSET,
                 description: Any = _UNSET, template: Any = _UNSET, keypairs: Any = _UNSET,
                 labels: Any = _UNSET, system_disk: Any = _UNSET, cloud_init: Any = _UNSET) -> etree._Element:
    """Change the named facts of a <jvp:vm> element in place; children JVP does not know are kept."""
    for name, value in (("created-at", created_at), ("created-by", created_by), ("description", description)):
        if value is _UNSET:
            continue
        if value in (None, ""):
            _drop(el, name)
        else:
            _child(el, name).text = str(value)
    if template is not _UNSET:
        _drop(el, "template")
        if template:
            t = etree.SubElement(el, f"{Q}template", {k: v for k, v in template.items() if k != "name" and v})
            t.text = template.get("name") or ""
    if system_disk is not _UNSET:
        _drop(el, "system-disk")
        if system_disk:
            etree.SubElement(el, f"{Q}system-disk", {"target": system_disk})
    if keypairs is not _UNSET:
        _drop(el, "keypairs")
        if keypairs:
            box = etree.SubElement(el, f"{Q}keypairs")
            for name in keypairs:
                etree.SubElement(box, f"{Q}keypair", {"name": name})
    if labels is not _UNSET:
        _drop(el, "labels")
        if labels:
            box = etree.SubElement(el, f"{Q}labels")
            for key, value in sorted(labels.items()):
                etree.SubElement(box, f"{Q}label", {"key": key}).text = value
    if cloud_init is not _UNSET:
        _drop(el, "cloud-init")
        if cloud_init:
            etree.SubElement(el, f"{Q}cloud-init", {k: v for k, v in cloud_init.items() if v})
    return el


def facts_of(root: etree._Element) -> etree._Element | None:
    """The <jvp:vm> element of a domain document, or None (a domain JVP did not create)."""
    return root.find(f"metadata/{Q}vm")


def ensure_facts(root: etree._Element) -> etree._Element:
    meta = root.find("metadata")
    if meta is None:
        meta = element("metadata")
        # libvirt puts <metadata> after <name>/<uuid>/<title>/<description>; order is cosmetic for define
        anchor = next((root.index(c) + 1 for c in reversed(root) if c.tag in ("name", "uuid", "title",
                                                                            "description")), 0)
        root.insert(anchor, meta)
    el = meta.find(f"{Q}vm")
    if el is None:
        el = etree.SubElement(meta, f"{Q}vm", nsmap=NSMAP)
    return el


def read_facts(root: etree._Element) -> VmFacts:
    el = facts_of(root)
    facts = VmFacts(description=text(root, "description", "") or "")
    if el is None:
        return facts
    tmpl = el.find(f"{Q}template")
    ci = el.find(f"{Q}cloud-init")
    facts.created_at = _text(el, "created-at")
    facts.created_by = _text(el, "created-by")
    facts.description = _text(el, "description") or facts.description
    facts.template = ({"name": (tmpl.text or "").strip(), **dict(tmpl.attrib)} if tmpl is not None else None)
    facts.keypairs = [k.get("name") for k in el.findall(f"{Q}keypairs/{Q}keypair")]
    facts.labels = {lb.get("key"): (lb.text or "") for lb in el.findall(f"{Q}labels/{Q}label")}
    sd = el.find(f"{Q}system-disk")
    facts.system_disk = sd.get("target") if sd is not None else None
    if ci is not None:
        facts.instance_id, facts.seed_pool, facts.seed_volume = (ci.get("instance-id"), ci.get("pool"),
                                                                 ci.get("volume"))
    return facts


def _text(el: etree._Element, name: str) -> str | None:
    found = el.find(f"{Q}{name}")
    return found.text if found is not None and found.text else None


def runtime_element(started_at: str) -> str:
    """For virDomainSetMetadata, which takes the element unqualified and files it under RUNTIME_NS."""
    return to_string(element("runtime", {"started-at": started_at}))


def started_at_of(root: etree._Element) -> str | None:
    el = root.find(f"metadata/{{{RUNTIME_NS}}}runtime")
    return el.get("started-at") if el is not None else None
