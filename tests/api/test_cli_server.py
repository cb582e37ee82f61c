"""The resource commands (`jvp vm list`, `jvp vm create --wait`, ...) as a user runs them: the `jvp` script in a
subprocess against a real `jvp serve` whose local node is libvirt's test driver (issue 19, the CLI's done-when
point: listing, creating with --wait, -o json, and the exit codes of errors)."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess

import pytest

from jvp.demo import INVENTORY
from tests.conftest import REPO, free_port, jvp_script, start_server, stop_server, unique


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    inventory = tmp / "fixtures" / "inventory.xml"
    inventory.parent.mkdir()
    shutil.copyfile(INVENTORY, inventory)
    srv = start_server(tmp, f"test://{inventory}")
    yield srv
    stop_server(srv)


def env_of(server, home, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JVP_")}
    # HOME: no ~/.config/jvp/client.yaml of the user running the tests; JVP_CONFIG: no local admin token.
    env.update({"HOME": str(home), "JVP_URL": server.url, "JVP_TOKEN": server.token, "JVP_CONFIG": os.devnull,
                "JVP_DATA_DIR": str(home / "no-data"), **extra})
    return env


@pytest.fixture
def jvp(server, tmp_path):
    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([jvp_script(), *args], capture_output=True, text=True, timeout=120,
                              env=env_of(server, tmp_path, **extra))
    return run


def vm_names(server) -> set[str]:
    return {v["name"] for v in server.post("list-vms", {"node": "local"}).json()["vms"]}


def test_vm_list_as_a_table_and_as_json(jvp, server):
    listed = server.post("list-vms", {}).json()["vms"]
    assert listed  # the demo inventory has VMs
    res = jvp("vm", "list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "NODE", "STATE"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert rows == {v["name"]: [v["node"], v["state"]] for v in listed}

    res = jvp("vm", "list", "-o", "json")
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert [v["name"] for v in answer["vms"]] == [v["name"] for v in listed] and answer["errors"] == []

    res = jvp("vm", "show", listed[0]["name"], "-o", "json")
    assert res.returncode == 0 and json.loads(res.stdout)["vm"]["uuid"] == listed[0]["uuid"]


def test_vm_create_with_wait_shows_progress_then_the_task(jvp, server):
    name = unique("cli-")
    try:
        res = jvp("vm", "create", name, "--disk-size-gib", "1", "--memory-mib", "128", "--wait", "-o", "json")
        assert res.returncode == 0, res.stderr
        task = json.loads(res.stdout)["task"]
        assert task["state"] == "succeeded" and task["kind"] == "create-vm"
        assert task["result"]["vm"]["name"] == name
        progress = [line for line in res.stderr.splitlines() if line.startswith(f"task {task['id']}")]
        assert progress[-1].startswith(f"task {task['id']} create-vm local/{name}: succeeded 100%"), res.stderr
        assert name in vm_names(server)
        shown = jvp("vm", "show", name)
        assert shown.returncode == 0 and {"name": name, "state": "running"}.items() <= {
            line.split(None, 1)[0]: line.split(None, 1)[1] for line in shown.stdout.splitlines()
            if len(line.split(None, 1)) == 2}.items()
    finally:
        server.post("delete-vm", {"name": name, "force": True, "delete_volumes": True})
    assert name not in vm_names(server)


def test_wait_on_a_terminal_draws_a_progress_bar(server, tmp_path):
    """stderr a terminal: rich's bar with the task's label and its end at 100%; stdout (piped) the JSON."""
    name = unique("cli-")
    main, secondary = pty.openpty()
    try:
        proc = subprocess.Popen([jvp_script(), "vm", "create", name, "--disk-size-gib", "1", "--memory-mib", "128",
                                 "--wait", "-o", "json"], stdout=subprocess.PIPE, stderr=secondary, text=True,
                                env=env_of(server, tmp_path, TERM="xterm", COLUMNS="160"))
        os.close(secondary)
        out = proc.communicate(timeout=120)[0]
        seen = b""
        while select.select([main], [], [], 0.5)[0]:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert proc.returncode == 0, seen
        assert json.loads(out)["task"]["state"] == "succeeded"
        text = seen.decode("utf-8", "replace")
        assert f"create-vm local/{name}" in text and "100%" in text and "\x1b[" in text  # drawn, not plain lines
    finally:
        os.close(main)
        server.post("delete-vm", {"name": name, "force": True, "delete_volumes": True})


def test_an_unknown_vm_exits_4_with_the_code_on_stderr(jvp):
    res = jvp("vm", "show", "jvptest-ghost")
    assert res.returncode == 4
    assert res.stdout == ""
    assert res.stderr.startswith("VmNotFound: ") and "jvptest-ghost" in res.stderr


def test_a_validation_error_exits_2_and_creates_nothing(jvp, server):
    name = unique("cli-")
    res = jvp("vm", "create", name, "--disk-size-gib", "1", "--memory-mib", "1", "--wait")
    assert res.returncode == 2
    assert res.stderr.startswith("ValidationFailed: ") and "memory_mib" in res.stderr
    assert name not in vm_names(server)
    res = jvp("vm", "create", name, "--firmware", "coreboot")  # refused by the CLI itself: a usage error
    assert res.returncode == 2 and "coreboot" in res.stderr
    assert name not in vm_names(server)


def test_a_conflict_exits_5_and_a_bad_token_3(jvp, server):
    running = next(v["name"] for v in server.post("list-vms", {}).json()["vms"] if v["state"] == "running")
    res = jvp("vm", "delete", running)  # a running VM without force
    assert res.returncode == 5, res.stderr
    assert res.stderr.startswith("InvalidState: ") and "is running" in res.stderr
    assert running in vm_names(server)
    res = jvp("vm", "list", JVP_TOKEN="jvp_wrong")
    assert res.returncode == 3 and res.stderr.startswith("InvalidToken: ")


def test_a_failed_task_exits_7_with_the_task_code(jvp, server):
    name = unique("cli-")
    url = f"http://127.0.0.1:{free_port()}/image.qcow2"  # nothing listens there
    res = jvp("template", "register", name, "--pool", "default", "--source", json.dumps({"type": "url", "url": url}),
              "--wait")
    assert res.returncode == 7, res.stdout + res.stderr
    assert res.stderr.splitlines()[-1].startswith("SourceUnreachable: ")
    assert "failed" in res.stdout  # the task, as key/value
    templates = server.post("list-templates", {"node": "local"}).json()["templates"]
    assert name not in {t["name"] for t in templates}


def test_completion_offers_the_servers_vm_names(jvp, server):
    res = jvp(_JVP_COMPLETE="bash_complete", COMP_WORDS="jvp vm show ", COMP_CWORD="3")
    assert res.returncode == 0, res.stderr
    offered = {line.split(",", 1)[1] for line in res.stdout.splitlines()}
    assert offered == vm_names(server)


def test_the_readme_cli_session_runs_as_written(server, tmp_path):
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- cli-session.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert match, "README has no cli-session block"
    name = unique("web-")
    script = match.group(1).replace("web9", name)
    bindir = tmp_path / "bin"  # `jvp` on PATH is this checkout's
    bindir.mkdir()
    (bindir / "jvp").symlink_to(jvp_script())
    env = env_of(server, tmp_path, PATH=f"{bindir}:{os.environ['PATH']}")
    try:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                             env=env, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        out = res.stdout.splitlines()
        running = {v["name"] for v in server.post("list-vms", {}).json()["vms"] if v["state"] == "running"}
        assert running <= set(out)  # the jq line's names
        assert "running" in out and out[-1] == "exit 4"  # the VM's state; the exit code of the show after delete
        assert f"VmNotFound: vm '{name}' not found" in res.stderr
        assert f"create-vm local/{name}: succeeded 100%" in res.stderr
    finally:
        server.post("delete-vm", {"name": name, "force": True, "delete_volumes": True})
    assert name not in vm_names(server)
