"""list-nodes and describe-node-summary through JVP's API vs the same libvirt calls made directly.

Runs the whole Flask app (auth, validation, audit, schema dump) in-process with the test client against the
real local libvirtd (qemu:///system) when it answers, else libvirt's test driver. Prints the median time per
call of each path and their ratio (API / direct), from one run.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import libvirt

from jvp.demo import INVENTORY
from jvp.hypervisor import host
from jvp.settings import load_settings

ROUNDS = 200


def _median_ms(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm-up: connection opened, caches filled
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    from jvp.app import create_app
    libvirt.registerErrorHandler(lambda *_: None, None)
    uri = "qemu:///system"
    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError:
        uri = f"test://{INVENTORY}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(config_path=os.devnull, env={}, overrides={
            "data_dir": str(Path(tmp) / "data"), "local_uri": uri, "listen": "127.0.0.1:7777"})
        app = create_app(settings)
        services = app.extensions["jvp"]
        token, _ = services.tokens.create("bench", "viewer")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        conn = libvirt.open(uri)

        def api(action, body):
            def call():
                resp = client.post(f"/api/{action}", json=body, headers=headers)
                assert resp.status_code == 200, resp.get_json()
            return call

        rows = [
            ("list-nodes", api("list-nodes", {}), lambda: host.host_facts(conn)),
            ("describe-node-summary", api("describe-node-summary", {"name": "local"}),
             lambda: host.host_summary(conn)),
        ]
        print(f"   node: local ({uri}), {ROUNDS} calls each, median per call")
        for name, via_api, direct in rows:
            a, d = _median_ms(via_api), _median_ms(direct)
            print(f"   {name:<24} api {a:8.3f} ms   direct libvirt {d:8.3f} ms   ratio {a / d:6.2f}")
        services.close()


if __name__ == "__main__":
    main()
