"""Usage figures in the UI from the real collector (tier 4): the VM list's usage columns and CPU sparklines,
the VM page's graphs with the window choice (1 h, 1 d, 7 d, 30 d), the node page's graphs and the dashboard's
CPU figures, at desktop size and on a phone (390x844).

The test server samples every 2 s (JVP_METRICS_INTERVAL_S in tests/web/conftest.py). One VM with a blank
disk is started on the local node (it sits in the BIOS: no guest OS boots, but its CPU, memory and disk are
sampled) and one is left stopped; what the page shows is compared with the answer the page itself received
(the page refreshes on its own, so a figure is compared with the newest answer until they agree)."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import libvirt
import pytest
from playwright.sync_api import expect

from tests.web.conftest import PHONE, wait_task
from tests.conftest import unique
from tests.host.storage_util import remove_pool

pytestmark = pytest.mark.web

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}


@dataclass
class MetricsEnv:
    pool: str
    running: str
    stopped: str
    label: str


def last(values: list) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def number(text: str) -> float:
    """'12.5%' -> 12.5, '1.5 MiB' -> 1572864.0, '64 B/s' -> 64.0, '0.1 IOPS' -> 0.1."""
    m = re.match(r"^\s*(-?[\d,]+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?", text)
    assert m, text
    return float(m.group(1).replace(",", "")) * UNITS.get(m.group(2) or "", 1)


def close(shown: float, want: float, text: str) -> bool:
    """A figure printed with 0-1 decimals (or in a binary unit with 1) matches the value it was printed from."""
    if "%" in text or "IOPS" in text:
        return abs(shown - want) <= 0.51
    unit = UNITS.get(re.sub(r"/s$", "", text.split()[-1]), 1)
    return abs(shown - want) <= 0.051 * unit + 0.5


def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    """Retry `check` (which asserts) until it passes: the page refreshes its figures on its own."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Answers:
    """Every answer the page receives from one action, newest last."""

    def __init__(self, pg, action: str):
        self.bodies: list[tuple[dict, dict]] = []
        self.action = action
        pg.on("response", self._seen)

    def _seen(self, resp) -> None:
        if resp.url.endswith(f"/api/{self.action}") and resp.ok:
            try:
                self.bodies.append((json.loads(resp.request.post_data or "{}"), resp.json()))
            except Exception:  # noqa: BLE001 - a body cut by navigation: the next one counts
                pass

    def newest(self, **match: Any) -> dict:
        for req, body in reversed(self.bodies):
            if all(req.get(k) == v for k, v in match.items()):
                return body
        raise AssertionError(f"no {self.action} answer for {match} yet")


@pytest.fixture(scope="module")
def env(web_server, web_api, tmp_path_factory) -> Iterator[MetricsEnv]:
    """A test pool, a running VM with a blank 1 GiB disk and a stopped one, on the local node; the running
    one has CPU samples in describe-vm-metrics and list-vm-usage before the tests start. All removed after."""
    base = tmp_path_factory.mktemp("web-metrics")
    e = MetricsEnv(pool=unique("G-mpool-"), running=unique("G-mrun-"), stopped=unique("G-mstop-"),
                   label=unique("G-"))
    made: list[str] = []
    try:
        web_api.ok("create-storage-pool", {"name": e.pool, "type": "dir", "path": str(base / e.pool)})
        for name, start in ((e.running, True), (e.stopped, False)):
            made.append(name)
            task = web_api.ok("create-vm", {"name": name, "pool": e.pool, "disk_size_gib": 1, "memory_mib": 128,
                                            "start": start, "labels": {"jvptest": e.label}})["task"]
            assert wait_task(web_api, task["id"])["state"] == "succeeded"
        deadline = time.monotonic() + 90
        while True:
            m = web_api.ok("describe-vm-metrics", {"name": e.running, "window_s": 3600})
            usage = {v["name"]: v for v in web_api.ok("list-vm-usage", {"node": "local"})["vms"]}
            cpu = [v for v in m["series"]["cpu_percent"] if v is not None]
            if cpu and usage.get(e.running, {}).get("cpu_percent") is not None:
                break
            assert time.monotonic() < deadline, (m["series"]["cpu_percent"][-5:], usage.get(e.running))
            time.sleep(1)
        yield e
    finally:
        for name in made:
            resp = web_api.post("delete-vm", {"name": name, "force": True, "delete_volumes": True})
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)
        conn = libvirt.open("qemu:///system")
        try:
            remove_pool(conn, e.pool)
        finally:
            conn.close()


def no_horizontal_overflow(pg) -> None:
    widths = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def vm_row(pg, name: str):
    return pg.locator(f'[data-testid="vm-row"][data-key="local/{name}"]')


def test_the_vm_list_shows_usage_columns_and_cpu_sparklines(logged_in_page, env):
    pg = logged_in_page
    answers = Answers(pg, "list-vm-usage")
    pg.goto(f"/vms/?label=jvptest%3D{env.label}")
    expect(pg.get_by_test_id("vm-row")).to_have_count(2)
    for col in ("cpu_percent", "io"):
        expect(pg.get_by_test_id(f"vms-table-col-{col}")).to_be_visible()
    row = vm_row(pg, env.running)

    def figures_match() -> None:
        u = next(v for v in answers.newest()["vms"] if v["name"] == env.running)
        cpu = row.get_by_test_id("vm-cpu-value").inner_text()
        assert close(number(cpu), u["cpu_percent"], cpu), (cpu, u["cpu_percent"])
        spark = row.get_by_test_id("vm-cpu-spark")
        present = [v for v in u["cpu_recent"] if v is not None]
        assert spark.get_attribute("data-points") == str(len(present))
        label = spark.get_attribute("aria-label")
        assert label.startswith(f"CPU of {env.running}, last {len(present)} samples: now "), label
        used = row.get_by_test_id("vm-mem-used").inner_text()
        assert close(number(used), u["memory_used_bytes"], used.split(" used")[0]), (used, u["memory_used_bytes"])
        disk = row.get_by_test_id("vm-disk-io")
        assert float(disk.get_attribute("data-read")) == u["disk_read_bytes_per_s"]
        assert float(disk.get_attribute("data-write")) == u["disk_write_bytes_per_s"]
        assert re.match(r"^disk read .+/s, write .+/s$", disk.get_attribute("title"))

    eventually(figures_match)
    # the stopped VM has no sample: dashes, never a made-up 0
    stopped = vm_row(pg, env.stopped)
    expect(stopped.get_by_test_id("vm-cpu-value")).to_have_text("—")
    expect(stopped.get_by_test_id("vm-disk-io")).to_contain_text("disk —")
    expect(stopped.get_by_test_id("vm-mem-used")).to_have_count(0)

    # sorting by CPU puts the VM without a figure last, both ways
    pg.get_by_test_id("vms-table-col-cpu_percent").click()
    expect(pg.get_by_test_id("vm-row").last).to_have_attribute("data-key", f"local/{env.stopped}")
    pg.get_by_test_id("vms-table-col-cpu_percent").click()
    expect(pg.get_by_test_id("vm-row").last).to_have_attribute("data-key", f"local/{env.stopped}")

    pg.set_viewport_size(PHONE)
    expect(row.get_by_test_id("vm-cpu-spark")).to_be_attached()
    no_horizontal_overflow(pg)


def test_the_vm_page_graphs_usage_over_the_chosen_window(logged_in_page, env):
    pg = logged_in_page
    answers = Answers(pg, "describe-vm-metrics")
    pg.goto(f"/vms/detail/?node=local&name={env.running}")
    pg.get_by_test_id("tab-metrics").click()
    expect(pg).to_have_url(re.compile(rf".*/vms/detail/\?node=local&name={env.running}&tab=metrics$"))
    expect(pg.get_by_test_id("metrics-window-1h")).to_have_attribute("aria-pressed", "true")
    for chart in ("cpu", "memory", "disk", "iops", "net"):
        expect(pg.get_by_test_id(f"chart-{chart}").locator("canvas").first).to_be_attached()

    def graphs_match() -> None:
        m = answers.newest(window_s=3600)
        assert pg.get_by_test_id("metrics-info").inner_text() == \
            f"one point per {m['step_s']} s · sampled every {m['interval_s']} s"
        assert m["interval_s"] == 2
        cpu = last(m["series"]["cpu_percent"])
        label = pg.get_by_test_id("chart-cpu-plot").get_attribute("aria-label")
        got = re.match(r"^CPU over the last hour: last ([\d.]+%), average ([\d.]+%), maximum ([\d.]+%)$", label)
        assert got, label
        assert close(number(got.group(1)), cpu, "%"), (label, cpu)
        shown = pg.get_by_test_id("chart-cpu-last").inner_text()
        assert close(number(shown), cpu, shown)
        used = last(m["series"]["memory_used_bytes"])
        mem = pg.get_by_test_id("chart-memory-plot").get_attribute("aria-label")
        got = re.search(r"Used: last ([\d.]+ \w+),", mem)
        assert got and close(number(got.group(1)), used, got.group(1)), (mem, used)

    eventually(graphs_match)
    # one disk's own series (the VM has more than one disk device)
    m = answers.newest(window_s=3600)
    if len(m["disks"]) > 1:
        disk = m["disks"][-1]["name"]
        pg.get_by_test_id("metrics-disk").select_option(disk)
        expect(pg.get_by_test_id("chart-disk")).to_contain_text(f"Disk throughput ({disk})")
        expect(pg.get_by_test_id("chart-iops")).to_contain_text(f"Disk operations ({disk})")

    # the window choice: each button asks for its window and says so; the URL keeps it
    for wid, seconds, words in (("1d", 86400, "the last day"), ("7d", 604800, "the last 7 days"),
                                ("30d", 2592000, "the last 30 days")):
        with pg.expect_request(lambda r: r.url.endswith("/api/describe-vm-metrics")
                               and json.loads(r.post_data or "{}").get("window_s") == seconds):
            pg.get_by_test_id(f"metrics-window-{wid}").click()
        expect(pg).to_have_url(re.compile(rf".*&tab=metrics&window={wid}$"))
        expect(pg.get_by_test_id(f"metrics-window-{wid}")).to_have_attribute("aria-pressed", "true")
        expect(pg.get_by_test_id("vm-metrics")).to_contain_text(f"Usage over {words}")
        expect(pg.get_by_test_id("chart-cpu-plot")).to_have_attribute("aria-label", re.compile(f"^CPU over {words}: "))
        def step_shown(seconds: int = seconds) -> None:
            shown = pg.get_by_test_id("metrics-info").inner_text()
            assert shown == f"one point per {answers.newest(window_s=seconds)['step_s']} s · sampled every 2 s", shown

        eventually(step_shown)
    with pg.expect_request(lambda r: r.url.endswith("/api/describe-vm-metrics")
                           and json.loads(r.post_data or "{}").get("window_s") == 2592000):
        pg.reload()
    expect(pg.get_by_test_id("metrics-window-30d")).to_have_attribute("aria-pressed", "true")

    # on a phone: the graphs fit the window
    pg.set_viewport_size(PHONE)
    pg.get_by_test_id("metrics-window-1h").click()
    expect(pg.get_by_test_id("metrics-window-1h")).to_have_attribute("aria-pressed", "true")
    pg.wait_for_timeout(500)  # ResizeObserver -> uPlot setSize
    no_horizontal_overflow(pg)
    box = pg.get_by_test_id("chart-cpu-plot").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    canvas = pg.get_by_test_id("chart-cpu-plot").locator("canvas").first.bounding_box()
    assert canvas["width"] <= box["width"] + 1, (canvas, box)


def test_the_node_page_and_the_dashboard_show_the_collectors_figures(logged_in_page, env):
    pg = logged_in_page
    answers = Answers(pg, "describe-node-metrics")
    pg.goto("/nodes/detail/?name=local")
    for chart in ("cpu", "memory", "load", "pools"):
        expect(pg.get_by_test_id(f"node-chart-{chart}").locator("canvas").first).to_be_attached()

    def node_graphs_match() -> None:
        m = answers.newest(name="local", window_s=3600)
        cpu = last(m["series"]["cpu_percent"])
        label = pg.get_by_test_id("node-chart-cpu-plot").get_attribute("aria-label")
        got = re.match(r"^CPU over the last hour: last ([\d.]+%)", label)
        assert got and close(number(got.group(1)), cpu, "%"), (label, cpu)
        pools = [p["name"] for p in m["pools"]]
        assert env.pool in pools, pools
        legend = pg.get_by_test_id("node-chart-pools").get_by_test_id("node-chart-pools-series")
        assert env.pool in [legend.nth(i).get_attribute("data-label") for i in range(legend.count())]

    eventually(node_graphs_match)
    with pg.expect_request(lambda r: r.url.endswith("/api/describe-node-metrics")
                           and json.loads(r.post_data or "{}").get("window_s") == 604800):
        pg.get_by_test_id("node-metrics-window-7d").click()
    expect(pg).to_have_url(re.compile(r".*/nodes/detail/\?name=local&window=7d$"))
    expect(pg.get_by_test_id("node-chart-load-plot")).to_have_attribute("aria-label", re.compile("^Load average over the last 7 days: "))

    # the dashboard: the local node's CPU bar from its latest sample, the busiest VMs in order
    pg.goto("/")
    local = pg.locator('[data-testid="dash-node"][data-key="local"]')
    expect(local.get_by_role("meter", name="CPU")).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))
    expect(local.get_by_role("meter", name="Memory")).to_have_attribute("aria-valuetext", re.compile(r"^[\d.]+% \(.+ of .+\)$"))
    top = pg.get_by_test_id("dash-top-vm")
    expect(top.first).to_be_visible()
    assert top.count() <= 5
    values = [float(top.nth(i).get_by_role("meter", name="CPU").get_attribute("aria-valuetext").split("%")[0])
              for i in range(top.count())]
    assert values == sorted(values, reverse=True), values
    for i in range(top.count()):
        assert top.nth(i).get_by_test_id("dash-top-vm-link").get_attribute("href").startswith("/vms/detail/?node=")
        assert top.nth(i).get_by_test_id("dash-top-vm-spark").get_attribute("aria-label").startswith("CPU of ")
