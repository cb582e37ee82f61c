"""`jvp serve` under gunicorn, `jvp token`, `jvp call` and the first-start admin token (tier 3)."""
from __future__ import annotations

import json
import os
import stat
import subprocess

import requests

from tests.conftest import REPO, unique

JVP = str(REPO / ".venv" / "bin" / "jvp")


def run(args, server=None, **env):
    full = {**os.environ, **env}
    if server is not None:
        full.update(JVP_URL=server.url, JVP_CONFIG=str(server.data_dir.parent / "config.yaml"),
                    JVP_DATA_DIR=str(server.data_dir))
    return subprocess.run([JVP, *args], capture_output=True, text=True, env=full, timeout=60)


def test_first_start_writes_an_admin_token_0600_and_logs_its_path(live_server):
    path = live_server.data_dir / "auth" / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in live_server.log.read_text()
    tokens = (live_server.data_dir / "auth" / "tokens.yaml").read_text()
    assert live_server.token not in tokens  # stored only hashed
    assert live_server.post("list-nodes").status_code == 200


def test_token_create_prints_the_token_alone(live_server):
    name = unique("cli-")
    res = run(["token", "create", "--name", name, "--role", "viewer"], live_server)
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    assert res.stdout == token + "\n" and token.startswith("jvp_")
    assert live_server.post("list-nodes", token=token).status_code == 200
    assert live_server.post("disable-node", {"name": "local"}, token=token).status_code == 403
    listed = run(["token", "list", "--json"], live_server)
    assert name in {t["name"] for t in json.loads(listed.stdout)}
    assert token not in listed.stdout
    dup = run(["token", "create", "--name", name, "--role", "viewer"], live_server)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    assert run(["token", "revoke", name], live_server).returncode == 0
    assert live_server.post("list-nodes", token=token).status_code == 401


def test_jvp_call(live_server):
    res = run(["call", "list-nodes"], live_server, JVP_TOKEN=live_server.token)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["nodes"][0]["name"] == "local"
    res = run(["call", "describe-node", "name=local"], live_server, JVP_TOKEN=live_server.token)
    assert json.loads(res.stdout)["node"]["state"] == "online"
    res = run(["call", "describe-node", "--json", '{"name": "ghost"}'], live_server, JVP_TOKEN=live_server.token)
    assert res.returncode == 1 and json.loads(res.stdout)["error"]["code"] == "NodeNotFound"
    res = run(["call", "list-nodes"], live_server, JVP_TOKEN="jvp_wrong")
    assert res.returncode == 1 and json.loads(res.stdout)["error"]["code"] == "InvalidToken"


def test_gunicorn_workers_share_tokens_and_metadata(real_libvirt, tmp_path):
    from tests.conftest import start_server, stop_server
    server = start_server(tmp_path, real_libvirt, workers=3)
    try:
        name = unique("w-")
        # Another URI of the same libvirtd: its loopback TCP listener (URIs are compared in canonical form, so
        # qemu+unix:///system would be the local node's qemu:///system again). test:///default would be refused:
        # a test driver node lives in one process, and this server runs three.
        refused = server.post("create-node", {"name": name, "uri": "test:///default"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "InvalidUri")
        assert server.post("create-node", {"name": name, "uri": "qemu+tcp://127.0.0.1/system"}).status_code == 200
        # Many requests land on different workers: all see the node and accept the token.
        seen = {server.post("describe-node", {"name": name}).status_code for _ in range(30)}
        assert seen == {200}
        r = requests.get(f"{server.url}/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["ready"] is True
    finally:
        stop_server(server)


def test_the_served_data_dir_is_private_and_doctor_finds_nothing(live_server):
    """Issue 14, finding 13, on a real `jvp serve`: the data dir 0700, every directory in it 0700 and every file
    0600 (tokens, admin-token, node and keypair files, tasks, the audit log, lock files), `jvp token list` shows
    no token prefix, and `jvp doctor` finds no problem."""
    name = unique("f-key-")
    assert live_server.post("create-keypair", {"name": name}).status_code == 200
    assert live_server.post("modify-node", {"name": "local", "description": "f"}).status_code == 200
    assert live_server.post("delete-keypair", {"name": "ghost"}).status_code == 404  # audited
    data = live_server.data_dir
    try:
        found = {str(p.relative_to(data)): stat.S_IMODE(p.lstat().st_mode) for p in [data, *data.rglob("*")]}
        assert found["."] == 0o700 and found["auth/tokens.yaml"] == 0o600
        wrong = {k: oct(m) for k, m in found.items() if m != (0o700 if (data / k).is_dir() else 0o600)}
        assert wrong == {}
        assert any(k.startswith("audit/audit-") for k in found) and any(k.startswith(".locks/") for k in found)
        listed = run(["token", "list"], live_server)
        assert listed.returncode == 0 and "admin" in listed.stdout and "jvp_" not in listed.stdout
        assert "last used " in listed.stdout  # a time, or "never" until the server's usage flush
        doctor = run(["doctor"], live_server)
        assert doctor.returncode == 0 and "no problems" in doctor.stderr, doctor.stdout + doctor.stderr
    finally:
        live_server.post("delete-keypair", {"name": name})
