"""Networks against the real libvirtd (tier 3): dnsmasq really runs, its files reflect the DHCP range and
the static hosts added live, overlaps are caught, VMs block stop/delete, and a loopback-TCP node works alike."""
from __future__ import annotations

import libvirt

from tests.api.test_ref_index import eventually
from tests.conftest import unique
from tests.host import netutil as nu

LOOPBACK = "qemu+tcp://127.0.0.1/system"


def test_isolated_network_runs_dnsmasq_and_takes_static_hosts_live(host_api):
    (subnet,) = nu.free_subnets()
    name = unique("iso-")
    try:
        net = host_api.ok("create-network", {
            "name": name, "mode": "isolated", "ipv4_cidr": f"{nu.host(subnet, 1)}/24",
            "dhcp_start": nu.host(subnet, 50), "dhcp_end": nu.host(subnet, 99), "domain": "iso.test"})["network"]
        assert net["state"] == "active" and net["mode"] == "isolated"
        assert nu.dnsmasq_running(name)
        conf = nu.dnsmasq_conf(name)
        assert f"dhcp-range={nu.host(subnet, 50)},{nu.host(subnet, 99)},255.255.255.0" in conf
        assert f"interface={net['bridge']}" in conf and "local=/iso.test/" in conf

        mac, ip = "52:54:00:19:00:01", nu.host(subnet, 10)
        net = host_api.ok("add-network-host", {"name": name, "mac": mac.upper(), "ip": ip,
                                               "hostname": "app1"})["network"]
        assert net["hosts"] == [{"mac": mac, "ip": ip, "hostname": "app1", "id": None}]
        assert f"{mac},{ip},app1" in nu.dnsmasq_hosts(name).splitlines()  # live: dnsmasq's hosts file
        c = nu.conn()
        persistent = c.networkLookupByName(name).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        assert mac in persistent and ip in persistent                      # and the persistent config
        host_api.error("add-network-host", {"name": name, "mac": "52:54:00:19:00:02", "ip": ip}, status=409,
                       code="HostIpTaken")
        host_api.error("add-network-host", {"name": name, "mac": mac, "ip": nu.host(subnet, 11)}, status=409,
                       code="HostMacTaken")
        host_api.error("add-network-host", {"name": name, "mac": "52:54:00:19:00:02",
                                            "ip": nu.host(subnet, 300)}, status=400, code="HostIpOutsideSubnet")
        assert nu.dnsmasq_hosts(name).splitlines() == [f"{mac},{ip},app1"]

        net = host_api.ok("remove-network-host", {"name": name, "mac": mac, "ip": ip})["network"]
        assert net["hosts"] == [] and mac not in nu.dnsmasq_hosts(name)
        assert mac not in c.networkLookupByName(name).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        assert host_api.ok("list-network-leases", {"name": name})["leases"] == []

        assert host_api.ok("delete-network", {"name": name}) == {"ok": True}
        assert not nu.network_exists(name) and not nu.dnsmasq_running(name)
    finally:
        nu.drop_network(name)


def test_nat_network_default_range_stop_start_and_config_only_hosts(host_api):
    (subnet,) = nu.free_subnets()
    name = unique("nat-")
    try:
        net = host_api.ok("create-network", {"name": name, "ipv4_cidr": f"{nu.host(subnet, 1)}/24",
                                             "autostart": False})["network"]
        assert net["mode"] == "nat" and net["autostart"] is False
        assert (net["ipv4"]["dhcp_start"], net["ipv4"]["dhcp_end"]) == (nu.host(subnet, 128), nu.host(subnet, 254))
        assert f"dhcp-range={nu.host(subnet, 128)},{nu.host(subnet, 254)},255.255.255.0" in nu.dnsmasq_conf(name)
        c = nu.conn()
        assert "<forward mode='nat'>" in c.networkLookupByName(name).XMLDesc(0)
        assert not c.networkLookupByName(name).autostart()

        assert host_api.ok("stop-network", {"name": name})["network"]["state"] == "inactive"
        assert not nu.dnsmasq_running(name)
        # Inactive: the reservation goes to the persistent config and reaches dnsmasq at the next start.
        host_api.ok("add-network-host", {"name": name, "mac": "52:54:00:19:00:05", "ip": nu.host(subnet, 5)})
        assert host_api.ok("start-network", {"name": name})["network"]["state"] == "active"
        assert nu.dnsmasq_running(name)
        assert f"52:54:00:19:00:05,{nu.host(subnet, 5)}" in nu.dnsmasq_hosts(name).splitlines()
        assert host_api.ok("modify-network", {"name": name, "autostart": True})["network"]["autostart"] is True
        assert c.networkLookupByName(name).autostart()
    finally:
        nu.drop_network(name)


def test_overlap_with_an_existing_network_and_with_host_interfaces(host_api):
    first, other = nu.free_subnets(2)
    a, b = unique("ova-"), unique("ovb-")
    try:
        host_api.ok("create-network", {"name": a, "mode": "isolated", "ipv4_cidr": f"{nu.host(first, 1)}/24"})
        err = host_api.error("create-network", {"name": b, "ipv4_cidr": f"{nu.host(first, 129)}/25"}, status=409,
                             code="SubnetOverlap")
        assert err["details"]["network"] == a and a in err["message"]
        assert not nu.network_exists(b)
        # The host's own uplink subnet (eth0, 192.0.2.0/24 here) and an address on a test veth.
        host_addr = next(addr for iface, addr in nu.HostNetwork().addresses() if iface == "eth0" and "." in addr)
        err = host_api.error("create-network", {"name": b, "ipv4_cidr": host_addr.rsplit(".", 1)[0] + ".77/24"},
                             status=409, code="SubnetInUseOnHost")
        assert err["details"]["interface"] == "eth0"
        with nu.veth(f"{nu.host(other, 1)}/24") as link:
            err = host_api.error("create-network", {"name": b, "ipv4_cidr": f"{nu.host(other, 9)}/24"},
                                 status=409, code="SubnetInUseOnHost")
            assert err["details"]["interface"] == link and link in err["message"]
        assert not nu.network_exists(b)
        # A bridge name in use: another network's, then the host's uplink.
        bridge = host_api.ok("describe-network", {"name": a})["network"]["bridge"]
        for taken, detail in ((bridge, "network"), ("eth0", "interface")):
            err = host_api.error("create-network", {"name": b, "mode": "isolated", "bridge": taken}, status=409,
                                 code="BridgeInUse")
            assert detail in err["details"]
        host_api.error("create-network", {"name": a, "mode": "isolated"}, status=409, code="NetworkExists")
        assert not nu.network_exists(b)
    finally:
        nu.drop_network(a)
        nu.drop_network(b)


DOMAIN = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'><source network='{network}'/><model type='virtio'/></interface>
  </devices>
</domain>"""


def test_vms_block_delete_and_running_vms_block_stop(host_api):
    (subnet,) = nu.free_subnets()
    name, vm = unique("used-"), unique("vm-")
    try:
        host_api.ok("create-network", {"name": name, "mode": "isolated", "ipv4_cidr": f"{nu.host(subnet, 1)}/24"})
        c = nu.conn()
        dom = c.defineXML(DOMAIN.format(name=vm, network=name))  # defined, not running
        # another client's define reaches JVP's reference index with its lifecycle event (milliseconds, on
        # libvirt's loop thread; README "The reference index"): a plain read waits for it, as a user would
        assert eventually(lambda: host_api.ok("describe-network", {"name": name})["network"]["vms"], [vm]) == [vm]
        net = host_api.ok("describe-network", {"name": name})["network"]
        assert net["vm_count"] == 1 and net["vms"] == [vm]
        err = host_api.error("delete-network", {"name": name}, status=409, code="NetworkInUse")
        assert err["details"]["vms"] == [vm] and vm in err["message"]
        assert nu.network_exists(name)

        dom.create()  # TCG guest with no disk: it sits in the BIOS, which is all this test needs
        err = host_api.error("stop-network", {"name": name}, status=409, code="NetworkInUse")
        assert err["details"]["vms"] == [vm]
        assert host_api.ok("describe-network", {"name": name})["network"]["state"] == "active"
        dom.destroy()

        # A stopped VM does not block stop (it cannot start until the network runs again) but blocks delete.
        assert host_api.ok("stop-network", {"name": name})["network"]["state"] == "inactive"
        host_api.error("delete-network", {"name": name}, status=409, code="NetworkInUse")
        dom.undefine()
        assert host_api.ok("delete-network", {"name": name}) == {"ok": True}
        assert not nu.network_exists(name)
    finally:
        nu.drop_domain(vm)
        nu.drop_network(name)


def test_a_loopback_tcp_node_works_through_libvirt_alone(host_api):
    (subnet,) = nu.free_subnets()
    node, name, clash = unique("tcp-"), unique("rnet-"), unique("rclash-")
    host_api.ok("create-node", {"name": node, "uri": LOOPBACK})
    try:
        net = host_api.ok("create-network", {"node": node, "name": name, "mode": "isolated",
                                             "ipv4_cidr": f"{nu.host(subnet, 1)}/24"})["network"]
        assert net["node"] == node and net["state"] == "active" and nu.dnsmasq_running(name)
        described = host_api.ok("describe-network", {"node": node, "name": name})["network"]
        assert described["ipv4"]["dhcp_start"] == nu.host(subnet, 128)
        host_api.ok("add-network-host", {"node": node, "name": name, "mac": "52:54:00:19:00:07",
                                         "ip": nu.host(subnet, 7), "hostname": "remote1"})
        assert f"52:54:00:19:00:07,{nu.host(subnet, 7)},remote1" in nu.dnsmasq_hosts(name).splitlines()
        assert host_api.ok("describe-network", {"node": node, "name": name})["network"]["hosts"][0]["hostname"] \
            == "remote1"
        sources = host_api.ok("list-network-sources", {"node": node})["sources"]
        assert name in {n["name"] for n in sources["networks"]}
        assert sources["bridges_source"] == "libvirt-interfaces"
        assert net["bridge"] in {b["name"] for b in sources["bridges"]}
        # A remote node's interface backend (udev here) reports no addresses: libvirt's own check at start
        # catches a subnet routed on the node, and the half-made network is removed.
        host_addr = next(addr for iface, addr in nu.HostNetwork().addresses() if iface == "eth0" and "." in addr)
        err = host_api.error("create-network", {"node": node, "name": clash,
                                                "ipv4_cidr": host_addr.rsplit(".", 1)[0] + ".77/24"},
                             status=409, code="SubnetInUseOnHost")
        assert err["details"]["interface"] == "eth0" and err["details"]["libvirt_error"]
        assert not nu.network_exists(clash)
        for action in ("list-bridges", "list-available-interfaces"):
            host_api.error(action, {"node": node}, status=422, code="NotSupportedOnRemoteNode")
        assert host_api.ok("delete-network", {"node": node, "name": name}) == {"ok": True}
        assert not nu.network_exists(name)
    finally:
        nu.drop_network(name)
        nu.drop_network(clash)
        host_api.ok("delete-node", {"name": node})
