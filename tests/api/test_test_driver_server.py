"""`jvp serve` with libvirt's test driver (issue 13): a test:/// node keeps its state in the process that opened
it, so a server with any test:/// node runs one worker process, and a server running several refuses to add
one; the address lookup that crashes the test driver is never made, so the worker survives every request."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from jvp.app import create_app
from jvp.server import single_process_when_test_driver
from jvp.store import YamlMetadataStore
from tests.conftest import REPO, ApiClient, make_settings, start_server, stop_server

FIXTURE = REPO / "tests" / "fixtures" / "hosts" / "foreign.xml"


def worker_pids(master: int) -> set[int]:
    """The gunicorn workers: the master's child processes, from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(ppid) == master:
            pids.add(int(entry.name))
    return pids


def test_a_test_driver_server_runs_one_process_and_every_answer_agrees(tmp_path):
    fixture = tmp_path / "fixtures" / "foreign.xml"
    fixture.parent.mkdir()
    shutil.copyfile(FIXTURE, fixture)
    server = start_server(tmp_path, f"test://{fixture}", workers=2)
    try:
        workers = worker_pids(server.proc.pid)
        assert len(workers) == 1, workers
        assert "running 1 worker process instead of 2" in server.log.read_text()

        vm = {"node": "local", "name": "plain-running"}
        assert server.post("suspend-vm", vm).status_code == 200
        states = [server.post("describe-vm", vm).json()["vm"]["state"] for _ in range(12)]
        assert states == ["paused"] * 12  # every request sees the change, whichever thread serves it
        assert server.post("resume-vm", vm).status_code == 200
        assert {server.post("describe-vm", vm).json()["vm"]["state"] for _ in range(6)} == {"running"}

        # The VM whose address lookup would crash the test driver (a NIC on a network without IP), asked for
        # again and again, alone and in listings: answered each time, by the same worker (it never died).
        for _ in range(3):
            resp = server.post("describe-vm", {"node": "local", "name": "noip-running"})
            assert resp.status_code == 200, resp.text
            assert server.post("list-vms", {"node": "local"}).status_code == 200
        assert worker_pids(server.proc.pid) == workers
        assert server.proc.poll() is None
    finally:
        stop_server(server)


def test_a_server_of_several_processes_refuses_a_test_driver_node(tmp_path):
    settings = make_settings(tmp_path)
    app = create_app(settings, processes=3)
    services = app.extensions["jvp"]
    try:
        api = ApiClient(client=app.test_client(), app=app, services=services,
                        tokens={"admin": services.tokens.create("t-admin", "admin")[0]})
        err = api.error("create-node", {"name": "numa", "uri": "test:///default"}, status=400, code="InvalidUri")
        assert "workers: 1" in err["message"] and "3 worker processes" in err["message"]
        assert api.services.store.get("node", "numa") is None  # nothing half-done
        # Not a test:/// URI: the check does not apply (it fails later, on reachability, for its own reason).
        resp = api.call("create-node", {"name": "far", "uri": "qemu+tcp://127.0.0.1:1/system"})
        assert resp.get_json()["error"]["code"] == "NodeUnreachable"
    finally:
        services.close()


def test_serve_keeps_one_process_while_a_stored_node_is_a_test_driver_one(tmp_path):
    settings = make_settings(tmp_path, local_uri="qemu:///system", workers=4)
    assert single_process_when_test_driver(settings).workers == 4  # no test:/// node: as configured
    store = YamlMetadataStore(settings.data_dir, settings.schema_dir)
    store.create("node", "lab", doc={"schema_version": 1, "name": "lab", "uri": "test:///default",
                                     "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
    assert single_process_when_test_driver(settings).workers == 1
    local_test = dataclasses.replace(settings, local_uri=f"test://{FIXTURE}", data_dir=str(tmp_path / "other"))
    assert single_process_when_test_driver(local_test).workers == 1
