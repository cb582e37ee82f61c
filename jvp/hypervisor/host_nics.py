"""What a VM NIC can attach to besides a libvirt network: the node's interfaces through libvirt's interface
API and its physical NICs (node devices on a bus, the macvtap candidates). Through the node's libvirt
connection, so remote nodes answer alike.
"""
from __future__ import annotations

import libvirt

from jvp.domain.network import NodeInterface, PhysicalNic
from jvp.hypervisor import support
from jvp.hypervisor.xml import parse, text


def host_interfaces(conn: libvirt.virConnect) -> list[NodeInterface] | None:
    """The node's interfaces through libvirt's interface API (netcf or udev backend), None when the node
    has no interface backend. Addresses appear only where the backend reports them (netcf does, udev not)."""
    try:
        ifaces = conn.listAllInterfaces(0)
    except libvirt.libvirtError as exc:
        if support.lacks("host_interfaces", exc):
            return None
        raise
    out = []
    for iface in ifaces:
        root = parse(iface.XMLDesc(0))
        addresses = [f"{ip.get('address')}/{ip.get('prefix') or (64 if proto.get('family') == 'ipv6' else 32)}"
                     for proto in root.findall("protocol") for ip in proto.findall("ip") if ip.get("address")]
        out.append(NodeInterface(name=root.get("name"), type=root.get("type"), active=bool(iface.isActive()),
                                 mac=text(root, "mac/@address"), addresses=addresses,
                                 members=[m.get("name") for m in root.findall("bridge/interface")]))
    return out


def physical_nics(conn: libvirt.virConnect) -> list[PhysicalNic]:
    """NICs on a bus (their node device's parent is a PCI/USB device, not `computer`): macvtap candidates."""
    out = []
    for dev in conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET):
        root = parse(dev.XMLDesc(0))
        if text(root, "parent") in (None, "computer"):
            continue
        link = root.find("capability[@type='net']/link")
        speed = link.get("speed") if link is not None else None
        out.append(PhysicalNic(name=text(root, "capability[@type='net']/interface"),
                               mac=text(root, "capability[@type='net']/address"),
                               link_state=link.get("state") if link is not None else None,
                               # the kernel reports -1 (4294967295) when the speed is unknown
                               speed_mbps=int(speed) if speed and int(speed) < 0xFFFFFFFF else None))
    return sorted(out, key=lambda n: n.name or "")
