"""Host bridges through netlink on this machine (tier 3). Only test veth pairs (`jvpt` + 6 hex digits) are
ever enslaved; the host's real interfaces are only read. Everything is removed in `finally`."""
from __future__ import annotations

from tests.conftest import unique
from tests.host import netutil as nu


def test_eth0_is_listed_as_protected_and_nothing_is_changed(host_api):
    ifaces = {i["name"]: i for i in host_api.ok("list-available-interfaces", role="viewer")["interfaces"]}
    eth0 = ifaces["eth0"]
    assert eth0["kind"] == "physical" and eth0["default_route"] is True and eth0["protected"] is True
    assert "default route" in eth0["reason"]
    assert "lo" not in ifaces


def test_create_list_and_delete_a_bridge(host_api):
    bridge = nu.short_name("jvptb")
    with nu.veth() as port:
        try:
            free = {i["name"]: i for i in host_api.ok("list-available-interfaces")["interfaces"]}
            assert free[port]["protected"] is False and free[port]["kind"] == "veth"
            made = host_api.ok("create-bridge", {"name": bridge, "interfaces": [port], "stp": True})["bridge"]
            assert made["name"] == bridge and made["interfaces"] == [port] and made["stp"] is True
            assert made["network"] is None and made["vms"] == []
            assert nu.link_master(port) is not None
            listed = {b["name"]: b for b in host_api.ok("list-bridges", role="viewer")["bridges"]}
            assert listed[bridge]["interfaces"] == [port]
            assert port not in {i["name"] for i in host_api.ok("list-available-interfaces")["interfaces"]}
            sources = host_api.ok("list-network-sources")["sources"]
            assert bridge in {b["name"] for b in sources["bridges"]}

            host_api.error("create-bridge", {"name": bridge}, status=409, code="BridgeExists")
            err = host_api.error("create-bridge", {"name": nu.short_name("jvptb"), "interfaces": [port]},
                                 status=409, code="InterfaceInUse")
            assert err["details"]["master"] == bridge

            assert host_api.ok("delete-bridge", {"name": bridge}) == {"ok": True}
            assert not nu.link_exists(bridge) and nu.link_master(port) is None
            host_api.error("delete-bridge", {"name": bridge}, status=404, code="BridgeNotFound")
        finally:
            nu.delete_link(bridge)


def test_bad_bridge_requests_leave_nothing_behind(host_api):
    bridge = nu.short_name("jvptb")
    try:
        err = host_api.error("create-bridge", {"name": "jvptest-bridge-too-long"}, status=400,
                             code="InvalidBridgeName")
        assert "name" in err["details"]["field_errors"]
        host_api.error("create-bridge", {"name": "br/0"}, status=400, code="InvalidBridgeName")
        host_api.error("create-bridge", {"name": bridge, "interfaces": ["jvptnone0"]}, status=404,
                       code="InterfaceNotFound")
        host_api.error("create-bridge", {"name": bridge, "interfaces": ["lo"]}, status=400, code="InvalidInterface")
        host_api.error("create-bridge", {"name": "eth0"}, status=409, code="BridgeExists")
        host_api.error("delete-bridge", {"name": "eth0"}, status=404, code="BridgeNotFound")
        assert not nu.link_exists(bridge)
    finally:
        nu.delete_link(bridge)


def test_an_interface_with_an_address_is_protected_unless_forced(host_api):
    (subnet,) = nu.free_subnets()
    bridge = nu.short_name("jvptb")
    with nu.veth(f"{nu.host(subnet, 1)}/24") as port:
        try:
            err = host_api.error("create-bridge", {"name": bridge, "interfaces": [port]}, status=409,
                                 code="InterfaceProtected")
            assert nu.host(subnet, 1) in err["message"] and "force" in err["message"]
            assert not nu.link_exists(bridge) and nu.link_master(port) is None
            made = host_api.ok("create-bridge", {"name": bridge, "interfaces": [port], "force": True})["bridge"]
            assert made["interfaces"] == [port]
        finally:
            nu.delete_link(bridge)


def test_bridges_used_by_libvirt_are_not_deleted(host_api):
    (subnet,) = nu.free_subnets()
    bridge = nu.short_name("jvptb")
    wrap, owned = unique("wrap-"), unique("own-")
    try:
        host_api.ok("create-bridge", {"name": bridge})
        # A bridge-mode network over the host bridge: libvirt checks nothing more, the bridge must exist.
        net = host_api.ok("create-network", {"name": wrap, "mode": "bridge", "bridge": bridge})["network"]
        assert net["mode"] == "bridge" and net["state"] == "active" and net["ipv4"] is None
        listed = {b["name"]: b for b in host_api.ok("list-bridges")["bridges"]}
        assert listed[bridge]["network"] == wrap
        err = host_api.error("delete-bridge", {"name": bridge}, status=409, code="BridgeInUse")
        assert err["details"]["network"] == wrap
        host_api.error("create-network", {"name": owned, "mode": "bridge", "bridge": "jvptnone0"}, status=422,
                       code="HostBridgeMissing")
        host_api.error("create-network", {"name": owned, "mode": "bridge", "bridge": "eth0"}, status=422,
                       code="HostBridgeMissing")
        host_api.ok("delete-network", {"name": wrap})
        assert nu.link_exists(bridge)  # a bridge-mode network never owned the bridge

        # The bridge libvirt made for a NAT network belongs to that network.
        libvirt_bridge = host_api.ok("create-network", {"name": owned, "mode": "isolated",
                                                        "ipv4_cidr": f"{nu.host(subnet, 1)}/24"})["network"]["bridge"]
        err = host_api.error("delete-bridge", {"name": libvirt_bridge}, status=409, code="BridgeInUse")
        assert err["details"]["network"] == owned
        host_api.error("create-bridge", {"name": libvirt_bridge}, status=409, code="BridgeExists")
        assert host_api.ok("delete-bridge", {"name": bridge}) == {"ok": True}
    finally:
        nu.drop_network(wrap)
        nu.drop_network(owned)
        nu.delete_link(bridge)
