"""list-vms over all nodes: 10 test-driver nodes vs 1, and with one hung node vs without (issue 15).

The whole Flask app in-process (test client) with the demo inventory as `local` and nine more test-driver
nodes (copies of it, each its own driver state). A hung node is a TCP listener that accepts and never
answers. Three apps (1 node, 10 nodes, 1 node + the hung one), each with its own data dir, gateway and
connections, are called in turn: every configuration is measured in interleaved rounds, median per
configuration:

- `list-vms` (all nodes) with 10 nodes / with 1 node, warm (XML facts cached) and cold (cache emptied before
  each call): target <= 3.0 (the per-node work runs in parallel on the gateway's fan-out pool; test-driver
  nodes, which run in this process and never wait on I/O, in the request's thread: README's Performance
  footnote 6 says why the cold ratio here measures the per-VM XML work of 30 VMs against 3);
- `list-vms` (all nodes) with 1 node + one hung node known dead, minus with 1 node: target <= 0.1 s (after the
  first detection, which costs the node timeout once and is printed for scale).
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import libvirt

from jvp.demo import INVENTORY
from jvp.hypervisor.domain_cache import FACTS
from jvp.settings import load_settings

ROUNDS = 15
EXTRA = 9  # nodes besides local
NODE_TIMEOUT_S = 2.0


def _empty_facts_cache() -> None:
    with FACTS._lock:
        for cc in FACTS._conns.values():
            cc.entries.clear()


class SilentServer:
    """Accepts TCP connections and never says a word: a hung libvirtd."""

    def __init__(self) -> None:
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"qemu+tcp://127.0.0.1:{self.srv.getsockname()[1]}/system"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                self.held.append(self.srv.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for c in self.held:
            c.close()
        self.srv.close()


def main() -> None:
    from jvp.app import create_app
    libvirt.registerErrorHandler(lambda *_: None, None)
    logging.getLogger("jvp.hypervisor.health").setLevel(logging.ERROR)  # "marked unreachable" is expected
    load = os.getloadavg()
    silent = SilentServer()
    with tempfile.TemporaryDirectory(prefix="jvp-bench-fanout-") as tmp:
        fixtures = Path(tmp) / "fixtures"
        fixtures.mkdir()
        extra = {}
        for i in range(EXTRA):
            path = fixtures / f"node{i}.xml"
            shutil.copy(INVENTORY, path)
            extra[f"node{i}"] = f"test://{path}"
        apps = []

        def app_with(name: str, nodes: dict[str, str]) -> Callable[[int], Any]:
            settings = load_settings(config_path=os.devnull, env={}, overrides={
                "data_dir": str(Path(tmp) / name), "local_uri": f"test://{INVENTORY}",
                "listen": "127.0.0.1:7777", "node_timeout_s": NODE_TIMEOUT_S, "test_fixtures_dir": str(fixtures)})
            app = create_app(settings)
            services = app.extensions["jvp"]
            apps.append(services)
            for node, uri in nodes.items():
                services.store.put("node", node, doc={"name": node, "uri": uri, "created_at": "2026-01-01T00:00:00Z"})
            token = services.tokens.create("bench", "viewer")[0]
            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}

            def listing(expect_errors: int) -> Any:
                resp = client.post("/api/list-vms", json={}, headers=headers)
                body = resp.get_json()
                assert resp.status_code == 200 and len(body["errors"]) == expect_errors, body
                return body
            return listing

        # three apps (own data dirs, gateways and connections), called in turn
        one, ten, hung = app_with("one", {}), app_with("ten", extra), app_with("hung", {"hung": silent.uri})
        configs: dict[str, tuple[Callable[[int], Any], bool, int]] = {
            "one warm": (one, False, 0),
            "ten warm": (ten, False, 0),
            "one cold": (one, True, 0),
            "ten cold": (ten, True, 0),
            "one + hung": (hung, False, 1),
        }

        def run(key: str) -> float:
            listing, cold, errors = configs[key]
            if cold:
                _empty_facts_cache()
            t0 = time.perf_counter()
            listing(errors)
            return time.perf_counter() - t0

        try:
            per_node = len(one(0)["vms"])
            t0 = time.perf_counter()
            first = hung(1)
            detect_s = time.perf_counter() - t0
            code = first["errors"][0]["code"]
            for key in configs:
                run(key)  # unmeasured: connections opened
            samples: dict[str, list[float]] = {k: [] for k in configs}
            for _ in range(ROUNDS):
                for key in configs:
                    samples[key].append(run(key))
            ms = {k: statistics.median(v) * 1000 for k, v in samples.items()}
        finally:
            for services in apps:
                services.close()
            silent.close()
    warm, cold = ms["ten warm"] / ms["one warm"], ms["ten cold"] / ms["one cold"]
    hung_s = (ms["one + hung"] - ms["one warm"]) / 1000
    ok = lambda good: "OK" if good else "ABOVE"  # noqa: E731
    print(f"   test driver, {per_node} VMs per node, median of {ROUNDS} interleaved rounds; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    for key, value in ms.items():
        print(f"   list-vms (all nodes), {key:<11} {value:8.1f} ms")
    print(f"   10 nodes / 1 node: warm {warm:.2f}, cold {cold:.2f} (target <= 3.0: warm {ok(warm <= 3.0)}, "
          f"cold {ok(cold <= 3.0)})")
    print(f"   one hung node adds {hung_s * 1000:.1f} ms after detection (target <= 100 ms: {ok(hung_s <= 0.1)}); "
          f"first detection took {detect_s:.2f} s ({code}; node_timeout_s {NODE_TIMEOUT_S:g})")


if __name__ == "__main__":
    main()
