"""Host bridges: the protection rules, the local-only rule, and netlink rollback (fakes for netlink)."""
from __future__ import annotations

import errno

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from jvp.domain.network import DomainAttachment
from jvp.errors import JvpError
from jvp.hostnet import HostNetwork, uri_is_this_machine
from jvp.service.network.bridge import BridgeService
from tests.unit.fakes.network import FakeNetworkGateway, FakeNodes, net_view


def link(name, kind=None, master=None, addresses=(), loopback=False):
    return {"name": name, "index": hash(name) % 1000, "kind": kind, "slave_kind": None, "master": master,
            "state": "up", "mtu": 1500, "mac": "52:54:00:00:00:01", "addresses": list(addresses),
            "loopback": loopback, "stp": False if kind == "bridge" else None}


class FakeHost:
    def __init__(self, links, default=("eth0",)):
        self._links = links
        self.default = set(default)
        self.created = []
        self.deleted = []

    def links(self):
        return self._links

    def default_route_links(self):
        return self.default

    def create_bridge(self, name, members, stp):
        self.created.append((name, members, stp))
        self._links.append(link(name, "bridge"))
        for lk in self._links:
            if lk["name"] in members:
                lk["master"] = name

    def delete_bridge(self, name):
        self.deleted.append(name)


@pytest.fixture
def host():
    return FakeHost([link("lo", loopback=True, addresses=["127.0.0.1/8"]),
                     link("eth0", addresses=["192.0.2.2/24", "fe80::1/64"]),
                     link("eth1", addresses=["fe80::2/64"]),          # link-local only: not protected
                     link("eth2", addresses=["198.18.5.1/24"]),
                     link("vnet0", kind="tun", master="virbr0"),
                     link("virbr0", kind="bridge", addresses=["198.18.10.1/24"]),
                     link("ifb0", kind="ifb")])


def code_of(fn, *a, **kw):
    with pytest.raises(JvpError) as exc:
        fn(*a, **kw)
    return exc.value.code, exc.value.status


def test_available_interfaces_mark_protected_ones(host):
    svc = BridgeService(FakeNodes(), FakeNetworkGateway(), host)
    got = {i.name: i for i in svc.available_interfaces("local")}
    assert set(got) == {"eth0", "eth1", "eth2"}  # not lo, not tun/ifb, not bridges, not enslaved
    assert got["eth0"].protected and got["eth0"].default_route and "default route" in got["eth0"].reason
    assert got["eth2"].protected and "198.18.5.1/24" in got["eth2"].reason
    assert not got["eth1"].protected and got["eth1"].kind == "physical"


def test_create_refuses_protected_interfaces_unless_forced(host):
    svc = BridgeService(FakeNodes(), FakeNetworkGateway(), host)
    assert code_of(svc.create, "local", "br1", ["eth0"]) == ("InterfaceProtected", 409)
    assert code_of(svc.create, "local", "br1", ["eth2"]) == ("InterfaceProtected", 409)
    assert host.created == []
    bridge = svc.create("local", "br1", ["eth1"], stp=True)
    assert host.created == [("br1", ["eth1"], True)] and bridge.interfaces == ["eth1"]
    svc.create("local", "br2", ["eth2"], force=True)
    assert host.created[-1] == ("br2", ["eth2"], False)


def test_create_checks_every_member_before_touching_anything(host):
    svc = BridgeService(FakeNodes(), FakeNetworkGateway(), host)
    assert code_of(svc.create, "local", "br1", ["eth1", "nope"]) == ("InterfaceNotFound", 404)
    assert code_of(svc.create, "local", "br1", ["vnet0"]) == ("InvalidInterface", 400)
    assert code_of(svc.create, "local", "br1", ["lo"]) == ("InvalidInterface", 400)
    assert code_of(svc.create, "local", "br1", ["eth1", "eth1"]) == ("InvalidInterface", 400)
    assert code_of(svc.create, "local", "virbr0", []) == ("BridgeExists", 409)
    assert code_of(svc.create, "local", "eth1", []) == ("BridgeExists", 409)
    assert code_of(svc.create, "local", "x" * 16, []) == ("InvalidBridgeName", 400)
    assert host.created == []


def test_enslaved_interface_is_in_use(host):
    host._links.append(link("eth3", master="virbr0"))
    svc = BridgeService(FakeNodes(), FakeNetworkGateway(), host)
    assert code_of(svc.create, "local", "br1", ["eth3"]) == ("InterfaceInUse", 409)


def test_create_refuses_a_name_a_libvirt_network_will_create(host):
    gw = FakeNetworkGateway(nets=[net_view("lan", bridge="jvpbr4")])
    assert code_of(BridgeService(FakeNodes(), gw, host).create, "local", "jvpbr4", []) == ("BridgeInUse", 409)


def test_delete_refuses_bridges_in_use(host):
    gw = FakeNetworkGateway(nets=[net_view("lan", bridge="virbr0")])
    assert code_of(BridgeService(FakeNodes(), gw, host).delete, "local", "virbr0") == ("BridgeInUse", 409)
    host._links.append(link("br5", "bridge"))
    gw = FakeNetworkGateway(attachments=[DomainAttachment(name="vm1", active=False, bridges={"br5"})])
    assert code_of(BridgeService(FakeNodes(), gw, host).delete, "local", "br5") == ("BridgeInUse", 409)
    host._links.append(link("br6", "bridge", addresses=["192.0.2.9/24"]))
    svc = BridgeService(FakeNodes(), FakeNetworkGateway(), host)
    assert code_of(svc.delete, "local", "br6") == ("InterfaceProtected", 409)
    assert code_of(svc.delete, "local", "eth1") == ("BridgeNotFound", 404)
    assert host.deleted == []
    svc.delete("local", "br6", force=True)
    assert host.deleted == ["br6"]


@pytest.mark.parametrize("uri,name", [("qemu+tcp://127.0.0.1/system", "local"), ("test:///default", "local"),
                                      ("qemu:///system", "kvm2"), ("qemu+ssh://root@h/system", "kvm2")])
def test_other_nodes_are_refused(host, uri, name):
    svc = BridgeService(FakeNodes(uri=uri, name=name), FakeNetworkGateway(), host)
    for call in (lambda: svc.list(name), lambda: svc.available_interfaces(name),
                 lambda: svc.create(name, "br1", []), lambda: svc.delete(name, "virbr0")):
        assert code_of(call) == ("NotSupportedOnRemoteNode", 422)
    assert host.created == [] and host.deleted == []


def test_this_machine_uris():
    assert uri_is_this_machine("qemu:///system") and uri_is_this_machine("qemu+unix:///system")
    assert not uri_is_this_machine("qemu+tcp://127.0.0.1/system")
    assert not uri_is_this_machine("qemu+ssh://root@host/system")
    assert not uri_is_this_machine("test:///default")


class FakeIPRoute:
    """Records netlink calls; fails when enslaving the member named in `fail_on`."""

    def __init__(self, fail_on):
        self.fail_on = fail_on
        self.calls = []
        self.index = {"br9": 50, "veth0": 10, "veth1": 11}

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False

    def link_lookup(self, ifname):
        return [self.index[ifname]] if ifname in self.index else []

    def link(self, command, **kw):
        self.calls.append((command, kw))
        if command == "set" and kw.get("master") and kw["index"] == self.index.get(self.fail_on):
            raise NetlinkError(errno.EBUSY, "Device or resource busy")


def test_create_bridge_rolls_back_on_a_netlink_failure(monkeypatch):
    ipr = FakeIPRoute(fail_on="veth1")
    net = HostNetwork()
    monkeypatch.setattr(net, "_ipr", lambda: ipr)
    with pytest.raises(JvpError) as exc:
        net.create_bridge("br9", ["veth0", "veth1"], stp=False)
    assert exc.value.code == "NetlinkError" and exc.value.details["netlink_error"]["errno"] == errno.EBUSY
    undo = ipr.calls[ipr.calls.index(("set", {"index": 11, "master": 50})) + 1:]
    assert ("set", {"index": 10, "master": 0}) in undo  # the first member is released
    assert undo[-1] == ("del", {"index": 50})           # and the bridge removed


def test_permission_denied_is_a_clear_422(monkeypatch):
    class Denied(FakeIPRoute):
        def link(self, command, **kw):
            raise NetlinkError(errno.EPERM, "Operation not permitted")
    net = HostNetwork()
    monkeypatch.setattr(net, "_ipr", lambda: Denied(None))
    with pytest.raises(JvpError) as exc:
        net.create_bridge("br9", [], stp=False)
    assert (exc.value.code, exc.value.status) == ("PermissionDenied", 422)


def test_default_routes_include_multipath(monkeypatch):
    class Routes(FakeIPRoute):
        def get_links(self):
            return [{"index": 4, "IFLA_IFNAME": "eth0"}, {"index": 5, "IFLA_IFNAME": "eth1"},
                    {"index": 6, "IFLA_IFNAME": "eth2"}]

        def route(self, command, family):
            if family != 2:
                return []
            return [Route(dst_len=0, table=254, RTA_OIF=None, RTA_MULTIPATH=[{"oif": 4}, {"oif": 5}]),
                    Route(dst_len=24, table=254, RTA_OIF=6),
                    Route(dst_len=0, table=255, RTA_OIF=6)]
    net = HostNetwork()
    monkeypatch.setattr(net, "_ipr", lambda: Routes(None))
    assert net.default_route_links() == {"eth0", "eth1"}


class Route(dict):
    def __init__(self, dst_len, table, **attrs):
        super().__init__(dst_len=dst_len, table=table, type=1)
        self.attrs = attrs

    def get(self, key, default=None):
        return self.attrs.get(key, super().get(key, default))


def test_netlink_work_runs_off_threads_that_have_an_asyncio_loop():
    """pyroute2's synchronous IPRoute cannot run where an asyncio loop runs; JVP's netlink thread can."""
    import asyncio
    import threading

    from jvp.hostnet.netlink import run_netlink

    async def inside_a_loop():
        return run_netlink(lambda: (threading.current_thread().name, _loop_running()))
    name, loop_there = asyncio.run(inside_a_loop())
    assert name.startswith("netlink") and loop_there is False


def _loop_running() -> bool:
    import asyncio
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
