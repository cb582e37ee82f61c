"""Browser tier: headless Debian chromium (driven by Python Playwright) against the REAL server.

One `jvp serve` subprocess per session (its own data dir and empty config, local node on the real
qemu:///system), serving the static UI from web/out (built by `make web`). Playwright never downloads a
browser: it drives /usr/bin/chromium. Without chromium the tier is skipped locally and fails in CI; without
a built UI it always fails (a browser test that silently ran nothing would be worse).
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import libvirt
import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import (IN_CI, REPO, LiveServer, free_port, libvirtd_reachable, require, stop_server,
                            unique)
from tests.host.storage_util import remove_pool
from tests.imageserver import MIB, ImageServer

CHROMIUM = Path("/usr/bin/chromium")
WEB_INDEX = REPO / "web" / "out" / "index.html"
RESULTS = REPO / "test-results"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Waits for things the server must do (connect to libvirt, probe a node) get more than the 5 s default.
UI_TIMEOUT_MS = 20_000
expect.set_options(timeout=UI_TIMEOUT_MS)
# the phone every narrow-screen test uses
PHONE = {"width": 390, "height": 844}


def fits_width(box: dict | None, width: int = PHONE["width"]) -> None:
    """The element's box lies within the screen's width."""
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box


def left_of(box: dict | None, other: dict | None) -> None:
    """The first box ends where the second begins, or before (nothing covers it)."""
    assert box and other and box["x"] + box["width"] <= other["x"], (box, other)


def actions_folded(row: Any, col: str = "actions") -> dict:
    """A table row's actions column is one menu button wide (its buttons folded into the row's menu); its box."""
    box = row.locator(f'td[data-col="{col}"]').bounding_box()
    assert box and box["width"] <= 64, box
    return box


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item so fixtures can tell a failed test in their teardown."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _start(tmp: Path) -> LiveServer:
    data = tmp / "data"
    config = tmp / "config.yaml"
    config.write_text("")  # empty config: every setting from its default or the JVP_* variables below
    port = free_port()
    env = {**os.environ, "JVP_DATA_DIR": str(data), "JVP_LOCAL_URI": "qemu:///system",
           "JVP_CONFIG": str(config),
           "JVP_DOWNLOAD_ALLOW_PRIVATE": "true",  # the tests' image server listens on loopback
           "JVP_METRICS_INTERVAL_S": "2"}  # graphs and usage columns get samples within seconds
    log = tmp / "server.log"
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "jvp"), "serve", "--listen", f"127.0.0.1:{port}", "--workers", "1"],
        env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jvp serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server = LiveServer(url=url, data_dir=data, token="", proc=proc, log=log)
            stop_server(server)
            raise RuntimeError(f"jvp serve did not answer /healthz within 30 s:\n{log.read_text()}")
        time.sleep(0.2)
    token = (data / "auth" / "admin-token").read_text().strip()
    return LiveServer(url=url, data_dir=data, token=token, proc=proc, log=log)


@pytest.fixture(scope="session")
def web_server(tmp_path_factory) -> Iterator[LiveServer]:
    if not WEB_INDEX.exists():
        pytest.fail(f"{WEB_INDEX.relative_to(REPO)} is missing: build the web UI first with `make web` "
                    "(jvp openapi -o web/src/api/openapi.json; cd web && npm ci && npm run build)")
    require(libvirtd_reachable("qemu:///system"),
            "libvirtd does not answer on qemu:///system (run `bash scripts/host-setup.sh` or `make host`)")
    server = _start(tmp_path_factory.mktemp("jvp-web"))
    # The UI is really served (not the "not built" 503 page).
    resp = requests.get(f"{server.url}/nodes/", timeout=10)
    assert resp.status_code == 200 and "<html" in resp.text.lower(), resp.text[:300]
    yield server
    stop_server(server)


FINAL_STATES = ("succeeded", "failed", "cancelled")


def wait_task(api: "Api", task_id: str, states: tuple[str, ...] = FINAL_STATES, timeout: float = 180) -> dict:
    """The task once it is in one of `states` (default: finished), polled through describe-task."""
    deadline = time.monotonic() + timeout
    while (task := api.ok("describe-task", {"id": task_id})["task"])["state"] not in states:
        assert time.monotonic() < deadline, task
        time.sleep(0.3)
    return task


def choose(pg, trigger, item_test_id: str, attempts: int = 3) -> None:
    """Open a menu (its trigger button) and click one item. The menu is opened again when its item does not
    show within 5 s (a safety net for a click lost on a busy host). A menu that closed because the
    list re-rendered was a defect of the table (it remounted every cell on each render; fixed in
    web/src/components/DataTable.tsx): test_vms.py's open-menu test holds that, this retry does not hide it."""
    item = pg.get_by_test_id(item_test_id)
    for attempt in range(attempts):
        trigger.click()
        try:
            expect(item).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            if attempt == attempts - 1:
                raise
    item.click()


class Api:
    """Direct API calls for set-up, expectations and cleanup (never through the page under test)."""

    def __init__(self, server: LiveServer):
        self.server = server

    def post(self, action: str, body: dict | None = None, token: str | None = None) -> requests.Response:
        return self.server.post(action, body, token=token)

    def ok(self, action: str, body: dict | None = None) -> dict:
        resp = self.post(action, body)
        assert resp.status_code in (200, 202), (action, resp.status_code, resp.text)
        return resp.json()

    def upload(self, pool: str, name: str, path: Path, timeout: float = 600) -> None:
        """A file into a new volume of `pool` through upload-volume (the bytes streamed, not JSON)."""
        with open(path, "rb") as fh:
            resp = requests.post(f"{self.server.url}/api/upload-volume", params={"pool": pool, "name": name},
                                 data=fh, timeout=timeout, headers={"Authorization": f"Bearer {self.server.token}",
                                                                    "Content-Type": "application/octet-stream"})
        assert resp.status_code == 200, resp.text

    def node_names(self) -> set[str]:
        return {n["name"] for n in self.ok("list-nodes")["nodes"]}


@pytest.fixture(scope="session")
def web_api(web_server) -> Api:
    return Api(web_server)


@pytest.fixture
def download_tasks(web_api, tmp_path) -> Iterator[dict]:
    """Two template downloads into a test pool of the local node: one failed (404) and one running (32 MiB at
    256 KiB/s: two minutes); the running one is cancelled and the templates and pools removed afterwards."""
    srv = ImageServer().start()
    srv.add_bytes("/slow.img", b"\0" * 32 * MIB, throttle_bps=256 * 1024)
    pool = unique("wdpool-")
    names = [unique("wdfail-"), unique("wdslow-")]
    made: dict = {"pool": pool, "running": None, "failed": None}
    try:
        web_api.ok("create-storage-pool", {"name": pool, "type": "dir", "path": str(tmp_path / pool)})
        failed = web_api.ok("register-template", {"pool": pool, "name": names[0],
                                                  "source": {"type": "url", "url": srv.url("/missing.qcow2")}})
        made["failed"] = wait_task(web_api, failed["task"]["id"], ("failed",))
        running = web_api.ok("register-template", {"pool": pool, "name": names[1],
                                                   "source": {"type": "url", "url": srv.url("/slow.img")}})
        made["running"] = wait_task(web_api, running["task"]["id"], ("running",))
        yield made
    finally:
        if made["running"]:
            web_api.post("cancel-task", {"id": made["running"]["id"]})
            wait_task(web_api, made["running"]["id"], timeout=60)
        srv.stop()
        for name in names:
            resp = web_api.post("delete-template", {"name": name})
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)
        conn = libvirt.open("qemu:///system")
        try:
            remove_pool(conn, pool + "_templates_")
            remove_pool(conn, pool)
        finally:
            conn.close()


@pytest.fixture
def wizard_place(web_server, web_api, tmp_path) -> Iterator[dict[str, str]]:
    """Where a wizard test makes one VM: a dir pool holding a small blank qcow2 (`volume`), an isolated
    network, and the VM's name; the VM (with its volumes), the network and the pool are deleted afterwards."""
    pool, network, vm = unique("wzpool-"), unique("wznet-"), unique("wzvm-")
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    try:
        web_api.ok("create-storage-pool", {"name": pool, "type": "dir", "path": str(tmp_path / pool)})
        web_api.upload(pool, "base.qcow2", base)
        web_api.ok("create-network", {"name": network, "mode": "isolated"})
        yield {"pool": pool, "network": network, "vm": vm, "volume": "base.qcow2"}
    finally:
        resp = web_api.post("delete-vm", {"name": vm, "force": True, "delete_volumes": True})
        assert resp.status_code in (200, 404), resp.text
        for action, body in (("delete-network", {"name": network}),
                             ("delete-storage-pool", {"name": pool, "delete_volumes": True})):
            resp = web_api.post(action, body)
            assert resp.status_code in (200, 404), (action, resp.status_code, resp.text)


@pytest.fixture
def created_nodes(web_api) -> Iterator[list[str]]:
    """Names of nodes a test creates; each is deleted through the API afterwards, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        resp = web_api.post("delete-node", {"name": name})
        assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)


@pytest.fixture
def node_name(created_nodes) -> str:
    """A fresh test node name (jvptest-...), registered for cleanup."""
    name = unique("node-")
    created_nodes.append(name)
    return name


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/host-setup.sh does it)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, web_server, request) -> Iterator[Any]:
    """A fresh browser context (empty localStorage) per test; a screenshot and the browser console go to
    test-results/ when the test fails."""
    context = browser.new_context(base_url=web_server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    yield pg
    pg.unroute_all(behavior="ignoreErrors")  # a route handler still running must not fail the next test
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        RESULTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        try:
            pg.screenshot(path=str(RESULTS / f"{stem}.png"), full_page=True)
        except Exception as exc:  # noqa: BLE001 - the test's own failure matters more
            console.append(f"(screenshot failed: {exc})")
        (RESULTS / f"{stem}.console.txt").write_text("\n".join(console) + "\n")
    context.close()


HOME_URL = re.compile(r"^https?://[^/]+/$")  # the dashboard, where the login page sends the user


def login(pg, token: str) -> None:
    """Log in through the login page; it lands on the dashboard (/)."""
    pg.goto("/login/")
    pg.get_by_test_id("login-token").fill(token)
    pg.get_by_test_id("login-submit").click()
    expect(pg).to_have_url(HOME_URL)
    expect(pg.get_by_test_id("page-title")).to_contain_text("Dashboard")


@pytest.fixture
def logged_in_page(page, web_server) -> Any:
    """A page logged in through the login page with the server's admin token, then on /nodes/."""
    login(page, web_server.token)
    page.goto("/nodes/")
    expect(page.get_by_test_id("page-title")).to_contain_text("Nodes")
    return page
