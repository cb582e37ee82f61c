"""The definition of a VM cloned from a snapshot: the snapshot's copy of the source domain, edited in place
(everything JVP does not model is kept), with a new identity.

What changes, and why:
- name and UUID: a new VM;
- every NIC's MAC (the caller draws free ones): two NICs with one MAC on a network break both;
- every copied disk's source: the new, independent volumes (no backing chain to the source's disks);
- the cloud-init seed cdrom: the clone's own seed (a new instance id makes cloud-init treat the first boot
  as a new instance: hostname, host keys, network for the new MACs);
- the UEFI variable store path: libvirt creates a fresh one for the new name (two VMs must not share it);
- live-only details the snapshot may carry (device aliases libvirt generated, tap device names, VNC ports
  chosen at start, block node indexes, JVP's runtime start time and capture facts).
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from jvp.hypervisor import domain_edit as edit
from jvp.hypervisor.domain_xml import Q, RUNTIME_NS, ensure_facts, update_facts
from jvp.hypervisor.snapshot_xml import strip_capture
from jvp.hypervisor.xml import ensure


def _drop_live_details(dom: etree._Element) -> None:
    for alias in dom.iter("alias"):
        if not (alias.get("name") or "").startswith("ua-"):  # user aliases are configuration: kept
            alias.getparent().remove(alias)
    for nic in edit.nics(dom):
        tap = nic.find("target")
        if tap is not None:
            nic.remove(tap)
    for g in dom.findall("devices/graphics"):
        if g.get("autoport") == "yes":
            for attr in ("port", "websocket", "tlsPort"):
                g.attrib.pop(attr, None)
    for src in dom.iter("source"):
        src.attrib.pop("index", None)
    meta = dom.find("metadata")
    if meta is not None:
        for el in meta.findall(f"{{{RUNTIME_NS}}}runtime"):
            meta.remove(el)
    strip_capture(dom)


def clone_domain(dom: etree._Element, *, name: str, uuid: str, disks: dict[str, dict[str, str]],
                 macs: list[str], seed: dict[str, str] | None, facts: dict[str, Any],
                 cloned_from: dict[str, str]) -> etree._Element:
    """Edit `dom` (the snapshot's domain) in place into the clone's definition and return it.

    disks: target -> {path, format} of the new volumes; macs: one new MAC per NIC, in document order;
    seed: {target, path} of the new seed ISO; facts: JVP facts to set (update_facts keywords)."""
    _drop_live_details(dom)
    ensure(dom, "name").text = name
    ensure(dom, "uuid").text = uuid
    for target, vol in disks.items():
        disk = edit.find_disk(dom, target)
        if disk is None:
            raise edit.EditError(f"the snapshot's definition has no disk {target}")
        for bs in disk.findall("backingStore"):
            disk.remove(bs)  # the new volume is a flat image: no chain
        src = ensure(disk, "source")
        src.attrib.clear()
        src.set("file", vol["path"])
        disk.set("type", "file")
        drv = ensure(disk, "driver")
        drv.set("name", "qemu")
        drv.set("type", vol["format"])
    nics = edit.nics(dom)
    if len(macs) != len(nics):
        raise edit.EditError(f"{len(nics)} NICs but {len(macs)} new MACs")
    for nic, mac in zip(nics, macs):
        ensure(nic, "mac").set("address", mac)
    if seed is not None:
        edit.set_media(dom, seed["target"], seed["path"], "raw")
    nvram = dom.find("os/nvram")
    if nvram is not None:  # libvirt makes a fresh <name>_VARS.fd from the firmware's template
        if nvram.get("template"):
            nvram.text = None
        else:
            nvram.getparent().remove(nvram)
    el = ensure_facts(dom)
    update_facts(el, **facts)
    for old in el.findall(f"{Q}cloned-from"):
        el.remove(old)
    etree.SubElement(el, f"{Q}cloned-from", cloned_from)
    return dom


def cloned_from(dom: etree._Element) -> dict[str, str] | None:
    el = dom.find(f"metadata/{Q}vm/{Q}cloned-from")
    return dict(el.attrib) if el is not None else None
