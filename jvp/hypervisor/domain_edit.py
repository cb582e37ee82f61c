"""Edit an existing domain document in place: vCPUs, memory, disks, NICs, cdrom media.

Each function changes only the elements it is about and leaves everything else (devices, tunables and
metadata JVP does not model) as libvirt gave it; the caller hands the whole document back to defineXML.
Errors are ValueError with a message for a person; the service turns them into JVP errors.
"""
from __future__ import annotations

import string

from lxml import etree

from jvp.domain.vm import DiskDevice, NicDevice
from jvp.hypervisor.domain_xml import disk_element, driver_format, nic_element
from jvp.hypervisor.xml import ensure, size_bytes

BUS_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd", "xen": "xvd"}
IDE_TARGETS = ["hda", "hdb", "hdc", "hdd"]


class EditError(ValueError):
    """A requested edit the document cannot take (the message says why)."""


# -- vCPUs and memory --------------------------------------------------------------------------------
def set_vcpus(root: etree._Element, count: int) -> None:
    """`count` vCPUs at the next boot (current = maximum = count).

    A per-vCPU <vcpus> list describes the old maximum and would no longer match, so it is dropped (libvirt
    regenerates the default); a <topology> is kept when it still multiplies out, else reshaped to sockets."""
    vcpu = ensure(root, "vcpu")
    vcpu.text = str(count)
    vcpu.attrib.pop("current", None)
    listed = root.find("vcpus")
    if listed is not None:
        root.remove(listed)
    topo = root.find("cpu/topology")
    if topo is not None:
        dies = int(topo.get("dies", "1"))
        cores, threads = int(topo.get("cores", "1")), int(topo.get("threads", "1"))
        per_socket = dies * cores * threads
        if count % per_socket == 0:
            topo.set("sockets", str(count // per_socket))
        else:
            topo.attrib.update({"sockets": str(count), "cores": "1", "threads": "1"})
            if "dies" in topo.attrib:
                topo.set("dies", "1")


def max_vcpus(root: etree._Element) -> int:
    return int((root.findtext("vcpu") or "1").strip())


def set_memory(root: etree._Element, mib: int) -> None:
    """`mib` of memory at the next boot (<memory> and <currentMemory>)."""
    if root.find("cpu/numa") is not None:
        raise EditError("this VM has a guest NUMA topology whose cells fix the memory size; change the cells "
                        "(virsh edit) instead")
    max_el = root.find("maxMemory")
    if max_el is not None and size_bytes(max_el) < mib * 1024 * 1024:
        raise EditError(f"{mib} MiB is above the VM's memory hot-plug maximum "
                        f"({size_bytes(max_el) // 2**20} MiB)")
    for tag in ("memory", "currentMemory"):
        el = ensure(root, tag)
        el.text = str(mib * 1024)
        el.set("unit", "KiB")


def memory_mib(root: etree._Element) -> int | None:
    value = size_bytes(root.find("memory"))
    return value // 2**20 if value is not None else None


# -- disks -------------------------------------------------------------------------------------------
def devices(root: etree._Element) -> etree._Element:
    return ensure(root, "devices")


def disks(root: etree._Element) -> list[etree._Element]:
    return root.findall("devices/disk")


def find_disk(root: etree._Element, target: str) -> etree._Element | None:
    return next((d for d in disks(root) if d.find("target") is not None
                 and d.find("target").get("dev") == target), None)


def disk_path(disk: etree._Element) -> str | None:
    src = disk.find("source")
    if src is None:
        return None
    return src.get("file") or src.get("dev") or src.get("name") or src.get("volume")


def find_disk_by_path(root: etree._Element, path: str) -> etree._Element | None:
    return next((d for d in disks(root) if disk_path(d) == path), None)


def targets(root: etree._Element | None) -> set[str]:
    if root is None:
        return set()
    return {d.find("target").get("dev") for d in disks(root) if d.find("target") is not None}


def next_target(used: set[str], bus: str) -> str:
    """The first free target name for the bus (vda, vdb, ... vdz, vdaa, ...; hda-hdd on IDE)."""
    if bus == "ide":
        free = [t for t in IDE_TARGETS if t not in used]
        if not free:
            raise EditError("all four IDE slots (hda-hdd) are taken")
        return free[0]
    prefix = BUS_PREFIX.get(bus, "vd")
    for first in ["", *string.ascii_lowercase]:
        for last in string.ascii_lowercase:
            name = f"{prefix}{first}{last}"
            if name not in used:
                return name
    raise EditError(f"no free target name on bus {bus}")


def add_disk(root: etree._Element, disk: DiskDevice) -> etree._Element:
    if find_disk(root, disk.target) is not None:
        raise EditError(f"target {disk.target} is already used by another disk of this VM")
    el = disk_element(disk)
    _insert_device(root, el)
    return el


def remove_disk(root: etree._Element, target: str) -> etree._Element:
    el = find_disk(root, target)
    if el is None:
        raise EditError(f"this VM has no disk at target {target}")
    el.getparent().remove(el)
    return el


def set_media(root: etree._Element, target: str, path: str | None, fmt: str = "raw") -> etree._Element:
    """Put a file in a cdrom drive (path) or empty it (None); the drive itself stays."""
    el = find_disk(root, target)
    if el is None or el.get("device") not in ("cdrom", "floppy"):
        raise EditError(f"this VM has no cdrom drive at target {target}")
    src = el.find("source")
    if path is None:
        if src is not None:
            el.remove(src)
        return el
    el.set("type", "file")
    if src is None:
        src = etree.Element("source")
        drv = el.find("driver")
        el.insert(el.index(drv) + 1 if drv is not None else 0, src)
    src.attrib.clear()
    src.set("file", path)
    drv = el.find("driver")
    if drv is not None:
        drv.set("type", driver_format(fmt))
    return el


# -- NICs --------------------------------------------------------------------------------------------
def nics(root: etree._Element) -> list[etree._Element]:
    return root.findall("devices/interface")


def nic_mac(nic: etree._Element) -> str | None:
    mac = nic.find("mac")
    return mac.get("address").lower() if mac is not None and mac.get("address") else None


def find_nic(root: etree._Element, mac: str) -> etree._Element | None:
    return next((n for n in nics(root) if nic_mac(n) == mac.lower()), None)


def add_nic(root: etree._Element, nic: NicDevice) -> etree._Element:
    if find_nic(root, nic.mac) is not None:
        raise EditError(f"this VM already has a NIC with MAC {nic.mac}")
    el = nic_element(nic)
    _insert_device(root, el)
    return el


def remove_nic(root: etree._Element, mac: str) -> etree._Element:
    el = find_nic(root, mac)
    if el is None:
        raise EditError(f"this VM has no NIC with MAC {mac}")
    el.getparent().remove(el)
    return el


def _insert_device(root: etree._Element, el: etree._Element) -> None:
    """After the last device of the same kind (libvirt sorts on define anyway; this keeps diffs readable)."""
    devs = devices(root)
    same = devs.findall(el.tag)
    if same:
        same[-1].addnext(el)
    else:
        devs.append(el)
