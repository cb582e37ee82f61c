"""What the network module reads from libvirt: DHCP leases and physical NICs (node devices), with the
input libvirt would hand over (its lease dicts; node-device XML as libvirt builds it from udev/sysfs)."""
from __future__ import annotations

import libvirt

from jvp.domain.network import NetworkLease, PhysicalNic
from jvp.hypervisor import network as hv
from jvp.hypervisor.host_nics import physical_nics


class FakeLeasesNet:
    def __init__(self, leases):
        self._leases = leases

    def DHCPLeases(self, mac, flags):  # noqa: N802 - libvirt's name
        assert (mac, flags) == (None, 0)
        return self._leases


class FakeConn:
    def __init__(self, leases=None, devices=None):
        self.leases = leases or []
        self.devices = devices or []

    def networkLookupByName(self, name):  # noqa: N802
        assert name == "lab"
        return FakeLeasesNet(self.leases)

    def listAllDevices(self, flags):  # noqa: N802
        assert flags == libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET
        return self.devices


def lease(**kw):
    base = {"iface": "jvpbr0", "expirytime": 1767225600, "type": libvirt.VIR_IP_ADDR_TYPE_IPV4,
            "mac": "52:54:00:42:00:10", "iaid": None, "ipaddr": "198.18.42.10", "prefix": 24,
            "hostname": "db1", "clientid": "01:52:54:00:42:00:10"}
    base.update(kw)
    return base


def test_leases_are_mapped_with_rfc3339_expiry_and_sorted_by_family_and_address():
    conn = FakeConn(leases=[
        lease(ipaddr="198.18.42.100", mac="52:54:00:42:00:64", hostname=None, clientid=None),
        lease(type=libvirt.VIR_IP_ADDR_TYPE_IPV6, ipaddr="fd00:42::10", prefix=64, mac="52:54:00:42:00:10",
              clientid="00:04:aa", iaid="1"),
        lease(ipaddr="198.18.42.9", expirytime=0),  # 0: an infinite lease
        lease(),
    ])
    out = hv.leases(conn, "lab")
    # numeric order of addresses, not text order (".9" before ".10" before ".100"); IPv4 before IPv6
    assert [x.ip for x in out] == ["198.18.42.9", "198.18.42.10", "198.18.42.100", "fd00:42::10"]
    assert out[1] == NetworkLease(mac="52:54:00:42:00:10", ip="198.18.42.10", prefix=24, type="ipv4",
                                  hostname="db1", client_id="01:52:54:00:42:00:10",
                                  expires_at="2026-01-01T00:00:00Z")
    assert out[0].expires_at is None
    assert out[2].hostname is None and out[2].client_id is None
    assert out[3].type == "ipv6" and out[3].prefix == 64


def test_no_leases():
    assert hv.leases(FakeConn(), "lab") == []


class FakeDevice:
    def __init__(self, xml):
        self.xml = xml

    def XMLDesc(self, flags=0):  # noqa: N802
        return self.xml


def nic(name, parent, mac, link="<link speed='1000' state='up'/>"):
    return FakeDevice(f"""<device>
  <name>net_{name}_{mac.replace(':', '_')}</name>
  <path>/sys/devices/pci0000:00/0000:00:1f.6/net/{name}</path>
  <parent>{parent}</parent>
  <capability type='net'>
    <interface>{name}</interface>
    <address>{mac}</address>
    {link}
    <feature name='rx'/>
    <capability type='80203'/>
  </capability>
</device>""")


def test_physical_nics_are_the_ones_on_a_bus_with_link_state_and_speed():
    conn = FakeConn(devices=[
        nic("eno1", "pci_0000_00_1f_6", "00:11:22:33:44:55"),
        nic("enx001", "usb_1_2_1_0", "00:11:22:33:44:66", link="<link state='down'/>"),
        nic("enp3s0", "pci_0000_03_00_0", "00:11:22:33:44:77", link="<link speed='4294967295' state='unknown'/>"),
        nic("enp4s0", "pci_0000_04_00_0", "00:11:22:33:44:88", link=""),
        # virtual interfaces hang off `computer` (or have no parent): not macvtap candidates
        nic("virbr0", "computer", "52:54:00:00:00:01"),
        nic("vnet3", "computer", "fe:54:00:00:00:02"),
        FakeDevice("<device><name>net_lo_00_00_00_00_00_00</name><capability type='net'>"
                   "<interface>lo</interface></capability></device>"),
    ])
    out = physical_nics(conn)
    assert out == [
        PhysicalNic(name="eno1", mac="00:11:22:33:44:55", link_state="up", speed_mbps=1000),
        PhysicalNic(name="enp3s0", mac="00:11:22:33:44:77", link_state="unknown", speed_mbps=None),
        PhysicalNic(name="enp4s0", mac="00:11:22:33:44:88", link_state=None, speed_mbps=None),
        PhysicalNic(name="enx001", mac="00:11:22:33:44:66", link_state="down", speed_mbps=None),
    ]
