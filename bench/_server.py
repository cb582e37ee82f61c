"""Servers the HTTP benchmarks start (not a benchmark itself: `python -m bench` skips modules named `_*`).

`start_jvp(tmp)` starts `jvp serve` the way `jvp serve --demo` does (libvirt's test driver with the seeded
inventory, `demo` on so no node but test:/// can be reached, a throw-away data dir under `tmp`) on a free
loopback port and waits for /healthz; `start_gunicorn(tmp, "module:app", ...)` starts another WSGI app under
gunicorn with the settings `jvp serve` gives its own (gthread, the same workers, threads and keep-alive, an
access log line per request); `stop(server)` ends either (its process group). `cpu_seconds(server)` is the
CPU time (user + system) used so far by the server's processes, master and workers, from /proc.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
# what `jvp serve` logs per request (jvp/server/__init__.py JvpApplication.load_config)
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path
    token: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(proc: subprocess.Popen, url: str, log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.2)
    _kill(proc)
    raise RuntimeError(f"{what} did not answer within 60 s:\n{log.read_text()}")


def start_jvp(tmp: Path, *, workers: int = 1, threads: int | None = None, log_level: str = "warning") -> Server:
    """`jvp serve` on the demo's test driver, `workers` processes; the admin token is read from the data dir."""
    from jvp.demo import demo_uri
    data = tmp / "data"
    config = tmp / "config.yaml"
    config.write_text("")
    port = free_port()
    env = {**os.environ, "JVP_CONFIG": str(config), "JVP_DATA_DIR": str(data), "JVP_LOCAL_URI": demo_uri(),
           "JVP_LISTEN": f"127.0.0.1:{port}", "JVP_WORKERS": str(workers), "JVP_DEMO": "true",
           "JVP_LOG_LEVEL": log_level}
    if threads is not None:
        env["JVP_THREADS"] = str(threads)
    log = tmp / "jvp-serve.log"
    jvp = Path(sys.executable).parent / "jvp"
    proc = subprocess.Popen([str(jvp), "serve"], env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(proc, url, log, "jvp serve")
    token = (data / "auth" / "admin-token").read_text().strip()
    return Server(proc, url, log, token)


def start_gunicorn(tmp: Path, app: str, *, workers: int, threads: int, env: dict[str, str] | None = None,
                   log_level: str = "warning") -> Server:
    """`app` ("module:attribute", importable from the repository) under stock gunicorn gthread with the
    settings `jvp serve` uses; the app must answer GET /healthz."""
    port = free_port()
    log = tmp / f"gunicorn-{port}.log"
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "5", "--timeout", "120",
           "--log-level", log_level, "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT, app]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(proc, url, log, app)
    return Server(proc, url, log)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def stop(server: Server | subprocess.Popen) -> None:
    _kill(server.proc if isinstance(server, Server) else server)


def cpu_seconds(server: Server) -> float:
    """User + system CPU seconds of the server's process group so far (the master and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        # fields after the name: state ppid pgrp ...; utime and stime are the 14th and 15th of the whole line
        if int(fields[2]) == server.proc.pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick
