"""The frame of every page (issue 19) at 1440x900 and 390x844, against the real server: the menu drawer, no
horizontal overflow, the dark-mode toggle, the global search (by name and by MAC) and the keyboard
shortcuts, the table's keyboard sorting, filter and pagination, and the task bar with who started a task.

Set-up through the API: a dir pool, an isolated network, two VMs defined with start=false (a blank disk, one
NIC with a chosen MAC: nothing boots) and 30 keypairs; all named jvptest-* and removed afterwards."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.web.conftest import login, wait_task

pytestmark = pytest.mark.web

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
KEYPAIRS = 30


@dataclass
class ShellEnv:
    pool: str
    network: str
    prefix: str
    vms: list[str] = field(default_factory=list)
    macs: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)  # vm -> its create-vm task id
    keypairs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def env(web_api, tmp_path_factory) -> Iterator[ShellEnv]:
    base = tmp_path_factory.mktemp("web-shell")
    prefix = unique("sh")
    e = ShellEnv(pool=f"{prefix}-pool", network=f"{prefix}-net", prefix=prefix)
    try:
        web_api.ok("create-storage-pool", {"name": e.pool, "type": "dir", "path": str(base / e.pool)})
        web_api.ok("create-network", {"name": e.network, "mode": "isolated"})
        for i in range(2):
            name = f"{prefix}-vm{i}"
            mac = "52:54:00:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))
            e.vms.append(name)
            task = web_api.ok("create-vm", {"name": name, "pool": e.pool, "disk_size_gib": 1, "memory_mib": 128,
                                            "start": False, "nics": [{"network": e.network, "mac": mac}]})["task"]
            assert wait_task(web_api, task["id"])["state"] == "succeeded"
            e.macs[name] = mac
            e.tasks[name] = task["id"]
        for i in range(KEYPAIRS):
            name = f"{prefix}-kp{i:02d}"
            e.keypairs.append(name)
            web_api.ok("create-keypair", {"name": name})
        yield e
    finally:
        for name in e.vms:
            resp = web_api.post("delete-vm", {"name": name, "force": True, "delete_volumes": True})
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)
        for name in e.keypairs:
            resp = web_api.post("delete-keypair", {"name": name})
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)
        for action, body in (("delete-network", {"name": e.network}),
                             ("delete-storage-pool", {"name": e.pool, "delete_volumes": True})):
            resp = web_api.post(action, body)
            assert resp.status_code in (200, 404), (action, resp.status_code, resp.text)


@pytest.fixture(params=list(SIZES))
def sized(request, page, web_server):
    """A logged-in page at one of the two sizes."""
    page.set_viewport_size(SIZES[request.param])
    login(page, web_server.token)
    page.size_name = request.param
    return page


def no_horizontal_overflow(pg) -> None:
    widths = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_the_menu_drawer_opens_and_navigates(sized):
    pg = sized
    if pg.size_name == "phone":
        expect(pg.get_by_test_id("sidebar")).to_be_hidden()
        pg.get_by_test_id("menu-button").click()
        drawer = pg.get_by_test_id("nav-drawer")
        expect(drawer).to_be_visible()
        expect(drawer.get_by_test_id("drawer-nav-vms")).to_contain_text("VMs")  # labels, not bare icons
        drawer.get_by_test_id("drawer-nav-vms").click()
        expect(pg).to_have_url(re.compile(r"/vms/$"))
        expect(drawer).to_be_hidden()
        # Escape closes it too, and the focus goes back to the menu button
        pg.get_by_test_id("menu-button").click()
        expect(drawer).to_be_visible()
        pg.keyboard.press("Escape")
        expect(drawer).to_be_hidden()
        expect(pg.get_by_test_id("menu-button")).to_be_focused()
    else:
        expect(pg.get_by_test_id("menu-button")).to_be_hidden()
        expect(pg.get_by_test_id("sidebar")).to_be_visible()
        pg.get_by_test_id("nav-vms").click()
        expect(pg).to_have_url(re.compile(r"/vms/$"))
    expect(pg.get_by_test_id("topbar-title")).to_have_text("VMs")
    expect(pg.get_by_test_id("page-title")).to_contain_text("Virtual machines")
    # the top bar keeps Log out reachable at both sizes
    expect(pg.get_by_test_id("logout")).to_be_in_viewport()


def test_no_horizontal_overflow_on_the_vm_list_and_dashboard(sized, env):
    pg = sized
    expect(pg.get_by_test_id("page-title")).to_contain_text("Dashboard")
    pg.wait_for_load_state("networkidle")
    no_horizontal_overflow(pg)
    pg.goto("/vms/")
    expect(pg.locator(f'[data-testid="vm-row"][data-key="local/{env.vms[0]}"]')).to_be_visible()
    no_horizontal_overflow(pg)
    expect(pg.get_by_test_id("logout")).to_be_in_viewport()
    if pg.size_name == "phone":
        # the header's actions fold behind one button, and open as a list
        toggle = pg.get_by_test_id("page-actions-toggle")
        expect(toggle).to_be_visible()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        no_horizontal_overflow(pg)


def test_the_dark_mode_toggle_changes_the_background_and_is_remembered(sized):
    pg = sized
    pg.emulate_media(color_scheme="light")
    background = "getComputedStyle(document.body).backgroundColor"
    light = pg.evaluate(background)
    expect(pg.locator("html")).to_have_attribute("data-theme", "light")
    pg.get_by_test_id("theme-toggle").click()
    pg.get_by_test_id("theme-dark").click()
    expect(pg.locator("html")).to_have_attribute("data-theme", "dark")
    dark = pg.evaluate(background)
    assert dark != light
    pg.reload()
    expect(pg.get_by_test_id("page-title")).to_be_visible()
    expect(pg.locator("html")).to_have_attribute("data-theme", "dark")
    assert pg.evaluate(background) == dark
    # "system" follows the browser's preference
    pg.get_by_test_id("theme-toggle").click()
    pg.get_by_test_id("theme-system").click()
    expect(pg.locator("html")).to_have_attribute("data-theme", "light")
    pg.emulate_media(color_scheme="dark")
    expect(pg.locator("html")).to_have_attribute("data-theme", "dark")
    assert pg.evaluate("localStorage.getItem('jvp.theme')") is None


def test_search_finds_a_vm_by_name_and_by_mac_and_opens_it(sized, env):
    pg = sized
    vm, other = env.vms
    pg.keyboard.press("Control+k")
    dialog = pg.get_by_test_id("search-dialog")
    expect(dialog).to_be_visible()
    pg.get_by_test_id("search-input").fill(vm)
    item = dialog.locator(f'[data-testid="search-item"][data-id="vm:local/{vm}"]')
    expect(item).to_be_visible()
    expect(dialog.locator(f'[data-testid="search-item"][data-id="vm:local/{other}"]')).to_have_count(0)
    pg.keyboard.press("Enter")
    expect(pg).to_have_url(re.compile(r"/vms/detail/"))
    assert query_of(pg.url) == {"node": "local", "name": vm}
    expect(dialog).to_be_hidden()

    # by the other VM's MAC, opened with "/" this time and chosen with a click
    pg.goto("/")
    expect(pg.get_by_test_id("page-title")).to_contain_text("Dashboard")
    pg.locator("body").press("/")
    expect(dialog).to_be_visible()
    pg.get_by_test_id("search-input").fill(env.macs[other])
    item = dialog.locator(f'[data-testid="search-item"][data-id="vm:local/{other}"]')
    expect(item).to_be_visible()
    expect(dialog.locator(f'[data-testid="search-item"][data-id="vm:local/{vm}"]')).to_have_count(0)
    item.click()
    expect(pg).to_have_url(re.compile(r"/vms/detail/"))
    assert query_of(pg.url) == {"node": "local", "name": other}


def test_shortcuts_navigate_and_explain_themselves(page, web_server):
    login(page, web_server.token)
    page.locator("body").press("g")
    page.locator("body").press("v")
    expect(page).to_have_url(re.compile(r"/vms/$"))
    page.locator("body").press("g")
    page.locator("body").press("n")
    expect(page).to_have_url(re.compile(r"/nodes/$"))
    page.locator("body").press("?")
    help_dialog = page.get_by_test_id("shortcuts-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Go to VMs")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()


def test_a_table_sorts_by_keyboard_filters_and_pages(sized, env, web_api):
    pg = sized
    pg.goto("/keypairs/")
    table = pg.get_by_test_id("keypairs-table")
    rows = table.get_by_test_id("keypair-row")
    expect(rows.first).to_be_visible()
    total = len(web_api.ok("list-keypairs")["keypairs"])
    assert total >= KEYPAIRS
    # more rows than a page: 25 shown, a pager
    pager = pg.get_by_test_id("keypairs-table-pager")
    expect(pager).to_be_visible()
    expect(rows).to_have_count(25)
    expect(pg.get_by_test_id("keypairs-table-pager-range")).to_have_text(f"1–25 of {total}")
    pg.get_by_test_id("keypairs-table-next").click()
    expect(rows).to_have_count(min(25, total - 25))
    pg.get_by_test_id("keypairs-table-page-size").select_option("100")
    expect(rows).to_have_count(min(100, total))

    # the filter keeps this test's keypairs (30: still more than a page of 25 with the size back at 25)
    pg.get_by_test_id("keypairs-table-page-size").select_option("25")
    pg.get_by_test_id("keypairs-table-filter").fill(env.prefix)
    expect(pg.get_by_test_id("keypairs-table-filter-count")).to_have_text(f"{KEYPAIRS} of {total}")
    mine = sorted(env.keypairs)
    expect(rows.first).to_have_attribute("data-key", mine[0])

    # sorting from the keyboard: the header's button takes the focus, Enter reverses the order
    header = pg.get_by_test_id("keypairs-table-col-name")
    expect(header).to_have_attribute("aria-sort", "ascending")
    button = pg.get_by_test_id("keypairs-table-sort-name")
    button.focus()
    pg.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_attribute("data-key", mine[-1])
    expect(rows).to_have_count(25)
    pg.keyboard.press("Space")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_have_attribute("data-key", mine[0])
    no_horizontal_overflow(pg)


def test_the_task_bar_shows_a_task_with_who_started_it(sized, env, web_api):
    pg = sized
    vm = env.vms[1]
    task = web_api.ok("describe-task", {"id": env.tasks[vm]})["task"]
    assert task["created_by"] == "admin"  # the server's admin token is named admin
    bar = pg.get_by_test_id("taskbar")
    expect(bar).to_be_visible()
    toggle = pg.get_by_test_id("taskbar-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    row = bar.locator(f'[data-testid="taskbar-task"][data-id="{task["id"]}"]')
    expect(row).to_be_visible()
    expect(row.get_by_test_id("taskbar-task-kind")).to_have_text("create-vm")
    expect(row.get_by_test_id("taskbar-task-by")).to_have_text(task["created_by"])
    expect(row.get_by_test_id("taskbar-task-state")).to_contain_text("succeeded")
    row.get_by_test_id("taskbar-task-log-toggle").click()
    expect(row.get_by_test_id("taskbar-log-by")).to_have_text(task["created_by"])
    expect(row.get_by_test_id("taskbar-log-message")).to_have_text(task["message"])
    no_horizontal_overflow(pg)
    row.get_by_test_id("taskbar-task-link").click()
    expect(pg).to_have_url(re.compile(r"/vms/detail/"))
    assert query_of(pg.url) == {"node": "local", "name": vm}
    # collapsed, it is one line that still counts what runs
    pg.get_by_test_id("taskbar-toggle").click()
    expect(pg.get_by_test_id("taskbar-toggle")).to_have_attribute("aria-expanded", "false")
    expect(row).to_be_hidden()


def test_row_actions_fold_into_a_menu_on_a_phone_with_reasons(sized):
    pg = sized
    pg.goto("/nodes/")
    row = pg.locator('[data-testid="nodes-table"] tr[data-key="local"]')
    expect(row).to_be_visible()
    menu_button = row.get_by_test_id("nodes-table-row-menu")
    if pg.size_name == "desktop":
        expect(menu_button).to_be_hidden()
        expect(row.get_by_test_id("node-disable").or_(row.get_by_test_id("node-enable"))).to_be_visible()
        return
    expect(row.get_by_test_id("node-disable").or_(row.get_by_test_id("node-enable"))).to_be_hidden()
    menu_button.focus()  # the table scrolls inside its own box to show it
    pg.keyboard.press("Enter")  # menus open from the keyboard
    menu = pg.get_by_test_id("nodes-table-row-menu-menu")
    expect(menu).to_have_attribute("role", "menu")
    expect(menu).to_be_visible()
    delete = menu.get_by_test_id("nodes-table-row-menu-delete")
    expect(delete).to_have_attribute("data-disabled", "")
    expect(delete).to_contain_text("cannot be deleted")  # the reason, visible
    assert "cannot be deleted" in (delete.get_attribute("title") or "")
    pg.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    no_horizontal_overflow(pg)
