"""The fuzz gate: Schemathesis over every action of JVP's OpenAPI document (issue 14).

Each `POST /api/<action>` is one test (`-k create-vm` selects one). Schemathesis sends the Flask app, in process
(WSGI, no socket), JVP_FUZZ_EXAMPLES (default 30) Hypothesis examples per action drawn in both of its
generation modes, positive (bodies the request schema allows) and negative (bodies it does not), with the fixed
seed JVP_FUZZ_SEED (its coverage phase is off: see `schema.config.phases` below). Every answer must pass:

- `not_a_server_error`: no 5xx (a 500 must never come from client input; a 502 is a bug too here, since every
  node is libvirt's in-process test driver);
- `response_schema_conformance`: the answer matches the schema OpenAPI declares for its status;
- `jvp_error_envelope`: every 4xx/5xx is `application/json` in JVP's one error shape, its `request_id` the
  `X-Request-Id` header, its code one the action declares (or a generic one) with the table's status;
- `jvp_task_outcome`: a 202's task is followed to its end (describe-task; cancelled after TASK_WAIT_S); a
  failed task's code must not be InternalError and must be one its kind declares.

So that generated bodies reach past "not found" and validation, `flatmap_body` mixes into them: for string
fields that name existing objects (`node`, `pool`, `vm`, `network`, `volume`, `target`, an action's `name`,
`uri`, `target_node`), mostly the name of something the demo inventory has (`REFERENCES`; create-node and modify-node are
thereby also given `qemu:///system` and a remote URI); for other strings, now and then one of `HOSTILE` (NUL,
control characters, lone surrogates, non-characters, a trailing newline, a long one); for `labels`, often valid
keys (OpenAPI 3.0 cannot state a key pattern). After every example that changed something (a 2xx of a mutating
action), and before every action, the test driver's state is reset (its connection closed: the next one reads
the inventory afresh), so each example starts from the seeded inventory and a failure replays alike. The
metadata store (keypairs, nodes, tasks) is shared by the whole run.

The app is what `jvp serve --demo` runs: libvirt's test driver with the seeded inventory, a throw-away data
dir, and `demo` on, with which JVP's connection opener refuses every URI but `test:///...`
(`open_test_driver_only` in jvp/hypervisor/connection.py): create-node/modify-node cannot reach this
machine's libvirtd (qemu:///system) nor a remote host. Host bridges (netlink) are offered only on a local
node whose libvirtd is this machine's, which a test:/// node is not. Template downloads would reach out
through http.client: while the gate runs, an audit hook (`_NetworkGuard`) fails every DNS lookup and connect
to anything but loopback, so no case sends traffic off this machine.

`make fuzz` runs the same gate longer (README "Tests": its duration, and how to replay a failure).
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

try:
    import schemathesis
except ImportError:  # a test dependency (setup.cfg [test]); CI must run the gate, not skip it
    if IN_CI:
        raise
    pytest.skip("schemathesis is not installed (pip install -e '.[test]')", allow_module_level=True)
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from tests.conftest import ApiClient, make_settings  # noqa: E402

SEED = int(os.environ.get("JVP_FUZZ_SEED", "14"))
EXAMPLES = int(os.environ.get("JVP_FUZZ_EXAMPLES", "30"))
TASK_WAIT_S = 15.0


# -- no traffic off this machine -------------------------------------------------------------------
def _loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%", 1)[0]
    if host.lower() in ("localhost", "localhost.localdomain", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NetworkGuard:
    """A Python audit hook (it cannot be removed, so it is switched on and off): while on, a DNS lookup of
    anything but a loopback name and a connect to anything but a loopback address fail as the network
    would (OSError), in every thread of this process (task workers included). Unix sockets pass."""
    active = False
    installed = False

    @classmethod
    def install(cls) -> None:
        if not cls.installed:
            sys.addaudithook(cls._hook)
            cls.installed = True

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        if not cls.active:
            return
        if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr") \
                and not _loopback(args[0]):
            raise socket.gaierror(socket.EAI_NONAME, f"fuzz gate: no DNS lookup of {args[0]!r}")
        if event in ("socket.connect", "socket.sendto"):
            sock, address = args[0], args[-1]
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
                raise ConnectionRefusedError(f"fuzz gate: no connection to {address!r} off this machine")


# -- the app under test ----------------------------------------------------------------------------
class _Run:
    """The app under test, built when the first action's test starts (not at collection: `make test` collects
    every tier at once) and closed after the last one, and the guard on for exactly that span."""
    tmp: Path
    app: Any = None
    services: Any = None
    auth: dict[str, str] = {}


KEYPAIR = "fuzz-key"


def _start() -> None:
    from jvp.app import create_app
    _Run.tmp = Path(tempfile.mkdtemp(prefix="jvp-fuzz-"))
    settings = make_settings(_Run.tmp, demo=True, task_workers=2)
    assert settings.demo
    _NetworkGuard.install()
    _NetworkGuard.active = True
    _Run.app = create_app(settings)
    _Run.services = _Run.app.extensions["jvp"]
    _Run.auth = {"Authorization": f"Bearer {_Run.services.tokens.create('fuzz-admin', 'admin')[0]}"}
    made = _Run.app.test_client().post("/api/create-keypair", json={"name": KEYPAIR}, headers=_Run.auth)
    assert made.status_code == 200, made.get_json()


def _stop() -> None:
    try:
        if _Run.services is not None:
            _Run.services.close()
    finally:
        _NetworkGuard.active = False
        shutil.rmtree(_Run.tmp, ignore_errors=True)


def _document() -> dict[str, Any]:
    """The document `GET /api/openapi.json` serves (and `jvp openapi` prints), without building an app."""
    import importlib
    from jvp.api.actions import registry
    from jvp.api.openapi import build_spec
    from jvp.app import API_MODULES
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    return json.loads(json.dumps(build_spec(registry)))


schema = schemathesis.openapi.from_dict(_document(), config=schemathesis.Config())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES,
                                deterministic=True, database="none")
schema.config.seed = SEED
# Fuzzing only: Schemathesis' coverage phase (boundary and missing-field cases) is built for all 89 actions at
# collection time, costs about half of the gate's time, and checks what marshmallow already refuses.
schema.config.phases.coverage.enabled = False

# Names of what the demo inventory (jvp/demo/inventory.xml) has, by request field, and by resource for `name`.
_VMS = ["web1", "db1", "build-runner"]
_POOLS = ["default", "data"]
_VOLUMES = ["web1-root.qcow2", "db1-root.qcow2", "runner-root.qcow2", "scratch.raw", "db1-data.raw"]
_NETWORKS = ["demo-nat", "demo-isolated"]
REFERENCES: dict[str, list[str]] = {
    "node": ["local"], "target_node": ["local"], "pool": _POOLS, "target_pool": _POOLS, "vm": _VMS,
    "network": _NETWORKS, "volume": _VOLUMES, "backing_volume": _VOLUMES, "target": ["vda", "vdb", "sda", "hdc"],
    "uri": ["qemu:///system", "qemu+ssh://root@jvp-fuzz.invalid/system", "test:///default"],
}
NAMES_BY_TAG: dict[str, list[str]] = {"vm": _VMS, "storage_pool": _POOLS, "volume": _VOLUMES,
                                      "network": _NETWORKS, "node": ["local"], "keypair": [KEYPAIR]}


# Strings JVP must refuse cleanly wherever it takes text (issue 14's findings): NUL, other control characters, a
# lone surrogate, non-characters, a trailing newline, a long one. Schemathesis' own strings rarely carry them.
HOSTILE = ["a\x00b", "a\ud800b", "\udfff", "a\ufffeb", "\uffff", "a\x1b[31mb", "a\x7fb", "a\x85b", "web1\n",
           "a\r\nb", "x" * 4097]


def _mixed(key: str, value: Any, tag: str) -> Any:
    """A strategy for one value of a generated body: itself most of the time; for a string naming an existing
    object, often the name of one that exists; for other strings, now and then a hostile one."""
    if isinstance(value, str):
        refs = REFERENCES.get(key) or (NAMES_BY_TAG.get(tag) if key == "name" else None)
        if refs:
            return st.sampled_from([value] + refs * 3)
        return st.sampled_from([value] * (2 * len(HOSTILE)) + HOSTILE)
    if isinstance(value, dict):
        if key == "labels" and value:
            # OpenAPI 3.0 cannot say what a label key may be (jvp/api/schemas.py Labels), so generated keys
            # are mostly refused: often use valid keys instead, to reach what the values go to.
            valid = {f"k{i}": v for i, v in enumerate(value.values())}
            return st.sampled_from([value, valid, valid]).flatmap(
                lambda chosen: st.fixed_dictionaries({k: _mixed(k, v, tag) for k, v in chosen.items()}))
        return st.fixed_dictionaries({k: _mixed(k, v, tag) for k, v in value.items()})
    if isinstance(value, list):
        return st.tuples(*[_mixed(key, v, tag) for v in value]).map(list)
    return st.just(value)


@schema.hook
def flatmap_body(context, body):
    """Generated bodies, with names of existing objects and hostile strings mixed in (`_mixed`)."""
    if not isinstance(body, dict) or context.operation is None:
        return st.just(body)
    tag = (context.operation.definition.raw.get("tags") or [""])[0]
    return _mixed("", body, tag)


def _reset_test_driver() -> None:
    """Back to the seeded inventory: the test driver's state lives in its connection."""
    _Run.services.connections.close_all()


@pytest.fixture(scope="module", autouse=True)
def _app_lifetime():
    _start()
    try:
        yield
    finally:
        if os.environ.get("JVP_FUZZ_STATS"):
            with open(os.environ["JVP_FUZZ_STATS"], "w") as fh:
                for (action, phase, mode), n in sorted(STATS.items()):
                    fh.write(f"{action} {phase} {mode} {n}\n")
        _stop()


@pytest.fixture(autouse=True)
def _fresh_inventory():
    _reset_test_driver()
    yield


# -- the checks ------------------------------------------------------------------------------------
def _header(response, name: str) -> str:
    value = response.headers.get(name, [""])
    return value[0] if isinstance(value, list) else value


class _Answer:
    """What ApiClient.check_declared_errors reads of an answer."""
    is_json = True

    def __init__(self, status: int, body: dict):
        self.status_code = status
        self._body = body

    def get_json(self, silent: bool = False) -> dict:
        return self._body


def _action(case) -> str:
    return case.path.rsplit("/", 1)[-1]


@schemathesis.check
def jvp_error_envelope(ctx, response, case) -> bool | None:
    """Every error JVP answers is JSON in its one shape, with a code the action may answer."""
    if response.status_code < 400:
        return None
    ctype = _header(response, "content-type").split(";")[0].strip().lower()
    assert ctype == "application/json", (
        f"{response.status_code} answered as {ctype or 'no content-type'!r}, not application/json: "
        f"{response.content[:200]!r}")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not JVP's error shape: {body!r}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "details", "request_id"}, err
    assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["details"], dict), err
    assert err["request_id"] == _header(response, "x-request-id"), err
    ApiClient.check_declared_errors(_action(case), _Answer(response.status_code, body))
    return None


def _task(task_id: str) -> dict:
    resp = _Run.app.test_client().post("/api/describe-task", json={"id": task_id}, headers=_Run.auth)
    assert resp.status_code == 200, (resp.status_code, resp.get_json())
    return resp.get_json()["task"]


def _settle(task_id: str) -> dict:
    """The task once it ended; cancelled when it runs longer than TASK_WAIT_S (a boot wait, say)."""
    deadline = time.monotonic() + TASK_WAIT_S
    cancelled = False
    while True:
        task = _task(task_id)
        if task["state"] in ("succeeded", "failed", "cancelled"):
            return task
        if time.monotonic() > deadline:
            assert not cancelled, f"task {task_id} ({task['kind']}) did not end after cancel-task: {task}"
            _Run.app.test_client().post("/api/cancel-task", json={"id": task_id}, headers=_Run.auth)
            cancelled, deadline = True, time.monotonic() + TASK_WAIT_S
        time.sleep(0.02)


@schemathesis.check
def jvp_task_outcome(ctx, response, case) -> bool | None:
    """A task an action started ends without a bug, with a code its kind declares."""
    if response.status_code != 202:
        return None
    body = response.json()
    task_id = (body.get("task") or {}).get("id") if isinstance(body, dict) else None
    assert task_id, f"202 without a task: {body!r}"
    task = _settle(task_id)
    error = task.get("error") or {}
    assert error.get("code") != "InternalError", f"task {task['kind']} ended with a bug: {error}"
    ApiClient.check_declared_errors("describe-task", _Answer(200, {"task": task}))
    return None


CHECKS = [not_a_server_error, response_schema_conformance, jvp_error_envelope, jvp_task_outcome]
STATS: dict[tuple[str, str, str], int] = {}  # (action, phase, mode) -> cases sent
MUTATING = {path.rsplit("/", 1)[-1] for path, ops in schema.raw_schema["paths"].items()
            if ops["post"].get("x-jvp-mutating")}


@schema.parametrize()
def test_action(case):
    meta = case.meta
    key = (_action(case), meta.phase.name.value if meta else "?", meta.generation.mode.value if meta else "?")
    STATS[key] = STATS.get(key, 0) + 1
    changed = _action(case) in MUTATING
    try:
        response = case.call(app=_Run.app, headers=_Run.auth)
        changed = changed and response.status_code < 300
        case.validate_response(response, checks=CHECKS)
    finally:
        if changed:
            _reset_test_driver()
