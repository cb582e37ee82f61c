"""Issue 13 in the UI: a VM with a problem (a NIC on a deleted network) is listed with a warning badge and its
page says what is wrong; the state reason shows; a pm-suspended VM offers Resume, a crashed one Start and Stop.
The VMs live on a test-driver node of our own fixture (tests/fixtures/hosts/vm_states.xml) added to the real
server: nothing is made on the real libvirtd."""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from playwright.sync_api import expect

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "vm_states.xml"


def vm_row(pg, node: str, name: str):
    return pg.locator(f'[data-testid="vm-row"][data-key="{node}/{name}"]')


def test_vm_problems_state_reasons_and_ways_out_are_shown(logged_in_page, web_server, web_api, created_nodes):
    node = f"jvptest-a-{uuid.uuid4().hex[:8]}"
    fixtures = web_server.data_dir / "test-fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURE, fixtures / f"{node}.xml")
    created_nodes.append(node)
    web_api.ok("create-node", {"name": node, "uri": f"test://{fixtures / f'{node}.xml'}"})
    pg = logged_in_page
    pg.goto(f"/vms/?node={node}")

    broken = vm_row(pg, node, "dangling-net")
    expect(broken.get_by_test_id("vm-problems")).to_have_text("1 problem")
    expect(broken.get_by_test_id("vm-problems")).to_have_attribute("title", re.compile("NetworkNotFound.*net-deleted"))
    expect(vm_row(pg, node, "st-running").get_by_test_id("vm-problems")).to_have_count(0)
    # every VM of the node is listed, the broken ones included
    expect(pg.locator('[data-testid="vm-row"]')).to_have_count(11)

    blocked = vm_row(pg, node, "st-blocked")
    expect(blocked.get_by_test_id("vm-state")).to_have_attribute("data-state", "running")
    expect(blocked.get_by_test_id("vm-state-reason")).to_have_text("blocked")
    pm = vm_row(pg, node, "st-pmsuspended")
    expect(pm.get_by_test_id("vm-state")).to_have_attribute("data-state", "pmsuspended")
    pm.get_by_test_id("vm-row-menu").click()  # resume is in the row's menu, enabled for a pm-suspended VM
    expect(pg.get_by_test_id("vm-menu-resume")).not_to_have_attribute("data-disabled", "")
    pg.keyboard.press("Escape")
    crashed = vm_row(pg, node, "st-crashed")
    expect(crashed.get_by_test_id("vm-state")).to_have_attribute("data-state", "crashed")
    expect(crashed.get_by_test_id("vm-start")).to_be_visible()
    crashed.get_by_test_id("vm-row-menu").click()  # the other way out: force off
    expect(pg.get_by_test_id("vm-menu-forceoff")).not_to_have_attribute("data-disabled", "")
    pg.keyboard.press("Escape")

    # the crashed VM starts again from the list
    crashed.get_by_test_id("vm-start").click()
    expect(crashed.get_by_test_id("vm-state")).to_have_attribute("data-state", "running")

    # the detail page of the broken VM says what is wrong, and describes it
    broken.get_by_test_id("vm-link").click()
    alert = pg.get_by_test_id("vm-problems-alert")
    expect(alert).to_contain_text("NetworkNotFound")
    expect(alert).to_contain_text("'net-deleted'")
    expect(pg.get_by_test_id("vm-memory")).to_have_text(re.compile(r"1\.0 GiB \(of 2\.0 GiB\)"))
    expect(pg.get_by_test_id("vm-persistent")).to_have_text("yes")
