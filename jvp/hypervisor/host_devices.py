"""A node's devices (PCI, USB, network interfaces, disks, GPUs) as libvirt's node device API lists them, and
which VM passes each PCI device through; read through the node's libvirt connection only.
"""
from __future__ import annotations

import libvirt

from jvp.domain.node import NetDevice, NodeDevice, PciDevice, StorageDevice, UsbDevice
from jvp.hypervisor.listing import views_of
from jvp.hypervisor.xml import integer, parse, text


# -- node devices ------------------------------------------------------------------------------------
_CAPS = {
    "pci": libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV,
    "usb": libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV,
    "net": libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET,
    "disks": libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_STORAGE,
}


def pci_address(domain: int, bus: int, slot: int, function: int) -> str:
    """A PCI address in the BDF notation of lspci and sysfs, every part in hex (`0001:15:0a.3`): libvirt's
    node device XML gives the parts in decimal (`<function>50</function>`) and a domain's <hostdev> in hex
    (`function='0x32'`); both become the same string, the function too (0x32 -> `.32`, never `.50`)."""
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def _pci(dev) -> PciDevice:
    cap = dev.find("capability[@type='pci']")
    dom, bus, slot, fn = (integer(cap, f) or 0 for f in ("domain", "bus", "slot", "function"))
    return PciDevice(
        name=text(dev, "name"),
        address=pci_address(dom, bus, slot, fn),
        class_=text(cap, "class"),
        vendor_id=text(cap, "vendor/@id"), vendor=text(cap, "vendor"),
        product_id=text(cap, "product/@id"), product=text(cap, "product"),
        driver=text(dev, "driver/name"),
        iommu_group=integer(cap, "iommuGroup/@number"),
        numa_node=integer(cap, "numa/@node"),
    )


def _usb(dev) -> UsbDevice:
    cap = dev.find("capability[@type='usb_device']")
    return UsbDevice(
        name=text(dev, "name"), bus=integer(cap, "bus"), device=integer(cap, "device"),
        vendor_id=text(cap, "vendor/@id"), vendor=text(cap, "vendor"),
        product_id=text(cap, "product/@id"), product=text(cap, "product"),
        driver=text(dev, "driver/name"),
    )


def _speed(value: str | None) -> int | None:
    if not value or not value.isdigit() or int(value) >= 2**32 - 1:
        return None
    return int(value)


def _net(dev) -> NetDevice:
    cap = dev.find("capability[@type='net']")
    speed = cap.find("link")
    return NetDevice(
        name=text(dev, "name"), interface=text(cap, "interface"), mac=text(cap, "address"),
        link_state=speed.get("state") if speed is not None else None,
        # libvirt reports an unknown link speed as unsigned -1 (4294967295): that is "unknown", not 4 Pb/s.
        speed_mbps=_speed(speed.get("speed") if speed is not None else None),
        parent=text(dev, "parent"),
    )


def _disk(dev) -> StorageDevice:
    cap = dev.find("capability[@type='storage']")
    return StorageDevice(
        name=text(dev, "name"), block=text(cap, "block"), bus=text(cap, "bus"),
        drive_type=text(cap, "drive_type"), model=text(cap, "model"), vendor=text(cap, "vendor"),
        serial=text(cap, "serial"), size_bytes=integer(cap, "size"),
        removable=cap.find("capability[@type='removable']") is not None,
    )


_PARSE = {"pci": _pci, "usb": _usb, "net": _net, "disks": _disk}


def node_devices(conn: libvirt.virConnect, kind: str) -> list[NodeDevice]:
    """Node devices of one kind (pci, usb, net, disks, gpu); PCI devices say which VM holds them."""
    cap = "pci" if kind == "gpu" else kind
    # a device unplugged between the listing and its read is skipped (listing.views_of), not a failed listing
    devices = views_of(conn.listAllDevices(_CAPS[cap]), lambda d: parse(d.XMLDesc(0)))
    out = [_PARSE[cap](d) for d in devices]
    if cap == "pci":
        held = _pci_holders(conn)
        for d in out:
            d.vm = held.get(d.address)
        if kind == "gpu":
            out = [d for d in out if (d.class_ or "").lower().startswith("0x03")]
    return sorted(out, key=lambda d: d.name or "")


def _c_uint(value: str) -> int:
    """An unsigned number as libvirt parses an address attribute (strtoul base 0: 0x hex, 0 octal, else decimal)."""
    v = value.strip().lower()
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v, 8) if len(v) > 1 and v.startswith("0") else int(v)


def _pci_holders(conn: libvirt.virConnect) -> dict[str, str]:
    """PCI address -> name of the VM whose (persistent or live) XML passes it through. A domain that vanishes
    meanwhile, or whose address cannot be read, holds nothing: the device listing stands."""
    held: dict[str, str] = {}
    for dom in conn.listAllDomains(0):
        try:
            root = parse(dom.XMLDesc(0))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                continue
            raise
        for addr in root.findall("devices/hostdev[@type='pci']/source/address"):
            try:
                parts = [_c_uint(addr.get(a, "0")) for a in ("domain", "bus", "slot", "function")]
            except ValueError:
                continue
            held[pci_address(*parts)] = dom.name()
    return held
