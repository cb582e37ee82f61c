"""The Migrate dialog (issue 17) against the real server: a stopped VM on the host's libvirtd moves offline to
the second real libvirt node (tests/host/second_node.py). The dialog first shows the preflight refusing a
target in maintenance, then passing; the move's progress; and the page follows the VM to its new node. Then
the second node's Evacuate button: its stopped VM stays, the node enters maintenance."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.host import vmutil


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_migrate_dialog_checks_then_moves_a_stopped_vm(logged_in_page, web_api, created_nodes, second_node,
                                                       viewport):
    node = unique("H-twin-")
    created_nodes.append(node)
    web_api.ok("create-node", {"name": node, "uri": second_node.uri})
    name = unique("H-ui-")
    local, twin = vmutil.open_conn(), vmutil.open_conn(second_node.uri)
    try:
        local.defineXML(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                        "<os><type arch='x86_64'>hvm</type></os></domain>")
        web_api.ok("disable-node", {"name": node})
        pg = logged_in_page
        pg.set_viewport_size(viewport)
        pg.goto(f"/vms/detail/?node=local&name={name}")
        pg.get_by_test_id("vm-more").click()
        pg.get_by_test_id("vm-menu-migrate").click()
        dialog = pg.get_by_test_id("migrate-dialog")
        box = dialog.bounding_box()   # the dialog fits the screen, at phone size too
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
        dialog.get_by_test_id("migrate-target").select_option(node)
        dialog.get_by_test_id("migrate-dialog-submit").click()  # Check
        expect(dialog.get_by_test_id("migrate-plan")).to_have_attribute("data-ok", "no")
        expect(dialog.get_by_test_id("migrate-check-target")).to_have_attribute("data-ok", "no")
        expect(dialog.get_by_test_id("migrate-check-target")).to_contain_text("NodeInMaintenance")
        web_api.ok("enable-node", {"name": node})
        dialog.get_by_test_id("migrate-dialog-submit").click()  # Check again
        expect(dialog.get_by_test_id("migrate-plan")).to_have_attribute("data-ok", "yes")
        expect(dialog.get_by_test_id("migrate-verdict")).to_contain_text(f"offline move to {node}")
        expect(dialog.get_by_test_id("migrate-check-same_host")).to_have_attribute("data-ok", "yes")
        dialog.get_by_test_id("migrate-dialog-submit").click()  # Migrate
        expect(pg.get_by_test_id("vm-subtitle")).to_contain_text(f"on node {node}", timeout=60_000)
        assert f"node={node}" in pg.url
        assert twin.lookupByName(name).isPersistent()
        assert name not in [d.name() for d in local.listAllDomains(0)]
        # Evacuate on the node page: the stopped VM stays (only running VMs move), the node enters maintenance
        pg.goto(f"/nodes/detail/?name={node}")
        fold = pg.get_by_test_id("page-actions-toggle")
        expect(pg.get_by_test_id("page-title")).to_be_visible()
        if fold.is_visible():  # on a phone the page header's actions fold behind one button (PageHeader)
            fold.click()
        pg.get_by_test_id("node-evacuate").click()
        evac = pg.get_by_test_id("evacuate-dialog")
        expect(evac.get_by_test_id("evacuate-target-local")).to_be_visible()
        evac.get_by_test_id("evacuate-dialog-submit").click()
        expect(evac.get_by_test_id("evacuate-stayed")).to_have_text(f"{name} (stopped) stays", timeout=60_000)
        expect(evac.get_by_test_id("evacuate-moved")).to_have_count(0)
        expect(pg.get_by_test_id("node-maintenance-note")).to_be_visible()
    finally:
        vmutil.drop_domain(local, name)
        vmutil.drop_domain(twin, name)
        local.close()
        twin.close()
