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
from jvp.hypervisor.domain_xml import update_facts
from jvp.hypervisor.snapshot_xml import strip_capture
from jvp.hypervisor.xml.domain import Domain


def _drop_live_details(dom: Domain) -> None:
    for alias in dom.el.iter("alias"):
        if not (alias.get("name") or "").startswith("ua-"):  # user aliases are configuration: kept
            alias.getparent().remove(alias)
    for nic in dom.interfaces:
        nic.tap.remove()
    for g in dom.graphics:
        if g.autoport:
            g.port = g.websocket = g.tls_port = None
    for src in dom.el.iter("source"):
        src.attrib.pop("index", None)
    dom.runtime.remove()
    strip_capture(dom.el)


def clone_domain(dom: etree._Element, *, name: str, uuid: str, disks: dict[str, dict[str, str]],
                 macs: list[str], seed: dict[str, str] | None, facts: dict[str, Any],
                 cloned_from: dict[str, str]) -> etree._Element:
    """Edit `dom` (the snapshot's domain) in place into the clone's definition and return it.

    disks: target -> {path, format} of the new volumes; macs: one new MAC per NIC, in document order;
    seed: {target, path} of the new seed ISO; facts: JVP facts to set (update_facts keywords)."""
    doc = Domain(dom)
    _drop_live_details(doc)
    doc.name, doc.uuid = name, uuid
    for target, vol in disks.items():
        disk = doc.disk(target)
        if disk is None:
            raise edit.EditError(f"the snapshot's definition has no disk {target}")
        disk.drop_backing()  # the new volume is a flat image: no chain
        disk.source.set_file(vol["path"])
        disk.type = "file"
        disk.driver_name, disk.format = "qemu", vol["format"]
    nics = doc.interfaces
    if len(macs) != len(nics):
        raise edit.EditError(f"{len(nics)} NICs but {len(macs)} new MACs")
    for nic, mac in zip(nics, macs):
        nic.mac = mac
    if seed is not None:
        edit.set_media(dom, seed["target"], seed["path"], "raw")
    nvram = doc.os.nvram
    if nvram.exists():  # libvirt makes a fresh <name>_VARS.fd from the firmware's template
        if doc.os.nvram_template:
            nvram.el.text = None
        else:
            nvram.remove()
    el = doc.ensure_facts()
    update_facts(el.el, **facts)
    el.cloned_from = cloned_from
    return dom


def cloned_from(dom: etree._Element) -> dict[str, str] | None:
    return Domain(dom).facts.cloned_from
