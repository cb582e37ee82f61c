"""The dashboard (`/`) against the real server (tier 4), at desktop (1440x900) and phone (390x844) size.

Its figures are checked against what the API answers: a test-driver node of our own fixture
(tests/fixtures/hosts/dashboard.xml: 3 VMs of which 2 run, one pool whose volumes allocate 25 GiB of the test
driver's 100 GiB) gives fixed VM counts and a fixed storage bar; two template downloads into a test pool on
the local node give a running task (a throttled body) and a failed one (a 404); the audit log's entries are
this test's own calls. Everything is named jvptest-G-* and removed afterwards."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.web.conftest import HOME_URL, PHONE, login, wait_task

pytestmark = pytest.mark.web

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "dashboard.xml"


def dash_node(pg, name: str):
    return pg.locator(f'[data-testid="dash-node"][data-key="{name}"]')


def no_horizontal_overflow(pg) -> None:
    """Nothing on the page is wider than the window (tables scroll inside their own box)."""
    widths = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


@pytest.fixture
def fixture_node(web_server, web_api, created_nodes) -> str:
    """The dashboard fixture added as a test-driver node (removed afterwards by created_nodes)."""
    node = unique("G-dash-")
    fixtures = web_server.data_dir / "test-fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    path = fixtures / f"{node}.xml"
    shutil.copyfile(FIXTURE, path)
    created_nodes.append(node)
    web_api.ok("create-node", {"name": node, "uri": f"test://{path}"})
    return node


def vm_totals(web_api) -> str:
    running = total = 0
    for n in web_api.ok("list-nodes")["nodes"]:
        if n.get("vm_counts"):
            running += n["vm_counts"]["running"]
            total += n["vm_counts"]["total"]
    return f"{running} / {total}"


def test_the_dashboard_shows_nodes_vms_tasks_and_events(page, web_server, web_api, fixture_node, download_tasks):
    tasks = download_tasks
    pg = page
    login(pg, web_server.token)  # the login page lands on the dashboard
    expect(pg).to_have_url(HOME_URL)
    expect(pg.get_by_test_id("nav-dashboard")).to_have_attribute("aria-current", "page")

    # the fixture node: its VM counts and the storage bar from its pool (25 of 100 GiB)
    node = dash_node(pg, fixture_node)
    expect(node.get_by_test_id("dash-node-state")).to_have_attribute("data-state", "online")
    expect(node.get_by_test_id("dash-node-vms")).to_have_text("2 of 3 VMs running")
    storage = node.get_by_test_id("dash-node-storage")
    expect(storage.get_by_test_id("dash-node-storage-percent")).to_have_text("25%")
    expect(storage.get_by_test_id("dash-node-storage-detail")).to_have_text("25.0 GiB of 100.0 GiB, 1 pool")
    bar = storage.get_by_role("meter", name="Storage")
    expect(bar).to_have_attribute("aria-valuenow", "25")
    expect(bar).to_have_attribute("aria-valuetext", "25% (25.0 GiB of 100.0 GiB, 1 pool)")
    # every bar is a labelled meter: CPU, memory and storage of every node
    for label in ("CPU", "Memory", "Storage"):
        expect(node.get_by_role("meter", name=label)).to_have_count(1)
    link = node.get_by_test_id("dash-node-link")
    expect(link).to_have_attribute("href", f"/nodes/detail/?name={fixture_node}")

    # the local node (the shared real libvirtd: its VMs come and go, so its counts are matched in shape)
    local = dash_node(pg, "local")
    expect(local.get_by_test_id("dash-node-state")).to_have_attribute("data-state", "online")
    expect(local.get_by_test_id("dash-node-vms")).to_have_text(re.compile(r"^\d+ of \d+ VMs running$"))
    expect(local.get_by_role("meter", name="Storage")).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))

    # the tiles: nodes online, VMs running of all (summed over the nodes, as the API counts them)
    nodes = web_api.ok("list-nodes")["nodes"]
    online = sum(1 for n in nodes if n["reachable"])
    expect(pg.get_by_test_id("dash-tile-nodes-value")).to_have_text(f"{online} / {len(nodes)}")
    deadline = time.monotonic() + 30
    while (shown := pg.get_by_test_id("dash-tile-vms-value").inner_text()) != (want := vm_totals(web_api)):
        assert time.monotonic() < deadline, (shown, want)
        pg.wait_for_timeout(1000)

    # tasks: the running download with its progress bar, the failed one with its error
    running = pg.locator(f'[data-testid="dash-task"][data-task-id="{tasks["running"]["id"]}"]')
    expect(running).to_contain_text("register-template")
    expect(running.get_by_test_id("dash-task-progress")).to_have_attribute("data-state", "running")
    expect(running.get_by_role("progressbar")).to_have_count(1)
    failed = pg.locator(f'[data-testid="dash-failed-task"][data-task-id="{tasks["failed"]["id"]}"]')
    expect(failed.get_by_test_id("dash-failed-task-error")).to_contain_text(tasks["failed"]["error"]["code"])
    expect(failed.get_by_test_id("dash-failed-task-error")).to_contain_text(tasks["failed"]["error"]["message"])
    expect(pg.get_by_test_id("dash-tile-tasks-value")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(pg.get_by_test_id("dash-tile-failed-value")).to_have_text(pg.get_by_test_id("dash-tasks-failed-count").inner_text())

    # recent events: the audit log's newest entries, this test's own calls among them
    events = pg.get_by_test_id("dash-events-list")
    newest = web_api.ok("list-audit-events", {"limit": 1})["events"][0]
    expect(events.get_by_test_id("dash-event").first).to_have_attribute("data-action", newest["action"])
    reg = events.locator('[data-testid="dash-event"][data-action="register-template"]')
    expect(reg.first).to_contain_text(tasks["pool"])
    expect(reg.first.get_by_test_id("dash-event-outcome")).to_have_attribute("data-state", "ok")

    # a task that stops running leaves the running list (the card polls every 5 s)
    web_api.ok("cancel-task", {"id": tasks["running"]["id"]})
    wait_task(web_api, tasks["running"]["id"], ("cancelled", "failed", "succeeded"))
    expect(running).to_have_count(0, timeout=15_000)

    # the same page on a phone: one column, nothing wider than the window, the bars still labelled
    pg.set_viewport_size(PHONE)
    pg.reload()
    expect(node.get_by_test_id("dash-node-vms")).to_have_text("2 of 3 VMs running")
    expect(node.get_by_role("meter", name="Storage")).to_have_attribute("aria-valuenow", "25")
    no_horizontal_overflow(pg)
    cpu_box = node.get_by_test_id("dash-node-cpu").bounding_box()
    storage_box = node.get_by_test_id("dash-node-storage").bounding_box()
    assert storage_box["y"] > cpu_box["y"] + cpu_box["height"] - 1, (cpu_box, storage_box)  # stacked
    for card in ("dash-nodes-card", "dash-top-vms", "dash-tasks", "dash-events"):
        box = pg.get_by_test_id(card).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (card, box)


def test_a_node_that_does_not_answer_shows_its_error_and_no_figures(logged_in_page, fixture_node):
    """A node that stops answering (create-node refuses one that is down, so list-nodes' answer is doctored
    on the way in: the fixture node reported unreachable) keeps its row, says why, and shows no figures."""
    pg = logged_in_page
    error = f"node '{fixture_node}' is unreachable: Connection refused"

    def with_the_node_down(route):
        resp = route.fetch()
        body = resp.json()
        for n in body["nodes"]:
            if n["name"] == fixture_node:
                n.update(reachable=False, state="offline", last_error=error, vm_counts=None)
        route.fulfill(response=resp, json=body)

    pg.route("**/api/list-nodes", with_the_node_down)
    pg.goto("/")
    row = dash_node(pg, fixture_node)
    expect(row.get_by_test_id("dash-node-state")).to_have_attribute("data-state", "offline")
    expect(row.get_by_test_id("dash-node-error")).to_have_text(error)
    expect(row.get_by_test_id("dash-node-vms")).to_have_text("VMs unknown")
    for label in ("CPU", "Memory", "Storage"):
        expect(row.get_by_role("meter", name=label)).to_have_attribute("aria-valuetext", "unknown")
    expect(pg.get_by_test_id("dash-tile-nodes-sub")).to_have_text("1 not answering")
    expect(pg.get_by_test_id("dash-tile-vms-sub")).to_contain_text("not counting 1 node that did not answer")
