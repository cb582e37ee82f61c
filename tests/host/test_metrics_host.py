"""Metrics on the real libvirtd (tier 3): the cached guest, booted through a real `jvp serve` (two worker
processes: one collector between them), runs a busy loop started through the guest agent; its CPU % rises in
describe-vm-metrics and in a real Prometheus server's query of JVP's /metrics (Debian's `prometheus`
package, installed by scripts/host-setup.sh; started here on a free loopback port, scraping with a bearer
token, stopped after)."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, require, start_server, stop_server, unique
from tests.host import vmutil

INTERVAL_S = 2


def _eventually(check, timeout_s: float, every_s: float = 2.0):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    return last


def _mean(values: list) -> float:
    return sum(values) / len(values)


def _recent(values: list, n: int) -> list:
    return [v for v in values[-n:] if v is not None]


@pytest.fixture
def prometheus_bin():
    path = shutil.which("prometheus")
    require(path is not None, "Debian's prometheus package is not installed (run `make host`)")
    return path


def _start_prometheus(binary: str, work: Path, target: str, token: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    (work / "token").write_text(token)
    (work / "prometheus.yml").write_text(f"""
global:
  scrape_interval: {INTERVAL_S}s
  scrape_timeout: {INTERVAL_S}s
scrape_configs:
  - job_name: jvp
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {work / 'token'}
    static_configs:
      - targets: ['{target}']
""")
    proc = subprocess.Popen([binary, f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=open(work / "prometheus.log", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {(work / 'prometheus.log').read_text()[-2000:]}")
        try:
            return requests.get(f"{url}/-/ready", timeout=2).ok
        except requests.RequestException:
            return False
    assert _eventually(ready, 60, 0.5), (work / "prometheus.log").read_text()[-2000:]
    return proc, url


def _query(url: str, promql: str) -> list[float]:
    resp = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    resp.raise_for_status()
    return [float(r["value"][1]) for r in resp.json()["data"]["result"]]


def test_guest_cpu_load_shows_in_describe_vm_metrics_and_in_prometheus(real_libvirt, tmp_path, prometheus_bin):
    image = vmutil.guest_image()
    (tmp_path / "server").mkdir()
    server = start_server(tmp_path / "server", real_libvirt, workers=2, extra_env={
        "JVP_DOWNLOAD_ALLOW_FILE_URLS": "true", "JVP_DOWNLOAD_FILE_DIRS": f"[{image.parent}]",
        "JVP_METRICS_INTERVAL_S": str(INTERVAL_S)})
    conn = vmutil.open_conn()
    pool, network, vm, template = (unique("E-pool-"), unique("E-net-"), unique("E-vm-"), unique("E-tpl-"))
    prom = None

    def call(action: str, body: dict, status: int = 200) -> dict:
        resp = server.post(action, body)
        assert resp.status_code == status, (action, resp.status_code, resp.text)
        return resp.json()

    def task(action: str, body: dict, timeout_s: float = 600) -> dict:
        t = call(action, body, status=202)["task"]
        deadline = time.monotonic() + timeout_s
        while t["state"] in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(2)
            t = call("describe-task", {"id": t["id"]})["task"]
        assert t["state"] == "succeeded", t
        return t

    try:
        vmutil.make_pool(conn, pool, tmp_path / "pool")
        sha = Path(f"{image}.sha256").read_text().split()[0]
        task("register-template", {
            "pool": pool, "name": template, "source": {"type": "file", "path": str(image), "sha256": sha},
            "os": {"name": "debian", "version": "12", "arch": "x86_64"},
            "features": {"cloud_init": True, "virtio": True, "qemu_guest_agent": True}})
        vmutil.make_isolated_network(conn, network, vmutil.free_subnet(conn))
        task("create-vm", {"name": vm, "vcpus": 1, "memory_mib": 1024, "pool": pool, "template": template,
                           "nics": [{"network": network}], "cloud_init": {"hostname": vm},
                           "wait_for": "agent", "wait_timeout_s": 600}, timeout_s=900)
        dom = conn.lookupByName(vm)
        vmutil.wait_agent(dom, 300)
        code, out, err = vmutil.guest_exec(dom, "/usr/bin/cloud-init", "status", "--wait", timeout_s=600)
        assert "done" in out, (code, out, err)

        def metrics() -> dict:
            return call("describe-vm-metrics", {"name": vm, "window_s": 120, "step_s": INTERVAL_S})
        m = _eventually(lambda: (got := metrics()) and len(_recent(got["series"]["cpu_percent"], 12)) >= 10 and got,
                        120)
        assert m, "the collector wrote no samples of the running guest"
        assert m["interval_s"] == INTERVAL_S and len(m["series"]["time"]) == 60
        assert all(len(v) == 60 for v in m["series"].values())
        assert [d["name"] for d in m["disks"]] and m["nics"][0]["mac"]
        assert _recent(m["series"]["memory_available_bytes"], 5)

        prom, prom_url = _start_prometheus(prometheus_bin, tmp_path, server.url.removeprefix("http://"),
                                           server.token)
        # the scrape works (bearer token) and sees the quiet guest for 20 s
        ratio_q = f'avg_over_time(jvp_vm_cpu_usage_ratio{{vm="{vm}"}}[20s])'
        rate_q = f'rate(jvp_vm_cpu_seconds_total{{vm="{vm}"}}[20s])'
        assert _eventually(lambda: _query(prom_url, f'jvp_vm_up{{vm="{vm}"}}') == [1.0], 60)
        assert _eventually(lambda: (n := _query(prom_url, f'count_over_time(jvp_vm_up{{vm="{vm}"}}[20s])'))
                           and n[0] >= 8, 60)
        # the quiet guest's CPU %: the collector's last 10 samples, and Prometheus' view of the same 20 s
        quiet = _mean(_recent(metrics()["series"]["cpu_percent"], 10))
        prom_quiet = (_query(prom_url, ratio_q)[0], _query(prom_url, rate_q)[0])

        # a busy loop in the guest, through the guest agent (not waited for: `timeout` ends it)
        vmutil.agent(dom, "guest-exec", path="/usr/bin/timeout", arg=["300", "/bin/sh", "-c", "while :; do :; done"])
        code, _out, _err = vmutil.guest_exec(dom, "/usr/bin/pgrep", "-f", "while :; do :; done", timeout_s=60)
        assert code == 0, "the busy loop does not run in the guest"
        time.sleep(12 * INTERVAL_S)
        loaded = _mean(_recent(metrics()["series"]["cpu_percent"], 10))
        prom_loaded = (_query(prom_url, ratio_q)[0], _query(prom_url, rate_q)[0])
        # The VM's CPU time is host CPU time: on a host whose cores are shared with other work, the busy vCPU
        # gets its share only (on an idle host it is ~100 %), so the rise is asserted relative to the quiet
        # figures, measured the same way just before.
        why = (f"quiet {quiet:.1f} % -> loaded {loaded:.1f} %; Prometheus (ratio, rate) {prom_quiet} -> "
               f"{prom_loaded}; host load {Path('/proc/loadavg').read_text().split()[:3]}")
        assert loaded >= max(quiet * 1.25, quiet + 5), why
        assert prom_loaded[0] >= max(prom_quiet[0] * 1.25, prom_quiet[0] + 0.05), why
        assert prom_loaded[1] >= max(prom_quiet[1] * 1.25, prom_quiet[1] + 0.05), why
        usage = {v["name"]: v for v in call("list-vm-usage", {})["vms"]}[vm]
        assert usage["state"] == "running" and usage["cpu_recent"][-1] is not None
        assert _query(prom_url, 'jvp_node_up{node="local"}') == [1.0]
        assert _query(prom_url, 'jvp_node_load1{node="local"}')   # this machine: /proc/loadavg
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait(5)
        vmutil.drop_domain(conn, vm)
        try:
            server.post("delete-template", {"name": template})
        except Exception:  # noqa: BLE001 - the server may be the thing that failed
            pass
        vmutil.drop_network(conn, network)
        vmutil.drop_pool(conn, pool + "_templates_")
        vmutil.drop_pool(conn, pool)
        stop_server(server)
        conn.close()
