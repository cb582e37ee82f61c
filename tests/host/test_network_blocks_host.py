"""A network made outside JVP on the real libvirtd (tier 3): addresses without a netmask or a prefix. libvirt
derives their prefixes when it starts the network (virSocketAddrGetIPPrefix) and puts them on the bridge; JVP's
prefixes must be those very ones. The IPv4 block is a /24 of 198.19.0.0/16 written bare (class C: libvirt makes
it a /24, never a wider block that could clash with other networks of this host)."""
from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path

from jvp.hostnet import HostNetwork
from jvp.hypervisor.xml import to_string
from jvp.hypervisor.xml.network import Ip, Network
from tests.conftest import unique
from tests.host import netutil as nu

IPV6_OFF = Path("/proc/sys/net/ipv6/conf/all/disable_ipv6").read_text().strip() == "1"


def test_prefixes_libvirt_puts_on_the_bridge_are_jvps(host_api):
    (subnet,) = nu.free_subnets()
    name, bridge = unique("c-bare-"), nu.short_name("jvptc")
    v6 = ipaddress.ip_network(f"fd{uuid.uuid4().hex[:2]}:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::/64")
    net = Network.new(name=name)
    net.bridge = bridge
    net.ips.add(Ip.new(address=nu.host(subnet, 1)))                        # no netmask, no prefix
    net.ips.add(Ip.new(family="ipv6", address=str(v6.network_address + 1)))  # no prefix
    c = nu.conn()
    try:
        lv = c.networkDefineXML(to_string(net.el))   # as virsh net-define would: not through JVP
        lv.create()
        on_bridge = {ipaddress.ip_interface(a) for iface, a in HostNetwork().addresses() if iface == bridge}
        got = host_api.ok("describe-network", {"name": name})["network"]
        blocks = {(b["address"], b["prefix"], b["prefix_source"]) for b in got["ips"]}
        assert blocks == {(nu.host(subnet, 1), 24, "classful"), (str(v6.network_address + 1), 64, "default")}
        # libvirt's own derivation is what it configured on the bridge
        assert ipaddress.ip_interface(f"{nu.host(subnet, 1)}/24") in on_bridge
        v6_on_bridge = [i for i in on_bridge if i.version == 6 and not i.is_link_local]
        if not IPV6_OFF:
            assert v6_on_bridge == [ipaddress.ip_interface(f"{v6.network_address + 1}/64")]
        # the overlap check claims the derived /24: a JVP network inside it is refused
        host_api.error("create-network", {"name": unique("c-in-"), "mode": "isolated",
                                          "ipv4_cidr": f"{nu.host(subnet, 129)}/25"}, status=409,
                       code="SubnetOverlap")
    finally:
        c.close()
        nu.drop_network(name)
    assert not nu.network_exists(name)
