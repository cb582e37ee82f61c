"""Request throughput of `jvp serve` vs a minimal Flask app under the same gunicorn settings (issue 15).

Both servers run on this machine: `jvp serve` on libvirt's test driver with the demo inventory
(bench/_server.py, as bench/load.py starts it: one worker, the configured threads) and bench/_minimal_app.py
under stock gunicorn gthread with the same worker count, threads, keep-alive and access log line. The minimal
app parses the request's JSON and answers JVP's own recorded answer to the same action (same bytes), so the
difference is what JVP does per request: auth (token lookup), request validation, the node lookup, the
libvirt calls, the answer's dump, the audit of mutating calls (none here: these are reads).

The same load drives both: CLIENTS threads, each with its own keep-alive connection (http.client), sending
POST /api/<action> back to back for ROUND_S seconds; rounds alternate JVP and the minimal app, per action,
ROUNDS times (one interleaved run: a load spike hits both alike). Printed per action: requests per second
of each (the sum over the rounds) and the ratio JVP / minimal, target >= 0.7; and the server CPU per request
(user + system of the server's processes, /proc) of each, with their ratio (for information: JVP does more
per request by design, the ratio says how much more). The client runs in this process, on the same cores.
"""
from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench import _server

ACTIONS: tuple[tuple[str, dict[str, Any]], ...] = (("list-nodes", {}), ("describe-vm", {"name": "web1"}))
CLIENTS = 8
ROUND_S = float(os.environ.get("JVP_BENCH_ROUND_S", "3"))
ROUNDS = 3
TARGET = 0.7


def drive(server: _server.Server, action: str, body: dict[str, Any], seconds: float) -> tuple[int, float, list]:
    """CLIENTS keep-alive clients calling `action` for `seconds`: (answers, server CPU seconds, errors)."""
    host, port = server.url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {server.token}"}
    counts = [0] * CLIENTS
    errors: list[str] = []
    start = threading.Barrier(CLIENTS + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        start.wait()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                conn.request("POST", f"/api/{action}", payload, headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors.append(f"{action}: {resp.status}")
                    return
                counts[i] += 1
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{action}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    cpu0 = _server.cpu_seconds(server)
    start.wait()
    for t in threads:
        t.join(seconds + 60)
    return sum(counts), _server.cpu_seconds(server) - cpu0, errors


def main() -> None:
    from jvp.settings import load_settings
    defaults = load_settings(config_path=os.devnull, env={})
    threads = defaults.threads + defaults.console["max_sessions"]  # what `jvp serve` gives gunicorn
    with tempfile.TemporaryDirectory(prefix="jvp-bench-throughput-") as tmp:
        tmp_path = Path(tmp)
        jvp = _server.start_jvp(tmp_path, workers=1)
        minimal = None
        try:
            answers = {}
            for action, body in ACTIONS:
                resp = requests.post(f"{jvp.url}/api/{action}", json=body, timeout=30,
                                     headers={"Authorization": f"Bearer {jvp.token}"})
                assert resp.status_code == 200, resp.text
                answers[action] = resp.json()
            answer_file = tmp_path / "answers.json"
            answer_file.write_text(json.dumps(answers))
            minimal = _server.start_gunicorn(tmp_path, "bench._minimal_app:app", workers=1, threads=threads,
                                             env={"JVP_BENCH_ANSWERS": str(answer_file)})
            totals = {(a, who): [0, 0.0] for a, _ in ACTIONS for who in ("jvp", "minimal")}
            errors: list[str] = []
            for action, body in ACTIONS:  # warm-up: connections, caches, imports
                for server in (jvp, minimal):
                    errors += drive(server, action, body, 0.5)[2]
            for _ in range(ROUNDS):
                for action, body in ACTIONS:
                    for who, server in (("jvp", jvp), ("minimal", minimal)):
                        n, cpu, errs = drive(server, action, body, ROUND_S)
                        totals[(action, who)][0] += n
                        totals[(action, who)][1] += cpu
                        errors += errs
        finally:
            _server.stop(jvp)
            if minimal is not None:
                _server.stop(minimal)
    seconds = ROUNDS * ROUND_S
    print(f"   {CLIENTS} keep-alive clients, {ROUNDS} interleaved rounds of {ROUND_S:g} s per server and action; "
          f"gunicorn gthread, 1 worker, {threads} threads; load average {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} CPUs)")
    print(f"   {'name':<34} {'measured':>12} {'floor':>12} {'ratio':>7}  target")
    for action, _ in ACTIONS:
        (n_j, cpu_j), (n_m, cpu_m) = totals[(action, "jvp")], totals[(action, "minimal")]
        ratio = (n_j / seconds) / (n_m / seconds) if n_m else float("nan")
        print(f"   {'throughput ' + action + ' (req/s)':<34} {n_j / seconds:12.0f} {n_m / seconds:12.0f} "
              f"{ratio:7.2f}  >= {TARGET} {'OK' if ratio >= TARGET else 'BELOW'}")
        per_j, per_m = cpu_j / max(n_j, 1) * 1000, cpu_m / max(n_m, 1) * 1000
        print(f"   {'CPU per request ' + action + ' (ms)':<34} {per_j:12.2f} {per_m:12.2f} "
              f"{per_j / per_m if per_m else float('nan'):7.2f}  (information)")
    for err in errors[:5]:
        print(f"   error: {err}")


if __name__ == "__main__":
    main()
