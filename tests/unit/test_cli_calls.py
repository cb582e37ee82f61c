"""The resource commands against a fake server (the CLI's Client with `raw` answering from a script): the body
the options build, the output formats, the exit code of each error class, `--wait`."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import yaml
from click.testing import CliRunner

from jvp.cli import main
from jvp.cli.client import Client, exit_code_for
from jvp.cli.console import websocket_url


@dataclass
class FakeResponse:
    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return json.dumps(self.body) if not isinstance(self.body, str) else self.body

    def json(self) -> Any:
        if isinstance(self.body, str):
            raise ValueError("not JSON")
        return self.body


class FakeClient(Client):
    """Answers each action from `script[action]`: a (status, body) pair, or a function of the body giving one."""

    def __init__(self, script: dict[str, Any]):
        super().__init__(url="http://jvp.test:7777", token="jvp_x")
        self.script = script
        self.calls: list[tuple[str, dict]] = []

    def raw(self, action: str, body: dict[str, Any], **kwargs: Any) -> FakeResponse:
        self.calls.append((action, body))
        answer = self.script[action]
        status, data = answer(body) if callable(answer) else answer
        return FakeResponse(status, data)


def run(client: FakeClient, *args: str, input: str | None = None, **obj: Any):
    return CliRunner().invoke(main, list(args), obj={"client": client, "poll_s": 0, "tty": False, **obj},
                              input=input)


def error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message, "details": {}, "request_id": "r1"}}


VMS = {"vms": [
    {"name": "web1", "uuid": "u1", "node": "local", "state": "running", "vcpus": 2, "memory_mib": 2048,
     "ips": ["198.18.10.5"], "labels": {}, "problems": []},
    {"name": "db1", "uuid": "u2", "node": "kvm2", "state": "stopped", "vcpus": 4, "memory_mib": 4096,
     "ips": [], "labels": {"tier": "db"}, "problems": []},
], "errors": [{"node": "kvm3", "code": "NodeUnreachable", "message": "node 'kvm3' is unreachable"}]}


def task(state: str, progress: float | None = 0.0, message: str = "", error_: dict | None = None) -> dict:
    return {"id": "t-1", "kind": "create-vm", "state": state, "progress": progress, "message": message,
            "resource": {"kind": "vm", "node": "local", "name": "web2"}, "created_at": "2026-01-01T00:00:00Z",
            "error": error_, "result": {"vm": {"name": "web2"}} if state == "succeeded" else None}


# -- the request body ------------------------------------------------------------------------------------
def test_options_build_the_body_with_types_json_and_flags():
    fake = FakeClient({"create-vm": (202, {"task": task("pending")})})
    res = run(fake, "vm", "create", "web2", "--memory-mib", "2048", "--nics", '[{"network": "default"}]',
              "--labels", "tier=web,env=prod", "--no-start", "--firmware", "uefi")
    assert res.exit_code == 0, res.output
    assert fake.calls == [("create-vm", {"name": "web2", "memory_mib": 2048, "nics": [{"network": "default"}],
                                         "labels": {"tier": "web", "env": "prod"}, "start": False,
                                         "firmware": "uefi"})]
    assert "jvp task show t-1" in res.stderr  # without --wait: how to follow it


def test_name_as_option_or_argument_and_they_must_agree():
    fake = FakeClient({"describe-vm": (200, {"vm": VMS["vms"][0]})})
    assert run(fake, "vm", "show", "--name", "web1", "--node", "local").exit_code == 0
    assert run(fake, "vm", "show", "web1").exit_code == 0
    assert fake.calls == [("describe-vm", {"node": "local", "name": "web1"}), ("describe-vm", {"name": "web1"})]
    res = run(fake, "vm", "show", "web1", "--name", "db1")
    assert res.exit_code == 2 and "disagree" in res.stderr and len(fake.calls) == 2


def test_a_body_file_or_stdin_with_options_overriding(tmp_path):
    fake = FakeClient({"create-volume": (200, {"volume": {"name": "d1"}})})
    path = tmp_path / "body.yaml"
    path.write_text("pool: default\nname: d1\nsize_gib: 5\n")
    assert run(fake, "volume", "create", "-f", str(path), "--size-gib", "10").exit_code == 0
    assert run(fake, "volume", "create", "-f", "-", input='{"pool": "data", "name": "d2", "size_gib": 1}'
               ).exit_code == 0
    assert fake.calls == [("create-volume", {"pool": "default", "name": "d1", "size_gib": 10}),
                          ("create-volume", {"pool": "data", "name": "d2", "size_gib": 1})]
    res = run(fake, "volume", "create", "-f", "-", input="[1, 2]")
    assert res.exit_code == 2 and "must be an object" in res.stderr


def test_bad_option_values_are_usage_errors_before_any_call():
    fake = FakeClient({})
    for args in (["vm", "create", "x", "--firmware", "coreboot"], ["vm", "create", "x", "--vcpus", "many"],
                 ["vm", "create", "x", "--nics", "{not json"], ["vm", "frobnicate"]):
        res = run(fake, *args)
        assert res.exit_code == 2, (args, res.output)
    assert fake.calls == []


def test_a_list_of_strings_as_a_b_c():
    fake = FakeClient({"register-template": (202, {"task": task("pending")})})
    assert run(fake, "template", "register", "t1", "--pool", "default", "--tags", "debian,small",
               "--source", '{"type": "url", "url": "http://127.0.0.1/x"}').exit_code == 0
    assert fake.calls[0][1]["tags"] == ["debian", "small"]


# -- output -------------------------------------------------------------------------------------------
def test_list_as_a_table_with_chosen_columns_and_errors_under_it():
    res = run(FakeClient({"list-vms": (200, VMS)}), "vm", "list")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["NAME", "NODE", "STATE", "VCPUS", "MEMORY", "MIB", "IPS"]
    assert lines[1].split() == ["web1", "local", "running", "2", "2048", "198.18.10.5"]
    assert lines[2].split() == ["db1", "kvm2", "stopped", "4", "4096", "-"]
    assert "u1" not in res.stdout  # uuid is not a column
    assert all(line == line.rstrip() for line in lines)  # piped: no trailing blanks
    assert "kvm3: NodeUnreachable: node 'kvm3' is unreachable" in res.stderr


@pytest.mark.parametrize("fmt,load", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_json_and_yaml_are_the_answer_itself(fmt, load):
    res = run(FakeClient({"list-vms": (200, VMS)}), "vm", "list", "-o", fmt)
    assert res.exit_code == 0 and load(res.stdout) == VMS


def test_describe_as_key_value_with_sizes_in_binary_units():
    node = {"name": "local", "state": "online", "memory_bytes": 34359738368, "labels": {"rack": "r1"},
            "maintenance": False}
    res = run(FakeClient({"describe-node": (200, {"node": node})}), "node", "show", "local")
    assert res.exit_code == 0
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in res.stdout.splitlines()}
    assert rows == {"name": "local", "state": "online", "memory_bytes": "32.0 GiB", "labels": '{"rack": "r1"}',
                    "maintenance": "no"}


def test_an_empty_listing_says_so_on_stderr():
    res = run(FakeClient({"list-tasks": (200, {"tasks": [], "errors": []})}), "task", "list")
    assert res.exit_code == 0 and res.stdout == "" and "no tasks" in res.stderr


# -- exit codes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("status,code,exit_code", [
    (400, "ValidationFailed", 2), (401, "InvalidToken", 3), (403, "Forbidden", 3), (404, "VmNotFound", 4),
    (409, "VmExists", 5), (422, "NotSupported", 5), (502, "NodeUnreachable", 6), (503, "ServerBusy", 6),
    (504, "NodeTimeout", 6), (500, "InternalError", 1),
])
def test_an_error_answer_exits_with_its_class_and_shows_code_and_message(status, code, exit_code):
    res = run(FakeClient({"describe-vm": error(status, code, "what went wrong")}), "vm", "show", "web1")
    assert res.exit_code == exit_code == exit_code_for(status)
    assert res.stderr.strip() == f"{code}: what went wrong" and res.stdout == ""


def test_an_answer_that_is_not_json_exits_1():
    res = run(FakeClient({"describe-vm": (502, "<html>bad gateway</html>")}), "vm", "show", "web1")
    assert res.exit_code == 6 and "HTTP 502" in res.stderr
    res = run(FakeClient({"describe-vm": (200, "<html>a proxy's page</html>")}), "vm", "show", "web1")
    assert res.exit_code == 1 and "not JSON" in res.stderr


def test_no_server_exits_6():
    from tests.conftest import free_port
    res = CliRunner().invoke(main, ["--url", f"http://127.0.0.1:{free_port()}", "--token", "x", "vm", "list"])
    assert res.exit_code == 6 and "cannot reach JVP at http://127.0.0.1:" in res.stderr


# -- --wait ------------------------------------------------------------------------------------------
def polled(*states: dict) -> Callable[[dict], tuple[int, dict]]:
    left = list(states)
    return lambda body: (200, {"task": left.pop(0) if len(left) > 1 else left[0]})


def test_wait_follows_the_task_to_success_and_prints_it():
    fake = FakeClient({"create-vm": (202, {"task": task("pending")}),
                       "describe-task": polled(task("running", 40.0, "cloning the image"),
                                               task("running", 80.0, "defining"),
                                               task("succeeded", 100.0, "vm 'web2' created"))})
    res = run(fake, "vm", "create", "web2", "--wait", "-o", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["task"]["state"] == "succeeded"
    progress = [line for line in res.stderr.splitlines() if line.startswith("task t-1")]
    assert progress == ["task t-1 create-vm local/web2: pending 0%",
                        "task t-1 create-vm local/web2: running 40% cloning the image",
                        "task t-1 create-vm local/web2: running 80% defining",
                        "task t-1 create-vm local/web2: succeeded 100% vm 'web2' created"]
    assert [c[0] for c in fake.calls] == ["create-vm"] + ["describe-task"] * 3


def test_wait_on_a_failed_task_exits_7_with_its_code():
    failed = task("failed", 20.0, "download failed",
                  {"code": "SourceUnreachable", "message": "the source cannot be reached", "details": {}})
    fake = FakeClient({"create-vm": (202, {"task": task("pending")}), "describe-task": polled(failed)})
    res = run(fake, "vm", "create", "web2", "--wait")
    assert res.exit_code == 7
    assert res.stderr.splitlines()[-1] == "SourceUnreachable: the source cannot be reached"
    cancelled = task("cancelled", 20.0, "cancelled")
    fake = FakeClient({"create-vm": (202, {"task": task("pending")}), "describe-task": polled(cancelled)})
    res = run(fake, "vm", "create", "web2", "--wait")
    assert res.exit_code == 7 and "TaskCancelled: task t-1 was cancelled" in res.stderr


def test_wait_with_a_progress_bar_on_a_terminal():
    fake = FakeClient({"create-vm": (202, {"task": task("pending")}),
                       "describe-task": polled(task("running", 50.0, "half"), task("succeeded", 100.0, "done"))})
    res = run(fake, "vm", "create", "web2", "--wait", "-o", "json", tty=True)
    assert res.exit_code == 0, res.output
    assert "create-vm local/web2" in res.stderr and "100%" in res.stderr
    assert json.loads(res.stdout)["task"]["state"] == "succeeded"


# -- console -----------------------------------------------------------------------------------------
def test_console_url_follows_the_server_scheme():
    path = "/ws/serial?token=jvpc_1&node=local&name=web1"
    assert websocket_url("http://h:7777", path) == "ws://h:7777" + path
    assert websocket_url("https://h", path) == "wss://h" + path
    ticket = {"token": "jvpc_1", "ws_url": path, "expires_at": "x", "node": "local", "name": "web1",
              "type": "serial"}
    fake = FakeClient({"get-vm-console": (200, ticket)})
    res = run(fake, "vm", "console", "web1", "--print-url")
    assert res.exit_code == 0 and res.stdout.strip() == "ws://jvp.test:7777" + path
    assert fake.calls == [("get-vm-console", {"name": "web1", "type": "serial"})]
    res = run(FakeClient({"get-vm-console": error(422, "NotSupported", "no serial console")}),
              "vm", "console", "web1")
    assert res.exit_code == 5 and res.stderr.strip() == "NotSupported: no serial console"
