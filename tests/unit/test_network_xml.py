"""Network XML: built for each mode with lxml, and read back into the SPEC 2.6 view."""
from __future__ import annotations

import ipaddress

import pytest

from jvp.domain.network import DhcpHost, DhcpRange, IpBlock, NetworkSpec
from jvp.hypervisor import network as hv
from jvp.hypervisor.network_view import network_mode, network_view
from jvp.hypervisor.xml import parse

V4 = ipaddress.IPv4Interface("198.18.10.1/24")


def spec(mode: str, **kw) -> NetworkSpec:
    base = dict(name="n1", mode=mode, bridge="jvpbr3", ipv4=V4, dhcp_start=ipaddress.IPv4Address("198.18.10.128"),
                dhcp_end=ipaddress.IPv4Address("198.18.10.254"))
    base.update(kw)
    return NetworkSpec(**base)


@pytest.mark.parametrize("mode", ["nat", "route", "open"])
def test_forwarding_modes(mode):
    root = parse(hv.build_network_xml(spec(mode, domain="lab.test")))
    assert root.findtext("name") == "n1"
    assert root.find("forward").get("mode") == mode
    assert root.find("bridge").attrib == {"name": "jvpbr3", "stp": "on", "delay": "0"}
    assert root.find("domain").attrib == {"name": "lab.test", "localOnly": "yes"}
    ip = root.find("ip")
    assert (ip.get("address"), ip.get("prefix"), ip.get("family")) == ("198.18.10.1", "24", None)
    assert ip.find("dhcp/range").attrib == {"start": "198.18.10.128", "end": "198.18.10.254"}


def test_isolated_has_no_forward_and_may_skip_dhcp():
    root = parse(hv.build_network_xml(spec("isolated", dhcp_start=None, dhcp_end=None)))
    assert root.find("forward") is None
    assert root.find("ip") is not None and root.find("ip/dhcp") is None
    assert root.find("domain") is None


def test_isolated_without_addresses_is_a_plain_switch():
    root = parse(hv.build_network_xml(spec("isolated", ipv4=None, dhcp_start=None, dhcp_end=None)))
    assert root.find("ip") is None and root.find("bridge").get("name") == "jvpbr3"


def test_bridge_mode_wraps_the_host_bridge_only():
    root = parse(hv.build_network_xml(spec("bridge", bridge="br0", ipv4=None, dhcp_start=None, dhcp_end=None)))
    assert root.find("forward").get("mode") == "bridge"
    assert root.find("bridge").attrib == {"name": "br0"}
    assert root.find("ip") is None


def test_ipv6_is_a_second_ip_element():
    root = parse(hv.build_network_xml(spec("route", ipv6=ipaddress.IPv6Interface("fd00:198:18::1/64"))))
    v6 = root.find("ip[@family='ipv6']")
    assert (v6.get("address"), v6.get("prefix")) == ("fd00:198:18::1", "64")
    assert v6.find("dhcp") is None


def test_names_with_markup_are_escaped_by_lxml():
    xml = hv.build_network_xml(spec("nat", name="a<b>&c"))
    assert parse(xml).findtext("name") == "a<b>&c"


def test_host_xml():
    el = parse(hv.host_xml(DhcpHost(mac="52:54:00:00:00:01", ip="198.18.10.10", hostname="web1")))
    assert el.tag == "host" and el.attrib == {"mac": "52:54:00:00:00:01", "name": "web1", "ip": "198.18.10.10"}
    assert "name" not in parse(hv.host_xml(DhcpHost(mac="52:54:00:00:00:01", ip="198.18.10.10"))).attrib


LIBVIRT_XML = """<network connections='2'>
  <name>lan</name>
  <uuid>0b6ee2a4-4e39-4c6a-8d5b-6b3a1a0000a1</uuid>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr7' stp='on' delay='0'/>
  <mac address='52:54:00:11:82:6a'/>
  <domain name='lan.test' localOnly='yes'/>
  <ip address='198.18.10.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='198.18.10.100' end='198.18.10.200'/>
      <host mac='52:54:00:0A:00:01' name='web1' ip='198.18.10.10'/>
      <host name='byname' ip='198.18.10.11'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00:198:18::1' prefix='64'/>
  <route address='198.19.5.0' prefix='24' gateway='198.18.10.2'/>
</network>"""


def test_view_of_a_libvirt_network():
    view = network_view(parse(LIBVIRT_XML), active=True, autostart=False, persistent=True)
    assert view.name == "lan" and view.mode == "nat" and view.bridge == "virbr7"
    assert view.state == "active" and view.autostart is False and view.persistent is True
    hosts = (DhcpHost(mac="52:54:00:0a:00:01", ip="198.18.10.10", hostname="web1"),
             DhcpHost(mac=None, ip="198.18.10.11", hostname="byname"))
    assert view.ipv4 == IpBlock(address="198.18.10.1", prefix=24, dhcp_start="198.18.10.100",
                                dhcp_end="198.18.10.200", family="ipv4", index=0, prefix_source="netmask",
                                netmask="255.255.255.0", dhcp=True,
                                ranges=(DhcpRange("198.18.10.100", "198.18.10.200"),), hosts=hosts)
    assert view.ipv6 == IpBlock(address="fd00:198:18::1", prefix=64, dhcp_start=None, dhcp_end=None,
                                family="ipv6", index=1)
    assert view.ips == [view.ipv4, view.ipv6] and view.problems == []
    assert view.domain == "lan.test" and view.dhcp is True
    assert view.hosts == [DhcpHost(mac="52:54:00:0a:00:01", ip="198.18.10.10", hostname="web1"),
                          DhcpHost(mac=None, ip="198.18.10.11", hostname="byname")]
    # static routes through a guest are subnets the network holds too
    assert view.subnets == ["198.18.10.0/24", "fd00:198:18::/64", "198.19.5.0/24"]


@pytest.mark.parametrize("forward,mode", [("", "isolated"), ("<forward/>", "nat"),
                                          ("<forward mode='route'/>", "route"),
                                          ("<forward mode='bridge'/>", "bridge"),
                                          ("<forward mode='hostdev'/>", "hostdev")])
def test_mode_detection(forward, mode):
    root = parse(f"<network><name>x</name>{forward}</network>")
    assert network_mode(root) == mode
    view = network_view(root, active=False, autostart=False, persistent=True)
    assert view.ipv4 is None and view.hosts == [] and view.dhcp is False and view.subnets == []


def test_round_trip_of_the_builder_through_the_reader():
    root = parse(hv.build_network_xml(spec("nat", ipv6=ipaddress.IPv6Interface("fd00::1/64"))))
    view = network_view(root, active=False, autostart=True, persistent=True)
    assert view.mode == "nat" and view.bridge == "jvpbr3"
    assert view.ipv4.dhcp_start == "198.18.10.128" and view.ipv6.prefix == 64


class FakeNet:
    def __init__(self, fail: str):
        self.fail = fail
        self.active = False
        self.calls = []

    def setAutostart(self, on):  # noqa: N802 - libvirt's names
        self.calls.append(("autostart", on))

    def create(self):
        import libvirt
        err = libvirt.libvirtError(self.fail)
        err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, 0, self.fail, 0, None, None, None, 0, 0)
        raise err

    def isActive(self):  # noqa: N802
        return self.active

    def isPersistent(self):  # noqa: N802
        return True

    def undefine(self):
        self.calls.append(("undefine",))


class FakeConn:
    def __init__(self, net):
        self.net = net

    def networkDefineXML(self, xml):  # noqa: N802
        return self.net


def test_a_failed_start_undefines_and_names_the_interface():
    from jvp.errors import JvpError
    net = FakeNet("internal error: Network is already in use by interface eth0")
    with pytest.raises(JvpError) as exc:
        hv.define_and_start(FakeConn(net), "<network/>", autostart=True, node="n", name="lan")
    assert (exc.value.code, exc.value.status) == ("SubnetInUseOnHost", 409)
    assert exc.value.details["interface"] == "eth0" and "libvirt_error" in exc.value.details
    assert net.calls == [("autostart", 1), ("undefine",)]


def test_other_start_failures_keep_libvirts_error():
    import libvirt
    net = FakeNet("internal error: something else")
    with pytest.raises(libvirt.libvirtError):
        hv.define_and_start(FakeConn(net), "<network/>", autostart=False, node="n", name="lan")
    assert net.calls == [("autostart", 0), ("undefine",)]
