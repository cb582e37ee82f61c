"""Every <ip> block of a network as libvirt has it (issue 13): prefixes derived as libvirt derives them,
several IPv4/IPv6 blocks with their DHCP ranges and hosts, forward modes JVP never creates, unreadable rows,
and the static-host actions aimed at the right block."""
from __future__ import annotations

import ipaddress

import pytest

from jvp.domain.network import DhcpHost
from jvp.hypervisor import network as hv
from jvp.hypervisor.network_view import libvirt_prefix, network_view
from jvp.hypervisor.xml import parse
from jvp.service.network import rules


# libvirt's rule (src/util/virsocketaddr.c, virSocketAddrGetIPPrefix, called by virNetworkIPDefPrefix and
# virNetDevIPRouteGetPrefix): prefix > 0, else the netmask's bits, else the natural prefix of the IPv4
# address's class (A /8, B /16, C /24; 0.0.0.0 -> 0; D/E refused), else 64 for IPv6 (:: -> 0).
@pytest.mark.parametrize("address,prefix,netmask,expected", [
    ("10.1.2.3", None, None, (8, "classful")),           # class A: first bit 0
    ("127.0.0.1", None, None, (8, "classful")),
    ("128.0.0.1", None, None, (16, "classful")),         # class B: first bits 10
    ("172.16.5.1", None, None, (16, "classful")),
    ("191.255.0.1", None, None, (16, "classful")),
    ("192.0.2.1", None, None, (24, "classful")),         # class C: first bits 110
    ("198.18.200.1", None, None, (24, "classful")),
    ("223.1.1.1", None, None, (24, "classful")),
    ("224.0.0.1", None, None, (None, "classful")),       # class D: libvirt has no prefix for it
    ("240.0.0.1", None, None, (None, "classful")),       # class E
    ("0.0.0.0", None, None, (0, "classful")),
    ("10.1.2.3", None, "255.255.0.0", (16, "netmask")),  # a netmask wins over the class
    ("198.18.5.1", None, "255.255.255.252", (30, "netmask")),
    ("198.18.5.1", None, "255.0.255.0", (None, "netmask")),  # not contiguous: libvirt refuses it
    ("10.1.2.3", "20", None, (20, "prefix")),            # a prefix wins over both
    ("10.1.2.3", "0", None, (8, "classful")),            # prefix 0 counts as none (libvirt: prefix > 0)
    ("10.1.2.3", "0", "255.255.255.0", (24, "netmask")),
    ("fd00::1", None, None, (64, "default")),
    ("fd00::1", "48", None, (48, "prefix")),
    ("::", None, None, (0, "default")),
    (None, None, None, (0, "default")),
    ("10.1.2.3", "x", None, (None, "prefix")),
])
def test_prefix_is_derived_as_libvirt_derives_it(address, prefix, netmask, expected):
    assert libvirt_prefix(address, prefix, netmask) == expected


MULTI = """<network>
  <name>multi net &amp; odd</name>
  <uuid>0b6ee2a4-4e39-4c6a-8d5b-6b3a1a0000c1</uuid>
  <forward mode='route' dev='eth0'/>
  <bridge name='virbr9'/>
  <mtu size='9000'/>
  <ip address='10.20.0.1'>
    <tftp root='/srv/tftp'/>
    <dhcp>
      <range start='10.20.0.10' end='10.20.0.99'/>
      <range start='10.20.1.10' end='10.20.1.99'/>
      <host mac='52:54:00:C0:00:01' name='a' ip='10.20.0.5'/>
      <bootp file='pxelinux.0' server='10.20.0.2'/>
    </dhcp>
  </ip>
  <ip address='172.16.3.1' netmask='255.255.255.0'>
    <dhcp><host mac='52:54:00:c0:00:02' ip='172.16.3.7'/></dhcp>
  </ip>
  <ip address='192.0.2.1'/>
  <ip family='ipv6' address='fd00:c::1' prefix='64'>
    <dhcp>
      <range start='fd00:c::100' end='fd00:c::1ff'/>
      <host id='0:3:0:1:0:16:3e:11:22:33' name='v6a' ip='fd00:c::10'/>
      <host name='v6b' ip='fd00:c::11'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00:d::1'/>
  <route address='198.19.0.0' netmask='255.255.0.0' gateway='10.20.0.3'/>
  <route address='0.0.0.0' prefix='0' gateway='10.20.0.4'/>
</network>"""


def test_every_block_with_its_ranges_and_hosts():
    view = network_view(parse(MULTI), active=True, autostart=True, persistent=True)
    assert view.name == "multi net & odd" and view.mode == "route" and view.forward_mode == "route"
    assert view.forward_dev == "eth0" and view.mtu == 9000 and view.problems == []
    assert [(b.family, b.address, b.prefix, b.prefix_source, b.index) for b in view.ips] == [
        ("ipv4", "10.20.0.1", 8, "classful", 0), ("ipv4", "172.16.3.1", 24, "netmask", 1),
        ("ipv4", "192.0.2.1", 24, "classful", 2), ("ipv6", "fd00:c::1", 64, "prefix", 3),
        ("ipv6", "fd00:d::1", 64, "default", 4)]
    first = view.ips[0]
    assert [(r.start, r.end) for r in first.ranges] == [("10.20.0.10", "10.20.0.99"), ("10.20.1.10", "10.20.1.99")]
    assert (first.dhcp_start, first.dhcp_end) == ("10.20.0.10", "10.20.0.99")
    assert (first.tftp_root, first.bootp_file, first.bootp_server) == ("/srv/tftp", "pxelinux.0", "10.20.0.2")
    assert view.ips[3].hosts == (DhcpHost(mac=None, ip="fd00:c::10", hostname="v6a", id="0:3:0:1:0:16:3e:11:22:33"),
                                 DhcpHost(mac=None, ip="fd00:c::11", hostname="v6b"))
    assert view.ips[2].dhcp is False and view.ips[1].dhcp is True
    # the summaries are the first block of each family; `hosts` holds every block's hosts
    assert view.ipv4 is view.ips[0] and view.ipv6 is view.ips[3]
    assert [h.ip for h in view.hosts] == ["10.20.0.5", "172.16.3.7", "fd00:c::10", "fd00:c::11"]
    # every block and route is claimed with libvirt's prefix (the default route claims nothing)
    assert view.subnets == ["10.0.0.0/8", "172.16.3.0/24", "192.0.2.0/24", "fd00:c::/64", "fd00:d::/64",
                            "198.19.0.0/16"]


def test_the_overlap_check_sees_a_classful_block():
    view = network_view(parse(MULTI), active=True, autostart=True, persistent=True)
    claims = [(view.name, ipaddress.ip_network(s)) for s in view.subnets]
    hit = rules.find_overlap([ipaddress.ip_network("10.99.0.0/24")], claims)
    assert hit is not None and str(hit[1]) == "10.0.0.0/8"
    assert rules.find_overlap([ipaddress.ip_network("192.0.3.0/24")], claims) is None


@pytest.mark.parametrize("forward,mode", [("<forward mode='passthrough'><interface dev='eth1'/>"
                                           "<interface dev='eth2'/></forward>", "passthrough"),
                                          ("<forward mode='hostdev' managed='yes'><pf dev='eth3'/></forward>",
                                           "hostdev"),
                                          ("<forward mode='open'/>", "open"), ("<forward/>", "nat")])
def test_forward_modes_jvp_never_creates(forward, mode):
    view = network_view(parse(f"<network><name>x</name>{forward}</network>"), active=False, autostart=False,
                           persistent=True)
    assert view.mode == mode and view.ips == [] and view.problems == []
    if mode == "passthrough":
        assert view.forward_interfaces == ["eth1", "eth2"]
    assert view.forward_mode == (None if forward == "<forward/>" else mode)


def test_a_block_without_a_derivable_prefix_is_a_problem_not_a_failure():
    root = parse("<network><name>odd</name><ip address='230.1.1.1'/><ip address='10.0.0.1' netmask='255.0.255.0'/>"
                 "<ip address='198.18.0.1' prefix='24'/></network>")
    view = network_view(root, active=False, autostart=False, persistent=True)
    assert [b.prefix for b in view.ips] == [None, None, 24]
    assert [p.code for p in view.problems] == ["NetworkXmlUnreadable"] * 2
    assert view.subnets == ["198.18.0.0/24"]


class _UnreadableNet:
    def isActive(self): return 1  # noqa: E704,N802 - libvirt's names
    def autostart(self): return 0  # noqa: E704
    def isPersistent(self): return 1  # noqa: E704,N802
    def XMLDesc(self, flags): return "<network><name>broken</name"  # noqa: E704,N802
    def name(self): return "broken"  # noqa: E704
    def UUIDString(self): return "0b6ee2a4-4e39-4c6a-8d5b-6b3a1a0000c2"  # noqa: E704,N802


def test_an_unreadable_document_degrades_its_row():
    view = hv._view(_UnreadableNet())
    assert view.name == "broken" and view.state == "active" and view.persistent is True
    assert view.ips == [] and [p.code for p in view.problems] == ["NetworkXmlUnreadable"]


def test_hosts_go_to_the_block_that_holds_the_address():
    view = network_view(parse(MULTI), active=True, autostart=True, persistent=True)
    assert rules.containing_block(view.ips, ipaddress.ip_address("172.16.3.50")).index == 1
    assert rules.containing_block(view.ips, ipaddress.ip_address("10.200.0.1")).index == 0   # /8 by class
    assert rules.containing_block(view.ips, ipaddress.ip_address("fd00:d::5")).index == 4
    assert rules.containing_block(view.ips, ipaddress.ip_address("198.51.100.1")) is None
    v6 = DhcpHost(mac=None, ip="fd00:c::10", hostname="v6a", id="0:3:0:1:0:16:3e:11:22:33")
    assert rules.block_of_host(view.ips, v6, ipaddress.ip_address("fd00:c::10")).index == 3


def test_host_xml_of_an_ipv6_host_has_its_id_and_no_mac():
    el = parse(hv.host_xml(DhcpHost(mac=None, ip="fd00:c::10", hostname="v6a", id="0:3:0:1")))
    assert el.attrib == {"id": "0:3:0:1", "name": "v6a", "ip": "fd00:c::10"}
