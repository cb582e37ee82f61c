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
from jvp.hypervisor.xml.base import Children, XmlNode
from jvp.hypervisor.xml.domain import Disk, Domain, Interface

BUS_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd", "xen": "xvd"}
IDE_TARGETS = ["hda", "hdb", "hdc", "hdd"]


class EditError(ValueError):
    """A requested edit the document cannot take (the message says why)."""


# -- vCPUs and memory --------------------------------------------------------------------------------
def set_vcpus(root: etree._Element, count: int) -> None:
    """`count` vCPUs at the next boot (current = maximum = count).

    A per-vCPU <vcpus> list describes the old maximum and would no longer match, so it is dropped (libvirt
    regenerates the default); a <topology> is kept when it still multiplies out, else reshaped to sockets."""
    dom = Domain(root)
    dom.vcpus = count
    dom.vcpu_current = None
    dom.vcpu_list.remove()
    cpu = dom.cpu
    if cpu.topology.exists():
        per_socket = (cpu.dies or 1) * (cpu.cores or 1) * (cpu.threads or 1)
        if count % per_socket == 0:
            cpu.sockets = count // per_socket
        else:
            cpu.sockets, cpu.cores, cpu.threads = count, 1, 1
            if cpu.dies is not None:
                cpu.dies = 1


def max_vcpus(root: etree._Element) -> int:
    return Domain(root).vcpus


def set_memory(root: etree._Element, mib: int) -> None:
    """`mib` of memory at the next boot (<memory> and <currentMemory>)."""
    dom = Domain(root)
    if dom.cpu.numa:
        raise EditError("this VM has a guest NUMA topology whose cells fix the memory size; change the cells "
                        "(virsh edit) instead")
    limit = dom.max_memory_bytes
    if limit is not None and limit < mib * 1024 * 1024:
        raise EditError(f"{mib} MiB is above the VM's memory hot-plug maximum ({limit // 2**20} MiB)")
    dom.memory_mib = dom.current_memory_mib = mib


def memory_mib(root: etree._Element) -> int | None:
    return Domain(root).memory_mib


# -- disks -------------------------------------------------------------------------------------------
def disks(root: etree._Element) -> list[etree._Element]:
    return [d.el for d in Domain(root).disks]


def find_disk(root: etree._Element, target: str) -> etree._Element | None:
    found = Domain(root).disk(target)
    return found.el if found is not None else None


def disk_path(disk: etree._Element) -> str | None:
    return Disk(disk).path


def find_disk_by_path(root: etree._Element, path: str) -> etree._Element | None:
    return next((d.el for d in Domain(root).disks if d.path == path), None)


def targets(root: etree._Element | None) -> set[str]:
    if root is None:
        return set()
    return {d.target for d in Domain(root).disks if d.target is not None}


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
    dom = Domain(root)
    return _added(dom.disks, Disk(disk_element(disk)), dom.disk(disk.target),
                  f"target {disk.target} is already used by another disk of this VM")


def remove_disk(root: etree._Element, target: str) -> etree._Element:
    return _removed(Domain(root).disk(target), f"this VM has no disk at target {target}")


def _added(devices: Children, device: XmlNode, clash: XmlNode | None, taken: str) -> etree._Element:
    """Add the device to its document (EditError `taken` when `clash` already holds its place); its element."""
    if clash is not None:
        raise EditError(taken)
    return devices.add(device).el


def _removed(found: XmlNode | None, missing: str) -> etree._Element:
    """Take the device out of its document (EditError `missing` when there is none); its element."""
    if found is None:
        raise EditError(missing)
    el = found.el
    found.remove()
    return el


def set_disk_file(root: etree._Element, target: str, path: str, fmt: str) -> etree._Element:
    """Point a disk at another file (a new system disk); libvirt's view of the old chain goes."""
    disk = Domain(root).disk(target)
    if disk is None or disk.device != "disk":
        raise EditError(f"this VM has no disk at target {target}")
    disk.type = "file"
    disk.source.set_file(path)
    disk.drop_backing()
    disk.format = driver_format(fmt)
    return disk.el


def set_media(root: etree._Element, target: str, path: str | None, fmt: str = "raw") -> etree._Element:
    """Put a file in a cdrom drive (path) or empty it (None); the drive itself stays."""
    drive = Domain(root).disk(target)
    if drive is None or drive.device not in ("cdrom", "floppy"):
        raise EditError(f"this VM has no cdrom drive at target {target}")
    if path is None:
        drive.source.remove()
        return drive.el
    drive.type = "file"
    drive.source.set_file(path)
    if drive.driver.exists():
        drive.format = driver_format(fmt)
    return drive.el


# -- NICs --------------------------------------------------------------------------------------------
def nics(root: etree._Element) -> list[etree._Element]:
    return [n.el for n in Domain(root).interfaces]


def nic_mac(nic: etree._Element) -> str | None:
    return Interface(nic).mac or None


def find_nic(root: etree._Element, mac: str) -> etree._Element | None:
    found = Domain(root).interface(mac)
    return found.el if found is not None else None


def add_nic(root: etree._Element, nic: NicDevice) -> etree._Element:
    dom = Domain(root)
    return _added(dom.interfaces, Interface(nic_element(nic)), dom.interface(nic.mac),
                  f"this VM already has a NIC with MAC {nic.mac}")


def remove_nic(root: etree._Element, mac: str) -> etree._Element:
    return _removed(Domain(root).interface(mac), f"this VM has no NIC with MAC {mac}")
