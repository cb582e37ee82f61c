"""Network validation: CIDRs, DHCP ranges, overlaps, names, MACs and reservations (no libvirt)."""
from __future__ import annotations

import ipaddress

import pytest

from jvp.domain.network import DhcpHost
from jvp.errors import Conflict, InvalidInput
from jvp.service.network import rules as rules

IP4 = ipaddress.IPv4Address


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises((InvalidInput, Conflict)) as exc:
        fn(*args, **kwargs)
    return exc.value.code


@pytest.mark.parametrize("value", ["198.18.10.1/24", "10.0.0.1/8", "198.18.10.5/30", " 198.18.10.1/24 "])
def test_good_ipv4_cidrs(value):
    iface = rules.parse_ipv4_cidr(value)
    assert iface.ip in iface.network


@pytest.mark.parametrize("value", [
    "198.18.10.1", "198.18.10.0/24", "198.18.10.255/24", "198.18.10.1/31", "198.18.10.1/32", "10.0.0.1/7",
    "198.18.10.300/24", "fd00::1/64", "nonsense", "198.18.10.1/", "127.0.0.2/8", "169.254.1.1/16",
    "224.0.0.1/24", "240.0.0.1/24"])
def test_bad_ipv4_cidrs(value):
    assert code_of(rules.parse_ipv4_cidr, value) == "InvalidCidr"


def test_ipv4_cidr_error_names_the_field():
    with pytest.raises(InvalidInput) as exc:
        rules.parse_ipv4_cidr("198.18.10.0/24")
    assert "ipv4_cidr" in exc.value.details["field_errors"]
    assert "198.18.10.1/24" in exc.value.message  # it suggests the host address


def test_ipv6_cidrs():
    assert str(rules.parse_ipv6_cidr("fd00:198:18::1/64").network) == "fd00:198:18::/64"
    for bad in ("fd00::1/48", "fd00::1", "fd00::/64", "fe80::1/64", "ff02::1/64", "198.18.10.1/24", "x"):
        assert code_of(rules.parse_ipv6_cidr, bad) == "InvalidCidr", bad


@pytest.mark.parametrize("cidr,expected", [
    ("198.18.10.1/24", ("198.18.10.128", "198.18.10.254")),     # upper half of a /24
    ("198.18.10.200/24", ("198.18.10.128", "198.18.10.199")),   # host in the upper half: the longer side
    ("198.18.10.130/24", ("198.18.10.131", "198.18.10.254")),
    ("198.18.10.254/24", ("198.18.10.128", "198.18.10.253")),
    ("10.0.0.1/16", ("10.0.128.0", "10.0.255.254")),
    ("198.18.10.1/30", ("198.18.10.2", "198.18.10.2")),
    ("198.18.10.2/30", ("198.18.10.1", "198.18.10.1")),         # the only other usable address
    ("198.18.10.1/29", ("198.18.10.4", "198.18.10.6")),
])
def test_default_dhcp_range(cidr, expected):
    iface = rules.parse_ipv4_cidr(cidr)
    start, end = rules.default_dhcp_range(iface)
    assert (str(start), str(end)) == expected
    assert not start <= iface.ip <= end
    assert start in iface.network and end in iface.network
    assert start != iface.network.network_address and end != iface.network.broadcast_address


def test_given_dhcp_range_is_kept():
    iface = rules.parse_ipv4_cidr("198.18.10.1/24")
    assert rules.dhcp_range(iface, "198.18.10.50", "198.18.10.60") == (IP4("198.18.10.50"), IP4("198.18.10.60"))
    assert rules.dhcp_range(iface, None, None) == rules.default_dhcp_range(iface)


@pytest.mark.parametrize("start,end,field", [
    ("198.18.11.10", "198.18.11.20", "dhcp_start"),   # outside the subnet
    ("198.18.10.10", "198.18.11.20", "dhcp_end"),     # end outside
    ("198.18.10.90", "198.18.10.20", "dhcp_end"),     # reversed
    ("198.18.10.1", "198.18.10.50", "dhcp_start"),    # contains the host address
    ("198.18.10.0", "198.18.10.50", "dhcp_start"),    # network address
    ("198.18.10.100", "198.18.10.255", "dhcp_end"),   # broadcast address
    ("198.18.10.100", None, "dhcp_end"),              # one end only
    ("not-an-ip", "198.18.10.20", "dhcp_start"),
])
def test_bad_dhcp_ranges(start, end, field):
    iface = rules.parse_ipv4_cidr("198.18.10.1/24")
    with pytest.raises(InvalidInput) as exc:
        rules.dhcp_range(iface, start, end)
    assert exc.value.code == "InvalidDhcpRange"
    assert field in exc.value.details["field_errors"]


def test_overlap_finds_the_owner_and_ignores_other_families():
    mine = [ipaddress.ip_network("198.18.10.0/24"), ipaddress.ip_network("fd00:1::/64")]
    claims = [("a", ipaddress.ip_network("198.18.11.0/24")), ("v6", ipaddress.ip_network("fd00:2::/64")),
              ("b", ipaddress.ip_network("198.18.0.0/16"))]
    assert rules.find_overlap(mine, claims) == ("b", claims[2][1], mine[0])
    assert rules.find_overlap(mine, claims[:2]) is None
    assert rules.find_overlap(mine, [("c", ipaddress.ip_network("fd00:1::/48"))])[0] == "c"


@pytest.mark.parametrize("name", ["br0", "jvpbr12", "a" * 15, "vlan.10", "br_lan-1"])
def test_good_interface_names(name):
    assert rules.validate_ifname(name) == name


@pytest.mark.parametrize("name", ["a" * 16, "", "-br", "br/0", "br 0", "..", "br:0", "bré"])
def test_bad_interface_names(name):
    assert code_of(rules.validate_ifname, name) == "InvalidBridgeName"


def test_domain_names():
    assert rules.validate_domain("lab.example.") == "lab.example"
    for bad in ("-lab", "lab..x", "lab_x", "a" * 64):
        assert code_of(rules.validate_domain, bad) == "InvalidDomain"


def test_macs_are_normalized_and_checked():
    assert rules.normalize_mac("52:54:00:AB:cd:01") == "52:54:00:ab:cd:01"
    assert rules.normalize_mac("52-54-00-ab-cd-01") == "52:54:00:ab:cd:01"
    for bad in ("52:54:00:ab:cd", "52:54:00:ab:cd:zz", "01:00:5e:00:00:01", "00:00:00:00:00:00", "525400abcd01"):
        assert code_of(rules.normalize_mac, bad) == "InvalidMac", bad


def test_hostnames():
    assert rules.validate_hostname("web-1") == "web-1"
    for bad in ("web.lan", "-web", "web_1", "a" * 64):
        assert code_of(rules.validate_hostname, bad) == "InvalidHostname"


def test_reservations_stay_inside_the_subnet():
    iface = rules.parse_ipv4_cidr("198.18.10.1/24")
    assert rules.validate_reservation(iface, "198.18.10.10") == IP4("198.18.10.10")
    assert code_of(rules.validate_reservation, iface, "198.18.11.10") == "HostIpOutsideSubnet"
    for special in ("198.18.10.0", "198.18.10.255", "198.18.10.1"):
        assert code_of(rules.validate_reservation, iface, special) == "HostIpOutsideSubnet"
    assert code_of(rules.validate_reservation, iface, "fd00::5") == "InvalidIp"
    assert code_of(rules.validate_reservation, iface, "198.18.10") == "InvalidIp"


def test_taken_reservations():
    hosts = [DhcpHost(mac="52:54:00:00:00:01", ip="198.18.10.10", hostname="a")]
    assert code_of(rules.check_reservation_free, "n", hosts, "52:54:00:00:00:02", "198.18.10.10") == "HostIpTaken"
    assert code_of(rules.check_reservation_free, "n", hosts, "52:54:00:00:00:01", "198.18.10.11") == "HostMacTaken"
    rules.check_reservation_free("n", hosts, "52:54:00:00:00:02", "198.18.10.11")
