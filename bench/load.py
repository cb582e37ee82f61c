"""Load: 50 clients mixing reads and writes against a real `jvp serve` on libvirt's test driver (issue 14).

`python -m bench.load [--duration S] [--clients N] [--think S]` (`make load`; `make bench` runs it with its
defaults: 50 clients for 300 s). It starts `jvp serve` (bench/_server.py, shared with bench/throughput.py) the
way `jvp serve --demo` does (test driver with the seeded inventory, one worker, `demo` on so no node but
test:/// can be reached; a throw-away data dir) on a free loopback port, then runs N client threads, each with its own keep-alive HTTP session and admin token, for
the given time. Each client loops: pick an action (weights below), call it, wait a random think time
(uniform 0..2*think). Reads: list-vms, describe-vm, list-nodes, describe-node, list-volumes,
list-storage-pools, list-networks, list-keypairs, list-tasks. Writes: create-keypair then delete-keypair,
create-volume then delete-volume (in the demo's `default` pool), modify-vm (a label and the description of a
seeded VM), modify-node (the local node's description). Every client writes names of its own
(`load-<client>-<n>`), so a write never meets another client's: any answer but the expected 2xx, and any
connection error or timeout, counts as an error. Prints requests, throughput, p50/p95/p99/max latency
overall and per action, the error count (with the first few errors), the load average before and after; exit
status 1 when there was an error. Bounded: loopback only, at most `clients` requests in flight, and the run
stops at its deadline (requests in flight get at most 30 s more).

Latency is measured in the client, so on a busy host it includes the client threads' own scheduling (the
client runs in the same machine, and in Python).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from bench import _server

SEEDED_VMS = ("web1", "db1", "build-runner")
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, action: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[action].append(seconds)
            if error is not None:
                self.errors.append(f"{action}: {error}")


def start_server(tmp: Path) -> tuple[subprocess.Popen, str, str, Path]:
    """`jvp serve` on the demo's test driver, one worker (bench/_server.py, shared with bench/throughput.py)."""
    server = _server.start_jvp(tmp, workers=1)
    return server.proc, server.url, server.token, server.log


def stop_server(proc: subprocess.Popen) -> None:
    _server.stop(proc)


class Client:
    """One simulated user: its own session (keep-alive), its own names for what it writes."""

    def __init__(self, index: int, url: str, token: str, tally: Tally, rng: random.Random):
        self.index, self.url, self.tally, self.rng = index, url, tally, rng
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.counter = 0
        self.ops: list[tuple[int, Callable[[], None]]] = [
            (10, lambda: self.call("list-vms", {})),
            (10, lambda: self.call("describe-vm", {"name": self.rng.choice(SEEDED_VMS)})),
            (5, lambda: self.call("list-nodes", {})),
            (5, lambda: self.call("describe-node", {"name": "local"})),
            (5, lambda: self.call("list-volumes", {"pool": "default"})),
            (4, lambda: self.call("list-storage-pools", {})),
            (4, lambda: self.call("list-networks", {})),
            (4, lambda: self.call("list-keypairs", {})),
            (3, lambda: self.call("list-tasks", {})),
            (4, self.keypair_cycle),
            (4, self.volume_cycle),
            (4, lambda: self.call("modify-vm", {
                "name": self.rng.choice(SEEDED_VMS), "labels": {f"load{self.index}": str(self.counter)},
                "description": f"touched by load client {self.index}"})),
            (2, lambda: self.call("modify-node", {"name": "local", "description": f"load {self.index}"})),
        ]
        self.weights = [w for w, _ in self.ops]

    def name(self) -> str:
        self.counter += 1
        return f"load-{self.index}-{self.counter}"

    def call(self, action: str, body: dict[str, Any], expect: int = 200) -> None:
        start = time.perf_counter()
        error = None
        try:
            resp = self.session.post(f"{self.url}/api/{action}", json=body, timeout=REQUEST_TIMEOUT_S)
            if resp.status_code != expect:
                error = f"{resp.status_code} {resp.text[:300]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.tally.record(action, time.perf_counter() - start, error)

    def keypair_cycle(self) -> None:
        name = self.name()
        self.call("create-keypair", {"name": name})
        self.call("delete-keypair", {"name": name})

    def volume_cycle(self) -> None:
        name = self.name()
        self.call("create-volume", {"pool": "default", "name": name, "size_gib": 1, "format": "raw"})
        self.call("delete-volume", {"pool": "default", "name": name})

    def run(self, deadline: float, think_s: float) -> None:
        while time.monotonic() < deadline:
            self.rng.choices(self.ops, weights=self.weights)[0][1]()
            if think_s > 0:
                time.sleep(self.rng.uniform(0, 2 * think_s))
        self.session.close()


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx] * 1000


def report(tally: Tally, elapsed: float, clients: int, load_before: tuple, load_after: tuple) -> int:
    everything = sorted(x for xs in tally.latencies.values() for x in xs)
    total = len(everything)
    print(f"   {clients} clients, {elapsed:.0f} s, {total} requests ({total / elapsed:.1f}/s), "
          f"errors: {len(tally.errors)}")
    print(f"   all: p50 {_pct(everything, .5):.0f} ms, p95 {_pct(everything, .95):.0f} ms, "
          f"p99 {_pct(everything, .99):.0f} ms, max {_pct(everything, 1):.0f} ms")
    for action in sorted(tally.latencies):
        xs = sorted(tally.latencies[action])
        print(f"   {action:20s} {len(xs):6d}  p50 {_pct(xs, .5):6.0f}  p99 {_pct(xs, .99):6.0f}  "
              f"mean {statistics.fmean(xs) * 1000:6.0f} ms")
    print(f"   load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.1f}' for x in load_after)} ({os.cpu_count()} CPUs)")
    for err in tally.errors[:10]:
        print(f"   error: {err}")
    return 1 if tally.errors else 0


def run(duration_s: float, clients: int, think_s: float, seed: int) -> int:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="jvp-load-") as tmp:
        proc, url, token, log = start_server(Path(tmp))
        try:
            tally = Tally()
            master = random.Random(seed)
            workers = [Client(i, url, token, tally, random.Random(master.random())) for i in range(clients)]
            start = time.monotonic()
            deadline = start + duration_s
            threads = [threading.Thread(target=c.run, args=(deadline, think_s), daemon=True) for c in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT_S)
            elapsed = time.monotonic() - start
            status = report(tally, elapsed, clients, load_before, os.getloadavg())
            if proc.poll() is not None:
                print(f"   the server exited during the run:\n{log.read_text()[-2000:]}")
                status = 1
            return status
        finally:
            stop_server(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--think", type=float, default=0.25,
                        help="mean pause between a client's requests, seconds (default 0.25)")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv or [])
    if not 1 <= args.clients <= 200 or not 1 <= args.duration <= 3600:
        parser.error("1-200 clients, 1-3600 s")
    return run(args.duration, args.clients, args.think, args.seed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
