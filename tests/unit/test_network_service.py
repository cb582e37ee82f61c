"""NetworkService rules on a fake node gateway (tests/unit/fakes/network.py): bridge names, overlaps, the
in-use rules of stop/delete and the static-host checks, with nothing reaching libvirt."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from jvp.domain.network import DhcpHost, DomainAttachment, NodeInterface
from jvp.errors import JvpError
from jvp.service.network.service import NetworkService
from tests.unit.fakes.network import FakeNetworkGateway, FakeNodes, net_view

NODE = "n1"


class FakeStore:
    def __init__(self):
        self.locks = []

    @contextmanager
    def locked(self, kind, key):
        self.locks.append((kind, key))
        yield


def service(gw: FakeNetworkGateway) -> NetworkService:
    # a remote node: its interfaces come from the gateway, not from this machine's netlink
    return NetworkService(FakeNodes(uri="qemu+tcp://far.example/system", name=NODE), gw, FakeStore(), hostnet=None)


def code_of(fn, *a, **kw):
    with pytest.raises(JvpError) as exc:
        fn(*a, **kw)
    return exc.value.code


def test_create_takes_the_lowest_free_bridge_name():
    gw = FakeNetworkGateway(nets=[net_view("a", bridge="jvpbr0", ipv4="198.18.1.1/24")],
                            interfaces=[NodeInterface(name="jvpbr1", type="ethernet", active=True, mac=None)])
    view = service(gw).create(NODE, "b", ipv4_cidr="198.18.2.1/24")
    assert view.bridge == "jvpbr2" and view.vm_count == 0
    (_, spec, autostart), = gw.calls
    assert spec.bridge == "jvpbr2" and autostart is True and spec.dhcp_start is not None


def test_create_refuses_overlaps_and_taken_names_before_any_change():
    gw = FakeNetworkGateway(nets=[net_view("a", bridge="jvpbr0", ipv4="198.18.1.1/24")],
                            interfaces=[NodeInterface(name="eth0", type="ethernet", active=True, mac=None,
                                                      addresses=["198.18.8.5/22"])])
    svc = service(gw)
    assert code_of(svc.create, NODE, "a", ipv4_cidr="198.18.3.1/24") == "NetworkExists"
    assert code_of(svc.create, NODE, "b", ipv4_cidr="198.18.1.129/25") == "SubnetOverlap"
    assert code_of(svc.create, NODE, "b", ipv4_cidr="198.18.9.1/24") == "SubnetInUseOnHost"
    assert code_of(svc.create, NODE, "b", bridge="jvpbr0", ipv4_cidr="198.18.3.1/24") == "BridgeInUse"
    assert code_of(svc.create, NODE, "b", bridge="eth0", ipv4_cidr="198.18.3.1/24") == "BridgeInUse"
    assert code_of(svc.create, NODE, "b", mode="bridge", bridge="br7") == "HostBridgeMissing"
    assert gw.calls == []


def test_running_users_block_stop_any_user_blocks_delete():
    gw = FakeNetworkGateway(nets=[net_view("lan", bridge="jvpbr0", ipv4="198.18.1.1/24")],
                            attachments=[DomainAttachment(name="db", active=False, networks={"lan"})])
    svc = service(gw)
    assert code_of(svc.delete, NODE, "lan") == "NetworkInUse"
    assert gw.checked_attachments is True  # the users that guard a change are read exactly (ref_index.exact)
    svc.describe(NODE, "lan")
    assert gw.checked_attachments is False  # a plain read keeps the index's cheap freshness
    assert svc.stop(NODE, "lan").state == "inactive"
    assert code_of(svc.stop, NODE, "lan") == "NetworkInactive"
    assert svc.start(NODE, "lan").state == "active"
    assert code_of(svc.start, NODE, "lan") == "NetworkActive"
    gw.attachments.append(DomainAttachment(name="web", active=True, bridges={"jvpbr0"}))
    assert code_of(svc.stop, NODE, "lan") == "NetworkInUse"
    assert svc.describe(NODE, "lan").vms == ["db", "web"]
    assert [c[0] for c in gw.calls] == ["stop", "start"]


def test_static_hosts_are_checked_under_the_node_lock():
    gw = FakeNetworkGateway(nets=[net_view("lan", bridge="jvpbr0", ipv4="198.18.1.1/24", dhcp=True,
                                           hosts=[DhcpHost(mac="52:54:00:00:00:01", ip="198.18.1.10",
                                                            hostname="web")]),
                                  net_view("l2", bridge="jvpbr1")])
    svc = service(gw)
    assert code_of(svc.add_host, NODE, "l2", "52:54:00:00:00:02", "198.18.1.11") == "DhcpNotEnabled"
    assert code_of(svc.add_host, NODE, "lan", "52:54:00:00:00:02", "198.18.1.10") == "HostIpTaken"
    assert code_of(svc.add_host, NODE, "lan", "52:54:00:00:00:02", "198.18.1.11", "web") == "HostnameTaken"
    assert gw.calls == []
    net = svc.add_host(NODE, "lan", "52:54:00:00:00:0A", "198.18.1.11", "app")
    assert DhcpHost(mac="52:54:00:00:00:0a", ip="198.18.1.11", hostname="app") in net.hosts
    assert svc.store.locks == [("node", NODE)] * 3
    assert code_of(svc.remove_host, NODE, "lan", "198.18.1.12") == "NetworkHostNotFound"
    net = svc.remove_host(NODE, "lan", " 198.18.1.10 ")
    assert [h.ip for h in net.hosts] == ["198.18.1.11"]


def test_static_hosts_target_the_block_holding_the_address():
    """A network with several blocks (made outside JVP): the host goes to the IPv4 block whose subnet, with
    libvirt's derived prefix, holds the address (its libvirt update index); removal finds the block that
    lists the host, IPv6 hosts (no MAC) included."""
    import dataclasses

    from jvp.domain.network import IpBlock
    v6host = DhcpHost(mac=None, ip="fd00:c::10", hostname="v6a", id="0:3:0:1")
    blocks = [IpBlock(address="10.20.0.1", prefix=8, dhcp=True, index=0, prefix_source="classful"),
              IpBlock(address="172.16.3.1", prefix=24, dhcp=True, index=1),
              IpBlock(address="192.0.2.1", prefix=24, dhcp=False, index=2),
              IpBlock(address="fd00:c::1", prefix=64, family="ipv6", dhcp=True, index=3, hosts=(v6host,))]
    multi = dataclasses.replace(net_view("multi"), ips=blocks, ipv4=blocks[0], dhcp=True, hosts=[v6host],
                                subnets=["10.0.0.0/8", "172.16.3.0/24", "192.0.2.0/24", "fd00:c::/64"])
    gw = FakeNetworkGateway([multi])
    svc = service(gw)
    svc.add_host(NODE, "multi", "52:54:00:00:00:0b", "172.16.3.9")
    svc.add_host(NODE, "multi", "52:54:00:00:00:0c", "10.200.1.1")     # inside the classful /8
    assert [(c[2].ip, c[3]) for c in gw.calls] == [("172.16.3.9", 1), ("10.200.1.1", 0)]
    assert code_of(svc.add_host, NODE, "multi", "52:54:00:00:00:0d", "192.0.2.9") == "DhcpNotEnabled"
    assert code_of(svc.add_host, NODE, "multi", "52:54:00:00:00:0d", "198.51.100.9") == "HostIpOutsideSubnet"
    svc.remove_host(NODE, "multi", "fd00:c::10")
    assert gw.calls[-1] == ("remove-host", "multi", v6host, 3)
