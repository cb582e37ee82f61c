"""Network actions on libvirt's test driver (jvp/demo/inventory.xml: demo-nat 198.18.10.0/24 used by web1,
demo-isolated 198.18.11.0/24 used by db1, host bridge br0 over eno1 with 203.0.113.10/24)."""
from __future__ import annotations

import pytest

DEMO = {"demo-isolated", "demo-nat"}


def names(api, node="local"):
    return {n["name"] for n in api.ok("list-networks", {"node": node})["networks"]}


def test_list_and_describe_the_seeded_networks(api):
    nets = {n["name"]: n for n in api.ok("list-networks", role="viewer")["networks"]}
    assert set(nets) == DEMO
    nat = nets["demo-nat"]
    assert nat["mode"] == "nat" and nat["bridge"] == "jvpdemo0" and nat["state"] == "active"
    assert nat["ipv4"] == {"address": "198.18.10.1", "prefix": 24, "dhcp_start": "198.18.10.100",
                           "dhcp_end": "198.18.10.200"}
    assert nat["hosts"] == [{"mac": "52:54:00:0a:00:01", "ip": "198.18.10.10", "hostname": "web1", "id": None}]
    assert nat["domain"] == "demo.lan" and nat["vm_count"] == 1 and nat["vms"] == ["web1"]
    assert nets["demo-isolated"]["mode"] == "isolated" and nets["demo-isolated"]["vms"] == ["db1"]
    one = api.ok("describe-network", {"name": "demo-nat"}, role="viewer")["network"]
    assert one == nat and one["node"] == "local" and one["persistent"] is True


def test_unknown_network_is_404(api):
    err = api.error("describe-network", {"name": "ghost"}, status=404, code="NetworkNotFound")
    assert "ghost" in err["message"] and err["details"]["libvirt_error"]
    api.error("delete-network", {"name": "ghost"}, status=404, code="NetworkNotFound")
    api.error("describe-network", {"node": "nope", "name": "x"}, status=404, code="NodeNotFound")


def test_create_nat_with_defaults(api):
    net = api.ok("create-network", {"name": "lab", "ipv4_cidr": "198.18.20.1/24", "domain": "lab.test"})["network"]
    assert net["mode"] == "nat" and net["state"] == "active" and net["autostart"] is True
    assert net["bridge"] == "jvpbr0"  # generated: the lowest free jvpbrN
    assert net["ipv4"] == {"address": "198.18.20.1", "prefix": 24, "dhcp_start": "198.18.20.128",
                           "dhcp_end": "198.18.20.254"}
    assert net["domain"] == "lab.test" and net["hosts"] == [] and net["vm_count"] == 0
    second = api.ok("create-network", {"name": "lab2", "ipv4_cidr": "198.18.21.1/24", "autostart": False})
    assert second["network"]["bridge"] == "jvpbr1" and second["network"]["autostart"] is False
    assert names(api) == DEMO | {"lab", "lab2"}


@pytest.mark.parametrize("body,mode,forward", [
    ({"mode": "route", "ipv4_cidr": "198.18.22.1/24", "dhcp_start": "198.18.22.10", "dhcp_end": "198.18.22.20"},
     "route", "route"),
    ({"mode": "isolated", "ipv4_cidr": "198.18.22.1/24", "dhcp": False}, "isolated", None),
    ({"mode": "isolated"}, "isolated", None),
    ({"mode": "open", "ipv4_cidr": "198.18.22.1/24", "bridge": "labbr0"}, "open", "open"),
    ({"mode": "route", "ipv6_cidr": "fd00:198:18::1/64"}, "route", "route"),
    ({"mode": "bridge", "bridge": "br0"}, "bridge", "bridge"),
])
def test_create_each_mode(api, body, mode, forward):
    net = api.ok("create-network", {"name": "m1", **body})["network"]
    assert net["mode"] == mode
    xml = api.services.gateway.run_raw("local", lambda c: c.networkLookupByName("m1").XMLDesc(0))
    from jvp.hypervisor.xml import parse
    root = parse(xml)
    assert (root.find("forward").get("mode") if root.find("forward") is not None else None) == forward
    if body.get("dhcp") is False:
        assert net["ipv4"]["dhcp_start"] is None and root.find("ip/dhcp") is None
    if "dhcp_start" in body:
        assert (net["ipv4"]["dhcp_start"], net["ipv4"]["dhcp_end"]) == (body["dhcp_start"], body["dhcp_end"])
    if "ipv6_cidr" in body:
        assert net["ipv6"]["address"] == "fd00:198:18::1" and net["ipv4"] is None
    if "bridge" in body:
        assert net["bridge"] == body["bridge"]


BAD_CREATES = [
    ({"ipv4_cidr": "198.18.300.1/24"}, 400, "InvalidCidr", "ipv4_cidr"),
    ({"ipv4_cidr": "198.18.20.0/24"}, 400, "InvalidCidr", "ipv4_cidr"),
    ({"ipv4_cidr": "198.18.20.1"}, 400, "InvalidCidr", "ipv4_cidr"),
    ({"ipv4_cidr": "198.18.20.1/24", "ipv6_cidr": "fd00::1/48"}, 400, "InvalidCidr", "ipv6_cidr"),
    ({"ipv4_cidr": "198.18.20.1/24", "dhcp_start": "198.18.21.10", "dhcp_end": "198.18.21.20"}, 400,
     "InvalidDhcpRange", "dhcp_start"),
    ({"ipv4_cidr": "198.18.20.1/24", "dhcp_start": "198.18.20.90", "dhcp_end": "198.18.20.20"}, 400,
     "InvalidDhcpRange", "dhcp_end"),
    ({"ipv4_cidr": "198.18.20.1/24", "dhcp_start": "198.18.20.1", "dhcp_end": "198.18.20.20"}, 400,
     "InvalidDhcpRange", "dhcp_start"),
    ({"ipv4_cidr": "198.18.20.1/24", "dhcp": False, "dhcp_start": "198.18.20.5", "dhcp_end": "198.18.20.9"},
     400, "InvalidNetworkOption", "dhcp_start"),
    ({"mode": "isolated", "dhcp_start": "198.18.20.5", "dhcp_end": "198.18.20.9"}, 400, "InvalidNetworkOption",
     "dhcp_start"),
    ({"mode": "isolated", "dhcp": True}, 400, "InvalidNetworkOption", "dhcp"),
    ({"mode": "route", "ipv6_cidr": "fd00:1:2:3::1/64", "dhcp": True}, 400, "InvalidNetworkOption", "dhcp"),
    ({"mode": "mesh", "ipv4_cidr": "198.18.20.1/24"}, 400, "ValidationFailed", "mode"),
    ({"mode": "nat"}, 400, "CidrRequired", "ipv4_cidr"),
    ({"mode": "route"}, 400, "CidrRequired", "ipv4_cidr"),
    ({"mode": "bridge"}, 400, "InvalidNetworkOption", "bridge"),
    ({"mode": "bridge", "bridge": "br0", "ipv4_cidr": "198.18.20.1/24"}, 400, "InvalidNetworkOption", "ipv4_cidr"),
    ({"ipv4_cidr": "198.18.20.1/24", "bridge": "averyveryverylongbr"}, 400, "InvalidBridgeName", "bridge"),
    ({"ipv4_cidr": "198.18.20.1/24", "bridge": "br/0"}, 400, "InvalidBridgeName", "bridge"),
    ({"ipv4_cidr": "198.18.20.1/24", "domain": "bad_domain"}, 400, "InvalidDomain", "domain"),
    ({"ipv4_cidr": "198.18.20.1/24", "dhcp_range": "x"}, 400, "ValidationFailed", "dhcp_range"),
]


@pytest.mark.parametrize("body,status,code,field", BAD_CREATES)
def test_bad_create_input(api, body, status, code, field):
    err = api.error("create-network", {"name": "bad", **body}, status=status, code=code)
    assert field in err["details"]["field_errors"]
    assert names(api) == DEMO


@pytest.mark.parametrize("body,code,detail", [
    ({"ipv4_cidr": "198.18.10.77/25"}, "SubnetOverlap", {"network": "demo-nat"}),
    ({"ipv4_cidr": "198.18.0.1/16"}, "SubnetOverlap", {"network": "demo-isolated"}),
    ({"ipv4_cidr": "203.0.113.1/24"}, "SubnetInUseOnHost", {"interface": "br0"}),
    ({"name": "demo-nat", "ipv4_cidr": "198.18.20.1/24"}, "NetworkExists", {"name": "demo-nat"}),
    ({"ipv4_cidr": "198.18.20.1/24", "bridge": "jvpdemo0"}, "BridgeInUse", {"network": "demo-nat"}),
    ({"ipv4_cidr": "198.18.20.1/24", "bridge": "br0"}, "BridgeInUse", {"interface": "br0"}),
])
def test_conflicting_create_is_409_naming_the_other(api, body, code, detail):
    err = api.error("create-network", {"name": "clash", **body}, status=409, code=code)
    assert detail.items() <= err["details"].items()
    assert list(detail.values())[0] in err["message"]
    assert names(api) == DEMO


def test_a_network_defined_concurrently_after_the_check_is_still_409(api, mocker):
    """Someone else (virsh, another controller) defines the name between JVP's check and its define."""
    gateway = api.services.gateway
    real = gateway.list_networks
    calls = []

    def racing_list(node):
        calls.append(1)
        return [n for n in real(node) if n.name != "demo-nat"] if len(calls) == 1 else real(node)
    mocker.patch.object(gateway, "list_networks", racing_list)
    before = api.ok("describe-network", {"name": "demo-nat"})["network"]
    err = api.error("create-network", {"name": "demo-nat", "mode": "isolated"}, status=409,
                    code="NetworkExists")
    assert "already exists" in err["details"]["libvirt_error"]["message"]
    assert names(api) == DEMO
    assert api.ok("describe-network", {"name": "demo-nat"})["network"] == before


def test_bridge_mode_needs_an_existing_host_bridge(api):
    err = api.error("create-network", {"name": "b", "mode": "bridge", "bridge": "br9"}, status=422,
                    code="HostBridgeMissing")
    assert "br9" in err["message"]
    api.ok("create-network", {"name": "b", "mode": "bridge", "bridge": "br0"})
    api.error("create-network", {"name": "b2", "mode": "bridge", "bridge": "br0"}, status=409, code="BridgeInUse")
    assert names(api) == DEMO | {"b"}


def test_lifecycle_and_in_use_rules(api):
    # running web1 blocks stop and delete of demo-nat
    err = api.error("stop-network", {"name": "demo-nat"}, status=409, code="NetworkInUse")
    assert err["details"]["vms"] == ["web1"] and "web1" in err["message"]
    api.error("delete-network", {"name": "demo-nat"}, status=409, code="NetworkInUse")
    # db1 is defined but stopped: it blocks delete, not stop
    err = api.error("delete-network", {"name": "demo-isolated"}, status=409, code="NetworkInUse")
    assert err["details"]["vms"] == ["db1"]
    assert api.ok("stop-network", {"name": "demo-isolated"})["network"]["state"] == "inactive"
    api.error("stop-network", {"name": "demo-isolated"}, status=409, code="NetworkInactive")
    assert api.ok("start-network", {"name": "demo-isolated"})["network"]["state"] == "active"
    api.error("start-network", {"name": "demo-isolated"}, status=409, code="NetworkActive")
    assert names(api) == DEMO


def test_modify_and_delete(api):
    api.ok("create-network", {"name": "tmp", "ipv4_cidr": "198.18.20.1/24"})
    assert api.ok("modify-network", {"name": "tmp", "autostart": False})["network"]["autostart"] is False
    assert api.ok("modify-network", {"name": "tmp", "autostart": True})["network"]["autostart"] is True
    api.error("modify-network", {"name": "tmp"}, status=400, code="ValidationFailed")
    assert api.ok("delete-network", {"name": "tmp"}) == {"ok": True}
    api.error("describe-network", {"name": "tmp"}, status=404, code="NetworkNotFound")
    assert names(api) == DEMO


def test_static_hosts(api):
    net = api.ok("add-network-host", {"name": "demo-nat", "mac": "52:54:00:AA:BB:01", "ip": "198.18.10.11",
                                      "hostname": "app1"})["network"]
    assert {"mac": "52:54:00:aa:bb:01", "ip": "198.18.10.11", "hostname": "app1", "id": None} in net["hosts"]
    xml = api.services.gateway.run_raw("local", lambda c: c.networkLookupByName("demo-nat").XMLDesc(0))
    assert "52:54:00:aa:bb:01" in xml
    net = api.ok("remove-network-host", {"name": "demo-nat", "mac": "52:54:00:aa:bb:01", "ip": "198.18.10.11"})
    assert [h["ip"] for h in net["network"]["hosts"]] == ["198.18.10.10"]


@pytest.mark.parametrize("body,status,code,field", [
    ({"mac": "52:54:00:aa:bb:01", "ip": "198.18.11.5"}, 400, "HostIpOutsideSubnet", "ip"),
    ({"mac": "52:54:00:aa:bb:01", "ip": "198.18.10.1"}, 400, "HostIpOutsideSubnet", "ip"),
    ({"mac": "52:54:00:aa:bb:01", "ip": "198.18.10.10"}, 409, "HostIpTaken", "ip"),
    ({"mac": "52:54:00:0A:00:01", "ip": "198.18.10.12"}, 409, "HostMacTaken", "mac"),
    ({"mac": "52:54:00:aa:bb:01", "ip": "198.18.10.12", "hostname": "web1"}, 409, "HostnameTaken", "hostname"),
    ({"mac": "52:54:00:aa:bb", "ip": "198.18.10.12"}, 400, "InvalidMac", "mac"),
    ({"mac": "01:00:5e:00:00:01", "ip": "198.18.10.12"}, 400, "InvalidMac", "mac"),
    ({"mac": "52:54:00:aa:bb:01", "ip": "198.18.10"}, 400, "InvalidIp", "ip"),
    ({"mac": "52:54:00:aa:bb:01", "ip": "198.18.10.12", "hostname": "a.b"}, 400, "InvalidHostname", "hostname"),
])
def test_bad_static_hosts(api, body, status, code, field):
    before = api.ok("describe-network", {"name": "demo-nat"})["network"]["hosts"]
    err = api.error("add-network-host", {"name": "demo-nat", **body}, status=status, code=code)
    assert field in err["details"]["field_errors"]
    assert api.ok("describe-network", {"name": "demo-nat"})["network"]["hosts"] == before


def test_hosts_need_dhcp_and_removal_needs_a_match(api):
    api.ok("create-network", {"name": "l2", "mode": "isolated"})
    api.error("add-network-host", {"name": "l2", "mac": "52:54:00:aa:bb:01", "ip": "198.18.10.12"},
              status=422, code="DhcpNotEnabled")
    err = api.error("remove-network-host", {"name": "demo-nat", "mac": "52:54:00:0a:00:01", "ip": "198.18.10.99"},
                    status=404, code="NetworkHostNotFound")
    assert "demo-nat" in err["message"]
    api.error("remove-network-host", {"name": "demo-nat", "mac": "52:54:00:0a:00:01", "ip": "198.18.10.10",
                                      "hostname": "other"}, status=404, code="NetworkHostNotFound")
    api.error("add-network-host", {"name": "ghost", "mac": "52:54:00:aa:bb:01", "ip": "198.18.10.12"},
              status=404, code="NetworkNotFound")


def test_removing_a_host_compares_addresses_and_needs_no_mac(api):
    """A reservation made outside JVP with only a name and an address (libvirt allows it) can be removed;
    the ip is parsed, not compared as text."""
    from jvp.hypervisor import network as hv_net

    def add_outside(conn):
        net = conn.networkLookupByName("demo-nat")
        net.update(hv_net.libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, hv_net.libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                   -1, "<host name='pxe' ip='198.18.10.20'/>", 0)
    api.services.gateway.run_raw("local", add_outside)
    hosts = api.ok("describe-network", {"name": "demo-nat"})["network"]["hosts"]
    assert {"mac": None, "ip": "198.18.10.20", "hostname": "pxe", "id": None} in hosts
    before = hosts
    api.error("remove-network-host", {"name": "demo-nat", "ip": "198.18.10"}, status=400, code="InvalidIp")
    api.error("remove-network-host", {"name": "demo-nat", "ip": "198.18.10.20", "hostname": "other"},
              status=404, code="NetworkHostNotFound")
    api.error("remove-network-host", {"name": "demo-nat", "ip": "198.18.10.20", "mac": "52:54:00:aa:bb:01"},
              status=404, code="NetworkHostNotFound")
    assert api.ok("describe-network", {"name": "demo-nat"})["network"]["hosts"] == before
    net = api.ok("remove-network-host", {"name": "demo-nat", "ip": " 198.18.10.20 "})["network"]
    assert [h["ip"] for h in net["hosts"]] == ["198.18.10.10"]
    # With a MAC too, the address alone is enough, and the MAC narrows it when given.
    net = api.ok("remove-network-host", {"name": "demo-nat", "ip": "198.18.10.10", "hostname": "web1"})["network"]
    assert net["hosts"] == []


def test_leases_are_not_offered_by_the_test_driver(api):
    """The test driver has no dnsmasq: libvirt's NotSupported comes through with its text (real leases are
    read in the host tier)."""
    err = api.error("list-network-leases", {"name": "demo-nat"}, status=422, code="NotSupported")
    assert "DHCPLeases" in err["details"]["libvirt_error"]["message"]


def test_network_sources(api):
    src = api.ok("list-network-sources", {}, role="viewer")["sources"]
    assert src["node"] == "local" and src["bridges_source"] == "libvirt-interfaces"
    assert {n["name"] for n in src["networks"]} == DEMO
    assert src["bridges"] == [{"name": "br0", "active": True, "network": None}]
    assert src["interfaces"] == []  # eno1 is br0's port: not free for macvtap
    api.ok("create-network", {"name": "wrap", "mode": "bridge", "bridge": "br0"})
    src = api.ok("list-network-sources")["sources"]
    assert src["bridges"] == [{"name": "br0", "active": True, "network": "wrap"}]


def test_roles(api):
    api.error("create-network", {"name": "x", "ipv4_cidr": "198.18.20.1/24"}, role="operator", status=403,
              code="Forbidden")
    api.error("add-network-host", {"name": "demo-nat", "mac": "52:54:00:aa:bb:01", "ip": "198.18.10.12"},
              role="viewer", status=403, code="Forbidden")
    assert api.ok("list-network-sources", role="operator")["sources"]["networks"]


def test_maintenance_refuses_creation(api):
    api.ok("create-node", {"name": "lab2", "uri": "test:///default"})
    api.ok("disable-node", {"name": "lab2"})
    api.error("create-network", {"node": "lab2", "name": "x", "ipv4_cidr": "198.18.20.1/24"}, status=409,
              code="NodeInMaintenance")
    assert "x" not in names(api, "lab2")


def test_a_second_node_works_alike(api):
    api.ok("create-node", {"name": "lab2", "uri": "test:///default"})
    net = api.ok("create-network", {"node": "lab2", "name": "n2", "ipv4_cidr": "198.18.20.1/24"})["network"]
    assert net["node"] == "lab2"
    api.ok("add-network-host", {"node": "lab2", "name": "n2", "mac": "52:54:00:aa:bb:01", "ip": "198.18.20.5"})
    assert "n2" not in names(api)
    api.ok("delete-network", {"node": "lab2", "name": "n2"})
    assert "n2" not in names(api, "lab2")


@pytest.mark.parametrize("action,body", [
    ("list-bridges", {}), ("list-available-interfaces", {}),
    ("create-bridge", {"name": "br7", "interfaces": []}), ("delete-bridge", {"name": "br0"}),
])
def test_bridge_actions_are_refused_off_this_machine(api, action, body):
    api.ok("create-node", {"name": "lab2", "uri": "test:///default"})
    for node in ("lab2", "local"):  # a remote node, and a local node on the test driver
        err = api.error(action, {"node": node, **body}, status=422, code="NotSupportedOnRemoteNode")
        assert node in err["message"] and err["details"]["uri"]
    src = api.ok("list-network-sources")["sources"]
    assert [b["name"] for b in src["bridges"]] == ["br0"]  # nothing created, nothing deleted


@pytest.mark.parametrize("name", ["x" * 16, "a/b", "-br"])
def test_delete_bridge_refuses_a_name_no_interface_can_have(api, name):
    """Found by the fuzz gate: delete-bridge answered InvalidBridgeName without declaring it."""
    err = api.error("delete-bridge", {"name": name}, status=400, code="InvalidBridgeName")
    assert "name" in err["details"]["field_errors"]


def test_openapi_documents_the_network_actions(api):
    doc = api.client.get("/api/openapi.json").get_json()
    for action in ("list-networks", "describe-network", "create-network", "delete-network", "start-network",
                   "stop-network", "modify-network", "list-network-leases", "add-network-host",
                   "remove-network-host", "list-network-sources", "list-bridges", "create-bridge",
                   "delete-bridge", "list-available-interfaces"):
        assert f"/api/{action}" in doc["paths"], action
