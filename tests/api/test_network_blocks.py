"""Networks JVP did not create (issue 13), on a test-driver node of their own
(tests/fixtures/hosts/networks_multi.xml): several IPv4/IPv6 blocks with libvirt's derived prefixes, DHCPv6
hosts, forward modes JVP never makes, odd names; the overlap check and the static-host actions on them.
libvirt's own document (read here straight from the connection) is the ground truth for every block."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from lxml import etree

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "hosts" / "networks_multi.xml"
NODE = "nets"
ODD = "odd name: no ip & spaces"


@pytest.fixture
def nets(api):
    return api.add_fixture_node(NODE, FIXTURE)


def libvirt_doc(api, name: str) -> etree._Element:
    xml = api.services.gateway.run_raw(NODE, lambda c: c.networkLookupByName(name).XMLDesc(0))
    return etree.fromstring(xml.encode())


def describe(api, name: str) -> dict:
    return api.ok("describe-network", {"node": NODE, "name": name}, role="viewer")["network"]


def test_every_network_lists_and_describes(api, nets):
    listed = {n["name"]: n for n in api.ok("list-networks", {"node": NODE}, role="viewer")["networks"]}
    conn_names = api.services.gateway.run_raw(NODE, lambda c: sorted(n.name() for n in c.listAllNetworks(0)))
    assert sorted(listed) == conn_names
    for name, row in listed.items():
        if name != ODD:
            assert describe(api, name) == row
    assert listed[ODD]["ips"] == [] and listed[ODD]["mode"] == "isolated" and listed[ODD]["forward_mode"] is None


def test_an_odd_name_describes(api, nets):
    odd = describe(api, ODD)
    assert odd["name"] == ODD and odd["ips"] == [] and odd["ipv4"] is None


def test_every_block_as_libvirt_has_it(api, nets):
    net = describe(api, "multi-block")
    doc = libvirt_doc(api, "multi-block")
    ips = doc.findall("ip")
    assert [b["address"] for b in net["ips"]] == [ip.get("address") for ip in ips]
    assert [b["family"] for b in net["ips"]] == [ip.get("family", "ipv4") for ip in ips]
    # the prefixes libvirt derives (virSocketAddrGetIPPrefix): 10.x without netmask is class A -> /8,
    # a netmask gives its bits, 192.0.2.x is class C -> /24, IPv6 without prefix -> /64
    assert [(b["prefix"], b["prefix_source"]) for b in net["ips"]] == [
        (8, "classful"), (24, "netmask"), (24, "classful"), (64, "prefix"), (64, "default")]
    for block, ip in zip(net["ips"], ips):
        assert [(r["start"], r["end"]) for r in block["ranges"]] == [
            (r.get("start"), r.get("end")) for r in ip.findall("dhcp/range")]
        assert [(h["mac"], h["id"], h["hostname"], h["ip"]) for h in block["hosts"]] == [
            (h.get("mac"), h.get("id"), h.get("name"), h.get("ip")) for h in ip.findall("dhcp/host")]
        assert block["dhcp"] == (ip.find("dhcp") is not None)
    dhcp4 = net["ips"][1]
    assert dhcp4["tftp_root"] == "/srv/tftp" and dhcp4["bootp_file"] == "pxelinux.0"
    assert net["ips"][3]["hosts"][0] == {"mac": None, "ip": "2001:db8:c1::10", "hostname": "gamma6",
                                         "id": "0:3:0:1:0:16:3e:c1:00:03"}
    # summaries: the first block of each family; `hosts` every block's hosts, IPv6 included
    assert net["ipv4"] == {k: net["ips"][0][k] for k in ("address", "prefix", "dhcp_start", "dhcp_end")}
    assert net["ipv6"]["address"] == "2001:db8:c1::1"
    assert [h["ip"] for h in net["hosts"]] == [h["ip"] for b in net["ips"] for h in b["hosts"]]
    assert (net["mtu"], net["forward_mode"], net["mode"], net["domain"]) == (9000, "nat", "nat", "multi.test")


def test_networks_jvp_never_creates(api, nets):
    pt = describe(api, "passthrough-pool")
    assert pt["mode"] == "passthrough" and pt["forward_interfaces"] == ["eth10", "eth11"] and pt["bridge"] is None
    routed = describe(api, "routed-classb")
    assert routed["mode"] == "route" and routed["forward_dev"] == "eth0"
    assert routed["ipv4"]["prefix"] == 16  # 172.31.x without netmask: class B
    v6 = describe(api, "open-v6")
    assert v6["mode"] == "open" and v6["ipv4"] is None and v6["ipv6"]["prefix"] == 64


@pytest.mark.parametrize("cidr,other", [("10.99.0.1/24", "multi-block"),     # inside the classful 10/8
                                        ("172.31.200.1/24", "routed-classb"),  # inside the classful 172.31/16
                                        ("192.0.2.129/25", "multi-block")])   # the third block
def test_overlap_uses_every_block_with_the_derived_prefix(api, nets, cidr, other):
    err = api.error("create-network", {"node": NODE, "name": "jvptest-c-x", "ipv4_cidr": cidr}, status=409,
                    code="SubnetOverlap")
    assert err["details"]["network"] == other
    listed = api.ok("list-networks", {"node": NODE})["networks"]
    assert "jvptest-c-x" not in {n["name"] for n in listed}


def test_static_hosts_go_to_the_block_that_holds_the_address(api, nets):
    # 172.20.3.x is the second <ip>: libvirt's default index (-1) would pick the first block with DHCP
    net = api.ok("add-network-host", {"node": NODE, "name": "multi-block", "mac": "52:54:00:c1:00:09",
                                      "ip": "172.20.3.20", "hostname": "eps"})["network"]
    assert "172.20.3.20" in [h["ip"] for h in net["ips"][1]["hosts"]]
    doc = libvirt_doc(api, "multi-block")
    assert doc.find("ip[2]/dhcp/host[@ip='172.20.3.20']").get("mac") == "52:54:00:c1:00:09"
    # an address in a block without DHCP, and one in no block
    api.error("add-network-host", {"node": NODE, "name": "multi-block", "mac": "52:54:00:c1:00:0a",
                                   "ip": "10.213.9.9"}, status=422, code="DhcpNotEnabled")
    api.error("add-network-host", {"node": NODE, "name": "multi-block", "mac": "52:54:00:c1:00:0a",
                                   "ip": "198.51.100.9"}, status=400, code="HostIpOutsideSubnet")
    # an IPv6 host (no MAC) is removed from the IPv6 block
    net = api.ok("remove-network-host", {"node": NODE, "name": "multi-block", "ip": "2001:db8:c1::11"})["network"]
    assert [h["hostname"] for h in net["ips"][3]["hosts"]] == ["gamma6"]
    doc = libvirt_doc(api, "multi-block")
    assert [h.get("name") for h in doc.findall("ip[4]/dhcp/host")] == ["gamma6"]
    assert ipaddress.ip_address(net["ips"][3]["hosts"][0]["ip"]) == ipaddress.ip_address("2001:db8:c1::10")


def test_a_block_libvirt_derives_no_prefix_for_degrades_its_row_only(api, nets):
    rows = {n["name"]: n for n in api.ok("list-networks", {"node": NODE})["networks"]}
    bad = rows["classd-bad"]
    assert [p["code"] for p in bad["problems"]] == ["NetworkXmlUnreadable"] and "233.252.0.1" in \
        bad["problems"][0]["message"]
    assert bad["ipv4"] == {"address": "233.252.0.1", "prefix": None, "dhcp_start": None, "dhcp_end": None}
    assert all(r["problems"] == [] for n, r in rows.items() if n != "classd-bad")
    assert describe(api, "classd-bad")["problems"] == bad["problems"]
