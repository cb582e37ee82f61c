"""The Networks pages against the real server and the real local libvirtd (tier 4). Test networks live in
198.19.0.0/16 and are isolated or NAT; test bridges and veths carry a `jvpt` prefix; all are removed after."""
from __future__ import annotations

import re
from typing import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.host import netutil as nu
from tests.web.conftest import PHONE, actions_folded

pytestmark = pytest.mark.web


@pytest.fixture
def networks() -> Iterator[list[str]]:
    """Names of networks a test makes; each is removed through libvirt afterwards, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        nu.drop_network(name)


def row(pg, name: str):
    return pg.locator(f'[data-testid="network-row"][data-key="{name}"]')


def test_list_shows_mode_subnet_dhcp_state_and_vms(logged_in_page, web_api, networks):
    pg = logged_in_page
    (subnet,) = nu.free_subnets()
    name = unique("wnet-")
    networks.append(name)
    web_api.ok("create-network", {"name": name, "mode": "isolated", "ipv4_cidr": f"{nu.host(subnet, 1)}/24",
                                  "dhcp_start": nu.host(subnet, 50), "dhcp_end": nu.host(subnet, 60)})
    pg.get_by_test_id("nav-networks").click()
    expect(pg).to_have_url(re.compile(r".*/networks/$"))
    expect(pg.get_by_test_id("nav-networks")).to_have_attribute("aria-current", "page")
    r = row(pg, name)
    expect(r.get_by_test_id("network-mode")).to_have_text("isolated")
    expect(r.get_by_test_id("network-subnet")).to_have_text(f"{nu.host(subnet, 1)}/24")
    expect(r.get_by_test_id("network-dhcp")).to_have_text(f"{nu.host(subnet, 50)} – {nu.host(subnet, 60)}")
    expect(r.get_by_test_id("network-state")).to_have_attribute("data-state", "active")
    expect(r.get_by_test_id("network-vms")).to_have_text("0")


def test_create_form_shows_the_apis_validation_messages_then_creates(logged_in_page, web_api, networks):
    pg = logged_in_page
    first, second = nu.free_subnets(2)
    taken, name = unique("wtaken-"), unique("wform-")
    networks += [taken, name]
    web_api.ok("create-network", {"name": taken, "mode": "isolated", "ipv4_cidr": f"{nu.host(first, 1)}/24"})
    pg.goto("/networks/")
    pg.get_by_test_id("add-network").click()
    dialog = pg.get_by_test_id("create-network-dialog")
    dialog.get_by_test_id("net-name-input").fill(name)
    dialog.get_by_test_id("net-ipv4-input").fill("198.19.300.1/24")
    dialog.get_by_test_id("create-network-dialog-submit").click()
    expect(dialog.get_by_test_id("create-network-dialog-error-code")).to_have_text("InvalidCidr")
    expect(dialog.get_by_test_id("field-net-ipv4-error")).to_contain_text("198.19.300.1/24")

    # An overlapping subnet: 409 naming the other network, shown under the subnet field.
    dialog.get_by_test_id("net-ipv4-input").fill(f"{nu.host(first, 129)}/25")
    dialog.get_by_test_id("create-network-dialog-submit").click()
    expect(dialog.get_by_test_id("create-network-dialog-error-code")).to_have_text("SubnetOverlap")
    expect(dialog.get_by_test_id("field-net-ipv4-error")).to_contain_text(taken)

    # A reversed DHCP range.
    dialog.get_by_test_id("net-ipv4-input").fill(f"{nu.host(second, 1)}/24")
    dialog.get_by_test_id("net-dhcp-start-input").fill(nu.host(second, 90))
    dialog.get_by_test_id("net-dhcp-end-input").fill(nu.host(second, 20))
    dialog.get_by_test_id("create-network-dialog-submit").click()
    expect(dialog.get_by_test_id("create-network-dialog-error-code")).to_have_text("InvalidDhcpRange")
    expect(dialog.get_by_test_id("field-net-dhcp-end-error")).to_contain_text("reversed")
    assert not nu.network_exists(name)

    dialog.get_by_test_id("net-dhcp-start-input").fill("")
    dialog.get_by_test_id("net-dhcp-end-input").fill("")
    dialog.get_by_test_id("create-network-dialog-submit").click()
    expect(dialog).to_have_count(0)
    expect(pg.get_by_test_id("toast-success")).to_contain_text(name)
    expect(row(pg, name).get_by_test_id("network-dhcp")).to_have_text(f"{nu.host(second, 128)} – {nu.host(second, 254)}")
    saved = web_api.ok("describe-network", {"name": name})["network"]
    assert saved["mode"] == "nat" and saved["state"] == "active" and saved["autostart"] is True


def test_stop_start_and_delete_with_confirmation(logged_in_page, web_api, networks):
    pg = logged_in_page
    (subnet,) = nu.free_subnets()
    name = unique("wlife-")
    networks.append(name)
    web_api.ok("create-network", {"name": name, "mode": "isolated", "ipv4_cidr": f"{nu.host(subnet, 1)}/24"})
    pg.goto("/networks/")
    r = row(pg, name)
    r.get_by_test_id("network-stop").click()
    dialog = pg.get_by_test_id("stop-network-dialog")
    dialog.get_by_test_id("stop-network-dialog-cancel").click()
    expect(dialog).to_have_count(0)
    assert web_api.ok("describe-network", {"name": name})["network"]["state"] == "active"
    r.get_by_test_id("network-stop").click()
    dialog.get_by_test_id("stop-network-dialog-confirm").click()
    expect(r.get_by_test_id("network-state")).to_have_attribute("data-state", "inactive")
    assert not nu.dnsmasq_running(name)
    r.get_by_test_id("network-start").click()
    expect(r.get_by_test_id("network-state")).to_have_attribute("data-state", "active")
    assert nu.dnsmasq_running(name)

    r.get_by_test_id("network-delete").click()
    confirm = pg.get_by_test_id("delete-network-dialog")
    button = confirm.get_by_test_id("delete-network-dialog-confirm")
    expect(button).to_be_disabled()
    confirm.get_by_test_id("delete-network-dialog-input").fill(name)
    button.click()
    expect(confirm).to_have_count(0)
    expect(r).to_have_count(0)
    assert not nu.network_exists(name)


def test_detail_page_static_hosts_and_leases(logged_in_page, web_api, networks):
    pg = logged_in_page
    (subnet,) = nu.free_subnets()
    name = unique("whost-")
    networks.append(name)
    web_api.ok("create-network", {"name": name, "mode": "isolated", "ipv4_cidr": f"{nu.host(subnet, 1)}/24"})
    pg.goto("/networks/")
    row(pg, name).get_by_test_id("network-link").click()
    expect(pg).to_have_url(re.compile(rf".*/networks/detail/\?node=local&name={name}$"))
    expect(pg.get_by_test_id("network-detail-state")).to_have_attribute("data-state", "active")
    expect(pg.get_by_test_id("detail-dhcp")).to_have_text(f"{nu.host(subnet, 128)} – {nu.host(subnet, 254)}")
    expect(pg.get_by_test_id("leases-empty")).to_be_visible()

    pg.get_by_test_id("host-mac-input").fill("52:54:00:zz:00:01")
    pg.get_by_test_id("host-ip-input").fill(nu.host(subnet, 10))
    pg.get_by_test_id("host-add").click()
    expect(pg.get_by_test_id("host-form-error-code")).to_have_text("InvalidMac")
    expect(pg.get_by_test_id("field-host-mac-error")).to_contain_text("52:54:00:zz:00:01")

    pg.get_by_test_id("host-mac-input").fill("52:54:00:19:00:31")
    pg.get_by_test_id("host-hostname-input").fill("web-a")
    pg.get_by_test_id("host-add").click()
    host_row = pg.get_by_test_id("host-row")
    expect(host_row).to_have_count(1)
    expect(host_row).to_contain_text(nu.host(subnet, 10))
    expect(host_row).to_contain_text("web-a")
    assert f"52:54:00:19:00:31,{nu.host(subnet, 10)},web-a" in nu.dnsmasq_hosts(name).splitlines()

    pg.get_by_test_id("host-mac-input").fill("52:54:00:19:00:32")
    pg.get_by_test_id("host-ip-input").fill(nu.host(subnet, 10))
    pg.get_by_test_id("host-add").click()
    expect(pg.get_by_test_id("host-form-error-code")).to_have_text("HostIpTaken")

    host_row.get_by_test_id("host-remove").click()
    pg.get_by_test_id("remove-host-dialog-confirm").click()
    expect(pg.get_by_test_id("hosts-empty")).to_be_visible()
    assert "52:54:00:19:00:31" not in nu.dnsmasq_hosts(name)

    pg.get_by_test_id("toggle-autostart").click()
    expect(pg.get_by_test_id("detail-autostart")).to_have_text("no")
    assert web_api.ok("describe-network", {"name": name})["network"]["autostart"] is False


def test_a_reservation_without_a_mac_made_outside_jvp_can_be_removed(logged_in_page, web_api, networks):
    import libvirt
    pg = logged_in_page
    (subnet,) = nu.free_subnets()
    name = unique("wnomac-")
    networks.append(name)
    web_api.ok("create-network", {"name": name, "mode": "isolated", "ipv4_cidr": f"{nu.host(subnet, 1)}/24"})
    conn = libvirt.open("qemu:///system")
    try:  # what an admin may do with virsh net-update: a host by name and address only
        conn.networkLookupByName(name).update(
            libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1,
            f"<host name='pxe' ip='{nu.host(subnet, 20)}'/>",
            libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG)
    finally:
        conn.close()
    pg.goto(f"/networks/detail/?node=local&name={name}")
    host_row = pg.get_by_test_id("host-row")
    expect(host_row).to_have_count(1)
    expect(host_row).to_contain_text("pxe")
    host_row.get_by_test_id("host-remove").click()
    expect(pg.get_by_test_id("remove-host-dialog")).to_contain_text("pxe")
    pg.get_by_test_id("remove-host-dialog-confirm").click()
    expect(pg.get_by_test_id("hosts-empty")).to_be_visible()
    assert web_api.ok("describe-network", {"name": name})["network"]["hosts"] == []
    assert nu.host(subnet, 20) not in nu.dnsmasq_hosts(name)


def test_detail_page_shows_every_block_of_a_network_made_outside_jvp(logged_in_page, web_api, networks):
    """Defined (not started) with libvirt directly: a bare IPv4 address (classful /24), a second IPv4 block with
    a netmask, DHCP and a host, and an IPv6 block with a DHCPv6 host; the detail page shows every block."""
    import libvirt
    pg = logged_in_page
    first, second = nu.free_subnets(2)
    name = unique("c-wblk-")
    networks.append(name)
    xml = f"""<network><name>{name}</name><bridge name='{nu.short_name("jvptc")}'/>
      <ip address='{nu.host(first, 1)}'/>
      <ip address='{nu.host(second, 1)}' netmask='255.255.255.0'><dhcp>
        <range start='{nu.host(second, 100)}' end='{nu.host(second, 150)}'/>
        <host mac='52:54:00:19:00:41' name='v4host' ip='{nu.host(second, 10)}'/></dhcp></ip>
      <ip family='ipv6' address='fd19:c::1' prefix='64'><dhcp>
        <host id='0:3:0:1:0:16:3e:19:00:42' name='v6host' ip='fd19:c::10'/></dhcp></ip></network>"""
    conn = libvirt.open("qemu:///system")
    try:
        conn.networkDefineXML(xml)
    finally:
        conn.close()
    pg.goto("/networks/")
    expect(row(pg, name).get_by_test_id("network-subnet")).to_contain_text(f"{nu.host(first, 1)}/24")
    expect(row(pg, name).get_by_test_id("network-more-blocks")).to_have_text("+1 more block")
    pg.goto(f"/networks/detail/?node=local&name={name}")
    blocks = pg.get_by_test_id("card-blocks").get_by_test_id("block")
    expect(blocks).to_have_count(3)
    expect(blocks.nth(0).get_by_test_id("block-cidr")).to_contain_text(f"{nu.host(first, 1)}/24")
    expect(blocks.nth(0).get_by_test_id("block-cidr")).to_contain_text("classful")
    expect(blocks.nth(1).get_by_test_id("block-cidr")).to_contain_text(f"{nu.host(second, 1)}/24")
    expect(blocks.nth(1).get_by_test_id("block-dhcp")).to_have_text(f"{nu.host(second, 100)} – {nu.host(second, 150)}")
    expect(blocks.nth(1).get_by_test_id("block-host")).to_contain_text("v4host")
    expect(blocks.nth(2).get_by_test_id("block-cidr")).to_contain_text("fd19:c::1/64")
    expect(blocks.nth(2).get_by_test_id("block-host")).to_contain_text("0:3:0:1:0:16:3e:19:00:42")
    # every block's hosts are in the hosts table too, the IPv6 one included
    expect(pg.get_by_test_id("host-row")).to_have_count(2)


def test_bridges_tab_creates_and_deletes_a_bridge_on_a_test_veth(logged_in_page, web_api):
    pg = logged_in_page
    bridge = nu.short_name("jvptb")
    with nu.veth() as port:
        try:
            pg.goto("/networks/?node=local&tab=bridges")
            pg.get_by_test_id("add-bridge").click()
            dialog = pg.get_by_test_id("create-bridge-dialog")
            eth0 = dialog.locator('[data-testid="bridge-iface"][data-key="eth0"]')
            expect(eth0.get_by_test_id("bridge-iface-protected")).to_be_visible()
            expect(eth0.get_by_test_id("bridge-iface-check")).to_be_disabled()  # never ticked in a test
            dialog.get_by_test_id("bridge-name-input").fill(bridge)
            dialog.locator(f'[data-testid="bridge-iface"][data-key="{port}"]').get_by_test_id("bridge-iface-check").check()
            dialog.get_by_test_id("create-bridge-dialog-submit").click()
            expect(dialog).to_have_count(0)
            bridge_row = pg.locator(f'[data-testid="bridge-row"][data-key="{bridge}"]')
            expect(bridge_row).to_contain_text(port)
            assert nu.link_master(port) is not None

            bridge_row.get_by_test_id("bridge-delete").click()
            confirm = pg.get_by_test_id("delete-bridge-dialog")
            confirm.get_by_test_id("delete-bridge-dialog-input").fill(bridge)
            confirm.get_by_test_id("delete-bridge-dialog-confirm").click()
            expect(bridge_row).to_have_count(0)
            assert not nu.link_exists(bridge) and nu.link_master(port) is None
        finally:
            nu.delete_link(bridge)


def test_bridges_tab_on_a_remote_node_shows_the_apis_refusal(logged_in_page, web_api, created_nodes):
    pg = logged_in_page
    node = unique("wtcp-")
    created_nodes.append(node)
    web_api.ok("create-node", {"name": node, "uri": "qemu+tcp://127.0.0.1/system"})
    pg.goto(f"/networks/?node={node}&tab=bridges")
    expect(pg.get_by_test_id("bridges-error-code")).to_have_text("NotSupportedOnRemoteNode")
    expect(pg.get_by_test_id("add-bridge")).to_be_disabled()
    pg.get_by_test_id("tab-networks").click()
    expect(pg.get_by_test_id("networks-table")).to_be_visible()


def test_on_a_phone_a_networks_actions_are_one_menu(logged_in_page, web_api, networks):
    pg = logged_in_page
    pg.set_viewport_size(PHONE)
    name = unique("wphone-")
    networks.append(name)
    web_api.ok("create-network", {"name": name, "mode": "isolated"})
    pg.goto("/networks/")
    r = row(pg, name)
    expect(r.get_by_test_id("network-state")).to_have_attribute("data-state", "active")
    expect(r.get_by_test_id("network-stop")).to_be_hidden()
    actions_folded(r)
    r.get_by_test_id("networks-table-row-menu").click()
    menu = pg.get_by_test_id("networks-table-row-menu-menu")
    expect(menu.get_by_role("menuitem")).to_have_text(["Stop…", "Delete network…"])
    menu.get_by_test_id("networks-table-row-menu-stop").click()
    pg.get_by_test_id("stop-network-dialog-confirm").click()
    expect(r.get_by_test_id("network-state")).to_have_attribute("data-state", "inactive")
    r.get_by_test_id("networks-table-row-menu").click()
    menu.get_by_test_id("networks-table-row-menu-delete").click()
    confirm = pg.get_by_test_id("delete-network-dialog")
    confirm.get_by_test_id("delete-network-dialog-input").fill(name)   # the same typed confirmation
    confirm.get_by_test_id("delete-network-dialog-confirm").click()
    expect(r).to_have_count(0)
    assert not nu.network_exists(name)
