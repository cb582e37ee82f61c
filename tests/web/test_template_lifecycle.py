"""The image lifecycle in the browser (tier 4), against the real server and libvirtd: the template's details show
its history and the affected VMs; Rebuild VMs asks first, listing each VM with its state and what will happen
to it (and how the choice for running VMs changes that), warns that system-disk content is replaced, then
follows the task to per-VM results; the VM page's Rebuild asks and follows its task too. The same dialogs at
390x844. The template image is the small test qcow2 (not bootable): VMs are defined stopped, one is started
(it spins in the firmware) only to show the running case, and is skipped, never shut down."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.web.test_templates import place, register, row, server, vm_from, wait_task  # noqa: F401 - fixtures
from tests.templateutil import images  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.web


def make_template(web_api, place, server) -> tuple[str, str, str]:
    name = unique("t-")
    register(web_api, place, name, {"type": "url", "url": server.url("/img/small.qcow2"),
                                    "checksum_url": server.url("/img/SHA256SUMS")})
    stopped = vm_from(web_api, place, name)
    running = vm_from(web_api, place, name)
    web_api.ok("check-template-update", {"name": name})   # one history entry before the UI looks
    return name, stopped, running


def system_volume(web_api, vm: str) -> str:
    return next(d["volume"] for d in web_api.ok("describe-vm", {"name": vm})["vm"]["disks"] if d.get("system"))


def test_rebuild_vms_lists_what_happens_to_each_vm_then_shows_the_results(logged_in_page, web_api, place, server):
    pg = logged_in_page
    name, stopped, running = make_template(web_api, place, server)
    web_api.ok("start-vm", {"name": running})
    pg.goto("/templates/")
    row(pg, name).get_by_test_id("template-name").click()
    details = pg.get_by_test_id("template-details")
    expect(details.get_by_test_id("template-details-history-entry").first).to_have_attribute("data-event", "check")
    expect(details.get_by_test_id("template-details-affected-title")).to_contain_text("2 VMs")
    details.get_by_test_id("template-details-rebuild").click()

    dialog = pg.get_by_test_id("rebuild-vms")
    expect(dialog.get_by_test_id("rebuild-vms-warning")).to_contain_text("System-disk content is replaced")
    vm_row = lambda vm: dialog.locator(f'[data-testid="rebuild-vms-vm"][data-name="{vm}"]')  # noqa: E731
    expect(vm_row(stopped).get_by_test_id("rebuild-vms-vm-state")).to_have_text("not running")
    expect(vm_row(stopped).get_by_test_id("rebuild-vms-vm-plan")).to_contain_text("stays stopped")
    expect(vm_row(running).get_by_test_id("rebuild-vms-vm-state")).to_have_text("running")
    expect(vm_row(running).get_by_test_id("rebuild-vms-vm-plan")).to_contain_text("started again")
    expect(dialog.get_by_test_id("rebuild-vms-confirm")).to_have_text("Rebuild 2 VMs")
    dialog.get_by_test_id("rebuild-vms-skip").check()
    expect(vm_row(running).get_by_test_id("rebuild-vms-vm-plan")).to_contain_text("skipped")
    expect(dialog.get_by_test_id("rebuild-vms-confirm")).to_have_text("Rebuild 1 VM")
    assert system_volume(web_api, stopped) == f"{stopped}-root.qcow2"          # nothing happened yet
    dialog.get_by_test_id("rebuild-vms-confirm").click()

    expect(dialog.get_by_test_id("rebuild-vms-task")).to_have_attribute("data-state", "succeeded", timeout=90_000)
    result = lambda vm: dialog.locator(f'[data-testid="rebuild-vms-result"][data-name="{vm}"]')  # noqa: E731
    expect(result(stopped)).to_have_attribute("data-outcome", "rebuilt")
    expect(result(running)).to_have_attribute("data-outcome", "skipped")
    assert system_volume(web_api, stopped) == f"{stopped}-root-1.qcow2"
    assert system_volume(web_api, running) == f"{running}-root.qcow2"
    dialog.get_by_test_id("rebuild-vms-close").click()
    first = details.get_by_test_id("template-details-history-entry").first
    expect(first).to_have_attribute("data-event", "rebuild")
    expect(first).to_contain_text(stopped)
    web_api.ok("stop-vm", {"name": running, "force": True})


def test_the_vm_page_rebuild_asks_first_and_follows_its_task(logged_in_page, web_api, place, server):
    pg = logged_in_page
    name, stopped, _ = make_template(web_api, place, server)
    pg.goto(f"/vms/detail/?node=local&name={stopped}")
    pg.get_by_test_id("vm-more").click()
    pg.get_by_test_id("vm-menu-rebuild").click()
    dialog = pg.get_by_test_id("rebuild-vm")
    expect(dialog.get_by_test_id("rebuild-vm-warning")).to_contain_text("content is replaced")
    expect(dialog.get_by_test_id("rebuild-vm-plan")).to_contain_text("stays stopped")
    expect(dialog.get_by_test_id("rebuild-vm-template")).to_have_value(name)
    dialog.get_by_test_id("rebuild-vm-cancel").click()
    expect(dialog).to_have_count(0)
    assert system_volume(web_api, stopped) == f"{stopped}-root.qcow2"          # cancelled: nothing happened
    pg.get_by_test_id("vm-more").click()
    pg.get_by_test_id("vm-menu-rebuild").click()
    dialog.get_by_test_id("rebuild-vm-confirm").click()
    expect(dialog.get_by_test_id("rebuild-vm-task")).to_have_attribute("data-state", "succeeded", timeout=90_000)
    assert system_volume(web_api, stopped) == f"{stopped}-root-1.qcow2"
    entry = web_api.ok("list-template-history", {"name": name})["entries"][0]
    assert (entry["event"], entry["vm"], entry["by"]) == ("rebuild", stopped, "admin")


def test_the_dialogs_fit_a_phone(logged_in_page, web_api, place, server):
    pg = logged_in_page
    pg.set_viewport_size({"width": 390, "height": 844})
    name, stopped, _ = make_template(web_api, place, server)
    pg.goto("/templates/")
    row(pg, name).get_by_test_id("template-name").click()
    details = pg.get_by_test_id("template-details")
    expect(details.get_by_test_id("template-details-history")).to_be_visible()
    rebuild = details.get_by_test_id("template-details-rebuild")
    rebuild.scroll_into_view_if_needed()
    expect(rebuild).to_be_in_viewport()
    rebuild.click()
    dialog = pg.get_by_test_id("rebuild-vms")
    expect(dialog.get_by_test_id("rebuild-vms-warning")).to_be_in_viewport()
    plan = dialog.locator(f'[data-testid="rebuild-vms-vm"][data-name="{stopped}"]')
    plan.scroll_into_view_if_needed()
    expect(plan).to_be_visible()
    confirm = dialog.get_by_test_id("rebuild-vms-confirm")
    confirm.scroll_into_view_if_needed()
    expect(confirm).to_be_in_viewport()
    box = confirm.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
    dialog.get_by_test_id("rebuild-vms-cancel").click()
    pg.goto(f"/vms/detail/?node=local&name={stopped}")
    button = pg.get_by_test_id("vm-more")
    expect(pg.get_by_test_id("page-title")).to_contain_text(stopped)
    fold = pg.get_by_test_id("page-actions-toggle")
    if fold.is_visible():  # on a phone the page header's actions fold behind one button (PageHeader)
        fold.click()
    button.scroll_into_view_if_needed()
    button.click()
    pg.get_by_test_id("vm-menu-rebuild").click()
    vm_dialog = pg.get_by_test_id("rebuild-vm")
    expect(vm_dialog.get_by_test_id("rebuild-vm-warning")).to_be_in_viewport()
    confirm = vm_dialog.get_by_test_id("rebuild-vm-confirm")
    confirm.scroll_into_view_if_needed()
    expect(confirm).to_be_in_viewport()
    expect(pg).to_have_url(re.compile(r".*/vms/detail/.*"))
