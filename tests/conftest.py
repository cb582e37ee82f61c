"""Shared fixtures for every tier.

Tiers: tests/unit (pytest-mock), tests/api (Flask test client on libvirt's test driver), tests/host (real
libvirtd on qemu:///system), tests/web (headless chromium against the real server). When the environment
variable CI is set, a missing libvirtd or browser fails the run instead of skipping.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jvp.demo import INVENTORY
from jvp.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))
TEST_PREFIX = "jvptest-"


def unique(prefix: str = "") -> str:
    """A test resource name: carries the test prefix so leftovers are recognisable (and cleanable)."""
    return f"{TEST_PREFIX}{prefix}{uuid.uuid4().hex[:8]}"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: tiers 3 and 4 must really run there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for this tier in CI: {reason}")
    pytest.skip(reason)


def make_settings(tmp_path: Path, **overrides: Any):
    """Settings for a test: downloads may reach private addresses (the tests' image server listens on
    loopback); a test of the refusals passes download={"allow_private": False, ...}."""
    base = {"data_dir": str(tmp_path / "data"), "local_uri": f"test://{INVENTORY}",
            "listen": "127.0.0.1:7777", "node_timeout_s": 3.0}
    download = {"allow_private": True, **overrides.pop("download", {})}
    base.update(overrides, download=download)
    return load_settings(config_path=os.devnull, env={}, overrides=base)


@dataclass
class ApiClient:
    """The Flask test client with one token per role.

    Every answer it receives (through call/ok/error or `client.post` directly) is checked against the action's
    declared errors: an error answer's code must be in the code table (jvp/domain/errors.py) with that status,
    and be one of the action's `errors=(...)` or a generic code (auth, validation, node lookup, the store,
    internal: the ones any action can answer with). A failed task seen in an answer (`task`/`tasks`) is checked
    the same way against the action that submitted it (the task's kind). Every (action, code) pair seen is
    kept in `ApiClient.seen_errors`, and appended to the file named by JVP_ERRORS_SEEN when that is set.
    What this covers: the error paths the API tests exercise, no more; tests/unit/test_error_codes.py covers
    the codes statically.
    """
    client: Any
    app: Any
    services: Any
    tokens: dict[str, str] = field(default_factory=dict)
    seen_errors: ClassVar[set[tuple[str, str]]] = set()

    def __post_init__(self) -> None:
        open_ = self.client.open

        def checked_open(*args: Any, **kwargs: Any):
            resp = open_(*args, **kwargs)
            path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
            if isinstance(path, str) and path.startswith("/api/"):
                self.check_declared_errors(path[len("/api/"):].split("?", 1)[0], resp)
            return resp
        self.client.open = checked_open

    @classmethod
    def check_declared_errors(cls, action_name: str, resp: Any) -> None:
        from jvp.api.actions import registry
        from jvp.domain.errors import ERRORS, GENERIC
        if not resp.is_json:
            return
        data = resp.get_json(silent=True)
        if not isinstance(data, dict):
            return
        found = []  # (action, code, status or None)
        if resp.status_code >= 400 and isinstance(data.get("error"), dict):
            found.append((action_name, data["error"].get("code"), resp.status_code))
        tasks = [data.get("task")] + (data.get("tasks") if isinstance(data.get("tasks"), list) else [])
        for task in tasks:
            if isinstance(task, dict) and isinstance(task.get("error"), dict) and registry.get(task.get("kind")):
                found.append((task["kind"], task["error"].get("code"), None))
        for name, code, status in found:
            cls.seen_errors.add((name, code))
            if os.environ.get("JVP_ERRORS_SEEN"):
                with open(os.environ["JVP_ERRORS_SEEN"], "a") as fh:
                    fh.write(f"{name} {code} {status}\n")
            entry = ERRORS.get(code)
            assert entry is not None, f"{name} answered {code}, which is not in jvp/domain/errors.py"
            if status is not None:
                assert status in entry.statuses, (f"{name} answered {code} with {status}; the table says "
                                                   f"{entry.statuses}")
            action = registry.get(name)
            declared = set(action.errors) if action else set()
            assert code in declared | GENERIC, (
                f"{name} answered {code}, which it does not declare: add it to its errors=(...) in jvp/api/")

    def call(self, action: str, body: Any = None, *, role: str | None = "admin", headers: dict | None = None,
             expect: int | None = None, **kwargs: Any):
        hdrs = dict(headers or {})
        if role:
            hdrs["Authorization"] = f"Bearer {self.tokens[role]}"
        resp = self.client.post(f"/api/{action}", json=body if body is not None else {}, headers=hdrs,
                                **kwargs)
        if expect is not None:
            assert resp.status_code == expect, (resp.status_code, resp.get_json())
        return resp

    def fixture_file(self, fixture: Path, name: str | None = None) -> Path:
        """A copy of a test-driver fixture file in the fixture directory JVP accepts (setting
        test_fixtures_dir, default <data_dir>/test-fixtures); its test:// URI is f"test://{path}"."""
        d = self.services.settings.test_fixtures_path
        d.mkdir(parents=True, exist_ok=True)
        path = d / (name or fixture.name)
        shutil.copyfile(fixture, path)
        return path

    def add_fixture_node(self, node: str, fixture: Path) -> Path:
        """Add a test-driver fixture file (tests/fixtures/hosts/...) as node `node`; the copy's path."""
        path = self.fixture_file(fixture)
        self.ok("create-node", {"name": node, "uri": f"test://{path}"})
        return path

    def ok(self, action: str, body: Any = None, **kwargs: Any) -> dict:
        resp = self.call(action, body, **kwargs)
        assert resp.status_code in (200, 202), (action, resp.status_code, resp.get_json())
        return resp.get_json()

    def error(self, action: str, body: Any = None, *, status: int, code: str | None = None,
              **kwargs: Any) -> dict:
        resp = self.call(action, body, **kwargs)
        data = resp.get_json()
        assert resp.status_code == status, (action, resp.status_code, data)
        assert set(data) == {"error"}, data
        assert {"code", "message", "details", "request_id"} <= set(data["error"]), data
        assert data["error"]["request_id"] == resp.headers["X-Request-Id"]
        if code:
            assert data["error"]["code"] == code, data
        return data["error"]


def build_api(settings) -> ApiClient:
    from jvp.app import create_app
    app = create_app(settings)
    # every answer is also dumped by marshmallow itself and must be the same JSON (jvp/api/dump.py)
    app.config["JVP_CHECK_DUMP"] = True
    services = app.extensions["jvp"]
    tokens = {role: services.tokens.create(f"t-{role}", role)[0] for role in ("admin", "operator", "viewer")}
    return ApiClient(client=app.test_client(), app=app, services=services, tokens=tokens)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def api(settings):
    client = build_api(settings)
    yield client
    client.services.close()


# -- real host (tier 3) --------------------------------------------------------------------------------
def libvirtd_reachable(uri: str = "qemu:///system") -> bool:
    import libvirt
    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        libvirt.open(uri).close()
        return True
    except libvirt.libvirtError:
        return False


@pytest.fixture(scope="session")
def real_libvirt():
    require(os.geteuid() == 0, "the real-host tier runs as root")
    require(libvirtd_reachable(), "libvirtd does not answer on qemu:///system (run `make host`)")
    return "qemu:///system"


@pytest.fixture(scope="session")
def second_node():
    """A second real libvirtd in its own namespaces (tests/host/second_node.py): another host UUID,
    hostname and runtime state, reached at `second_node.uri`; `second_node.shared` is a directory both
    daemons see at the same path. Started once per session (for the host and browser tiers), stopped
    (nothing left behind) at its end."""
    from tests.host import second_node as bed
    require(os.geteuid() == 0, "the second node needs root (namespaces, veth)")
    require(libvirtd_reachable(), "libvirtd does not answer on qemu:///system (run `make host`)")
    try:
        twin = bed.start()
    except (RuntimeError, OSError) as exc:
        require(False, f"the second libvirt node did not start: {exc}")
    try:
        yield twin
    finally:
        bed.stop()


@pytest.fixture
def host_api(real_libvirt, tmp_path):
    client = build_api(make_settings(tmp_path, local_uri=real_libvirt, node_timeout_s=5.0))
    yield client
    client.services.close()


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    token: str
    proc: Any
    log: Path

    def post(self, action: str, body: dict | None = None, token: str | None = None, **kwargs: Any):
        import requests
        return requests.post(f"{self.url}/api/{action}", json=body or {}, timeout=60,
                             headers={"Authorization": f"Bearer {token or self.token}"}, **kwargs)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jvp_script() -> str:
    """The `jvp` console script: the checkout's .venv, else the one beside the running interpreter (a git
    worktree without its own .venv runs the main checkout's, which honours PYTHONPATH)."""
    import sys
    own = REPO / ".venv" / "bin" / "jvp"
    return str(own if own.exists() else Path(sys.executable).with_name("jvp"))


def start_server(tmp: Path, local_uri: str = "qemu:///system", workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> LiveServer:
    """`jvp serve` as a subprocess (gunicorn and all), on a free loopback port, with its own data dir."""
    import subprocess
    import time
    import requests
    data = tmp / "data"
    config = tmp / "config.yaml"
    config.write_text("")
    port = free_port()
    env = {**os.environ, "JVP_CONFIG": str(config), "JVP_DATA_DIR": str(data), "JVP_LOCAL_URI": local_uri,
           "JVP_LISTEN": f"127.0.0.1:{port}", "JVP_WORKERS": str(workers),
           "JVP_DOWNLOAD_ALLOW_PRIVATE": "true",  # the tests' image server listens on loopback
           **(extra_env or {})}
    log = tmp / "server.log"
    proc = subprocess.Popen([jvp_script(), "serve"], env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jvp serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"jvp serve did not answer within 30 s:\n{log.read_text()}")
    token = (data / "auth" / "admin-token").read_text().strip()
    return LiveServer(url=url, data_dir=data, token=token, proc=proc, log=log)


def stop_server(server: LiveServer) -> None:
    import signal
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(20)
        except Exception:  # noqa: BLE001
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(5)


@pytest.fixture
def live_server(real_libvirt, tmp_path):
    server = start_server(tmp_path, real_libvirt)
    yield server
    stop_server(server)


@pytest.fixture
def silent_server():
    """A TCP listener that accepts connections and never says a word (a hung libvirtd)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def _leftovers(uri: str = "qemu:///system") -> dict[str, list[str]]:
    """The test-prefixed objects on the real host: domains, pools (with their state), networks."""
    import libvirt
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(uri)
    try:
        left = {"domains": [d.name() for d in conn.listAllDomains(0)],
                "pools": [f"{p.name()}{'' if p.isActive() else ' (inactive)'}" for p in conn.listAllStoragePools(0)],
                "networks": [n.name() for n in conn.listAllNetworks(0)]}
    finally:
        conn.close()
    return {k: sorted(n for n in v if n.startswith(TEST_PREFIX)) for k, v in left.items()}


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_on_the_host(request):
    """Every real-host and browser test module cleans up what it made. Whatever a module leaves on
    qemu:///system (a test-prefixed domain, pool or network; benchmarks' jvptest-bench- objects aside) is
    reported as an error of that module and, in CI (one run per host), removed, so that one leak shows where
    it came from instead of failing later modules (an inactive pool left behind, say, makes every later
    delete-template refuse with TemplateUsageUnknown)."""
    path = Path(str(request.node.path))
    if (path.parent.name not in ("host", "web") or os.environ.get("JVP_TEST_LEAK_GUARD") == "0"
            or not libvirtd_reachable()):
        yield
        return
    before = _leftovers()
    yield
    after = _leftovers()
    new = {k: [n for n in v if n not in before[k] and not n.startswith(TEST_PREFIX + "bench-")]
           for k, v in after.items()}
    if any(new.values()) and not IN_CI:
        pytest.fail(f"{path.name} left these on qemu:///system, or another session made them meanwhile "
                    f"(set JVP_TEST_LEAK_GUARD=0 while sharing the host): {new}", pytrace=False)
    if any(new.values()):
        import libvirt

        from tests.host.storage_util import remove_pool
        from tests.host.vmutil import drop_domain, drop_network
        conn = libvirt.open("qemu:///system")
        try:
            for name in new["domains"]:
                drop_domain(conn, name)
            for name in new["pools"]:
                remove_pool(conn, name.split(" ")[0])
            for name in new["networks"]:
                drop_network(conn, name)
        finally:
            conn.close()
        pytest.fail(f"{path.name} left these on qemu:///system (now removed): {new}", pytrace=False)
