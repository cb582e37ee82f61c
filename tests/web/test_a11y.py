"""Every page of the UI against the real server (tier 4): an axe-core scan with no serious or critical
violation, and at 1440x900 and 390x844 no horizontal overflow and every primary action of the page reachable
(visible inside the window, or behind a menu button of the page).

axe-core is read from web/node_modules/axe-core/axe.min.js (a devDependency of web/package.json), never from
the network, and evaluated in the page. The detail pages show a test-driver node of the demo inventory
(jvp/demo/inventory.xml: VMs web1 and db1, networks, pools), added as jvptest-a11y-* and removed afterwards.
No case is expected to fail: a page that breaks a check fails its test."""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import REPO, unique
from tests.web.conftest import CHROMIUM_ARGS, PHONE, UI_TIMEOUT_MS, login  # noqa: F401 - CHROMIUM_ARGS: same browser

pytestmark = pytest.mark.web

AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
DEMO = REPO / "jvp" / "demo" / "inventory.xml"
DESKTOP = {"width": 1440, "height": 900}
FAILING_IMPACTS = ("serious", "critical")
LOG_OUT = re.compile(r"^\s*log ?out\s*$", re.I)


@dataclass(frozen=True)
class Page:
    id: str
    path: str                 # {node}: the demo node's name
    title: str | None         # the page title (data-testid="page-title"), None: the page has none
    actions: tuple[str, ...] = ()   # accessible names (regex) of the primary actions
    logged_in: bool = True



PAGES = [
    Page("dashboard", "/", "Dashboard"),
    Page("vms", "/vms/", "Virtual machines", ("Create VM",)),
    Page("vm-detail", "/vms/detail/?node={node}&name=web1", None, ("Edit", "Migrate", "Delete")),
    Page("vm-create", "/vms/create/?node={node}", None),
    Page("vm-console", "/vms/console/?node={node}&name=web1", None),
    Page("nodes", "/nodes/", "Nodes", ("Add node",)),
    Page("node-detail", "/nodes/detail/?name={node}", None, ("Edit", "Evacuate")),
    Page("storage", "/storage/", "Storage", ("Create pool",)),
    Page("storage-detail", "/storage/detail/?node={node}&name=default", None, ("New volume",)),
    Page("networks", "/networks/", "Networks", ("Create network",)),
    Page("network-detail", "/networks/detail/?node={node}&name=demo-nat", None, ("Refresh",)),
    Page("templates", "/templates/", "Templates", ("Register template",)),
    Page("snapshots", "/snapshots/", "Snapshots", ("Take snapshot",)),
    Page("keypairs", "/keypairs/", "Keypairs", ("Create keypair", "Import public key")),
    Page("tasks", "/tasks/", "Tasks"),
    Page("audit", "/audit/", "Audit log"),
    Page("tokens", "/tokens/", "API tokens", ("Create token",)),
    Page("login", "/login/", None, ("Log in",), logged_in=False),
    Page("not-found", "/no-such-page/", None, ("Go to",)),
]


@pytest.fixture(scope="module")
def demo_node(web_server, web_api) -> Iterator[str]:
    """The demo inventory as a test-driver node (removed afterwards)."""
    node = unique("a11y-")
    fixtures = web_server.data_dir / "test-fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    path = fixtures / f"{node}.xml"
    shutil.copyfile(DEMO, path)
    web_api.ok("create-node", {"name": node, "uri": f"test://{path}"})
    yield node
    resp = web_api.post("delete-node", {"name": node})
    assert resp.status_code in (200, 404), resp.text


def _context(browser, web_server, viewport: dict[str, int], logged_in: bool) -> Any:
    ctx = browser.new_context(base_url=web_server.url, viewport=viewport)
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    if logged_in:
        pg = ctx.new_page()
        login(pg, web_server.token)
        pg.close()
    return ctx


@pytest.fixture(scope="module")
def contexts(browser, web_server) -> Iterator[dict[tuple[str, bool], Any]]:
    """One browser context per viewport and login state, logged in once through the login page."""
    made: dict[tuple[str, bool], Any] = {}

    def get(view: str, logged_in: bool) -> Any:
        key = (view, logged_in)
        if key not in made:
            made[key] = _context(browser, web_server, DESKTOP if view == "desktop" else PHONE, logged_in)
        return made[key]
    yield get  # type: ignore[misc]
    for ctx in made.values():
        ctx.close()


def open_page(contexts, spec: Page, view: str, node: str) -> Any:
    pg = contexts(view, spec.logged_in).new_page()
    pg.goto(spec.path.format(node=node))
    if spec.title:
        expect(pg.get_by_test_id("page-title")).to_contain_text(spec.title)
    else:
        expect(pg.locator("h1").first).to_be_visible()
    if spec.actions and not spec.logged_in:  # the log-in form is the page: wait for it (a busy host is slow)
        expect(pg.get_by_role("button", name=spec.actions[0])).to_be_visible()
    # the page's data has arrived (a spinner that stays, e.g. a console connecting, is scanned as it is)
    try:
        expect(pg.locator(".loading-block")).to_have_count(0, timeout=15_000)
    except AssertionError:
        pass
    return pg


def _param(spec: Page, check: str):
    return pytest.param(spec, id=spec.id)


# -- axe-core -----------------------------------------------------------------------------------------------
def axe_violations(pg) -> list[dict[str, Any]]:
    pg.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    return pg.evaluate("""async () => {
        const r = await window.axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}));
    }""")


def describe(violations: list[dict[str, Any]]) -> str:
    out = []
    for v in violations:
        out.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for n in v["nodes"][:8]:
            out.append(f"    {n['target']}: {(n['summary'] or '').splitlines()[-1].strip()}")
        if len(v["nodes"]) > 8:
            out.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(out)


def test_axe_core_is_in_node_modules():
    assert AXE.exists(), f"{AXE} is missing: `cd web && npm ci` (axe-core is a devDependency)"


@pytest.mark.parametrize("spec", [_param(p, "axe") for p in PAGES])
def test_no_serious_or_critical_accessibility_violation(contexts, demo_node, spec):
    assert AXE.exists(), f"{AXE} is missing: `cd web && npm ci`"
    pg = open_page(contexts, spec, "desktop", demo_node)
    try:
        violations = axe_violations(pg)
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        minor = [v for v in violations if v["impact"] not in FAILING_IMPACTS]
        if minor:
            print(f"{spec.id}: minor axe findings (not failing):\n{describe(minor)}")
        assert not failing, f"{spec.id} ({spec.path.format(node=demo_node)}): axe-core found\n{describe(failing)}"
    finally:
        pg.close()


# -- layout at two sizes ------------------------------------------------------------------------------------
def in_window(pg, loc) -> bool:
    if not loc.is_visible():
        return False
    box = loc.bounding_box()
    width = pg.evaluate("window.innerWidth")
    return bool(box) and box["width"] > 0 and box["x"] >= -1 and box["x"] + box["width"] <= width + 1


def shown(pg, name: str) -> bool:
    pattern = re.compile(name if name.startswith("^") else rf"^\s*{re.escape(name)}", re.I)
    for role in ("button", "link", "menuitem"):
        loc = pg.get_by_role(role, name=pattern)
        for i in range(loc.count()):
            if in_window(pg, loc.nth(i)):
                return True
    return False


def reachable(pg, name: str) -> bool:
    """Visible inside the window, or shown inside the window once a menu button of the page is opened."""
    if shown(pg, name):
        return True
    triggers = pg.locator("button[aria-haspopup], button[aria-expanded]")
    for i in range(triggers.count()):
        trigger = triggers.nth(i)
        if not in_window(pg, trigger):
            continue
        trigger.click()
        found = shown(pg, name)
        pg.keyboard.press("Escape")
        if trigger.is_visible() and trigger.get_attribute("aria-expanded") == "true":
            trigger.click()
        if found:
            return True
    return False


def check_layout(contexts, spec: Page, view: str, node: str) -> None:
    pg = open_page(contexts, spec, view, node)
    try:
        widths = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        problems = []
        if widths[0] > widths[1] + 1:
            wide = pg.evaluate("""() => { const w = window.innerWidth; const out = [];
                for (const el of document.querySelectorAll('body *')) { const r = el.getBoundingClientRect();
                  if (r.right > w + 1 && r.width > 0) { out.push((el.getAttribute('data-testid') || el.tagName.toLowerCase()
                    + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''))
                    + ' right=' + Math.round(r.right)); } if (out.length >= 6) break; } return out; }""")
            problems.append(f"the page is {widths[0]} px wide in a {widths[1]} px window; wider: {wide}")
        actions = list(spec.actions) + (["^\\s*log ?out\\s*$"] if spec.logged_in else [])
        missing = [a for a in actions if not reachable(pg, a)]
        if missing:
            problems.append(f"actions neither visible in the window nor in a menu: {missing}")
        assert not problems, f"{spec.id} ({spec.path.format(node=node)}) at {view}: " + "; ".join(problems)
    finally:
        pg.close()


@pytest.mark.parametrize("spec", [_param(p, "desktop") for p in PAGES])
def test_desktop_no_overflow_and_every_action_reachable(contexts, demo_node, spec):
    check_layout(contexts, spec, "desktop", demo_node)


@pytest.mark.parametrize("spec", [_param(p, "phone") for p in PAGES])
def test_phone_no_overflow_and_every_action_reachable(contexts, demo_node, spec):
    check_layout(contexts, spec, "phone", demo_node)
