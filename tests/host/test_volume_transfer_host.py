"""Volume upload and download through a real `jvp serve` (gunicorn), the CLI, interrupted uploads, and a
clone task interrupted by killing the server and recovered when it starts again (tier 3)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, start_server, stop_server
from tests.host.storage_util import GIB, MIB, PoolKeeper, filled_image, sha256, sparse_image

JVP = str(REPO / ".venv" / "bin" / "jvp")


def server_call(server):
    def call(action, body):
        resp = server.post(action, body)
        assert resp.status_code in (200, 202), (action, resp.status_code, resp.text)
        return resp.json()
    return call


@pytest.fixture
def served_pools(live_server, tmp_path):
    keeper = PoolKeeper(server_call(live_server), tmp_path / "pools")
    yield keeper
    keeper.cleanup()


def upload(server, pool, name, path, **params):
    with open(path, "rb") as fh:
        return requests.post(f"{server.url}/api/upload-volume", params={"pool": pool, "name": name, **params},
                             data=fh, timeout=600, headers={"Authorization": f"Bearer {server.token}",
                                                            "Content-Type": "application/octet-stream"})


def download(server, pool, name, out: Path) -> requests.Response:
    with requests.post(f"{server.url}/api/download-volume", json={"pool": pool, "name": name}, stream=True,
                       timeout=600, headers={"Authorization": f"Bearer {server.token}"}) as resp:
        assert resp.status_code == 200, resp.text
        with open(out, "wb") as fh:
            for chunk in resp.iter_content(MIB):
                fh.write(chunk)
        return resp


def test_sparse_raw_and_qcow2_round_trip_with_sha256(live_server, served_pools, tmp_path):
    pool = served_pools.create()["name"]
    size = 320 * MIB
    img = sparse_image(tmp_path / "disk.raw", size, [0, 100 * MIB, 250 * MIB, size - MIB], island_size=4 * MIB)
    resp = upload(live_server, pool, "disk.raw", img)
    assert resp.status_code == 200, resp.text
    vol = resp.json()["volume"]
    assert vol["format"] == "raw" and vol["capacity_bytes"] == size
    # Holes travelled as holes: the volume on the node stays thin.
    assert vol["allocation_bytes"] < 64 * MIB
    assert os.stat(vol["path"]).st_blocks * 512 < 64 * MIB
    got = download(live_server, pool, "disk.raw", tmp_path / "back.raw")
    assert int(got.headers["Content-Length"]) == size and got.headers["X-Volume-Format"] == "raw"
    assert sha256(tmp_path / "back.raw") == sha256(img)

    qcow = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(img), str(qcow)], check=True)
    resp = upload(live_server, pool, "disk.qcow2", qcow)  # format taken from the data
    assert resp.status_code == 200, resp.text
    vol = resp.json()["volume"]
    assert vol["format"] == "qcow2" and vol["capacity_bytes"] == size
    download(live_server, pool, "disk.qcow2", tmp_path / "back.qcow2")
    assert sha256(tmp_path / "back.qcow2") == sha256(qcow)

    tasks = live_server.post("list-tasks", {"kind": "upload-volume"}).json()["tasks"]
    assert {t["state"] for t in tasks} == {"succeeded"} and len(tasks) == 2
    assert live_server.post("describe-volume", {"pool": pool, "name": "disk.raw"}).json()["volume"]["used_by"] == []


def test_upload_refusals_through_the_server(live_server, served_pools, tmp_path):
    pool = served_pools.create()["name"]
    img = sparse_image(tmp_path / "a.raw", 8 * MIB, [0])
    assert upload(live_server, pool, "a.raw", img).status_code == 200
    again = upload(live_server, pool, "a.raw", img)
    assert again.status_code == 409 and again.json()["error"]["code"] == "VolumeExists"
    mismatch = upload(live_server, pool, "b.qcow2", img, format="qcow2")
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == "FormatMismatch"
    chunked = requests.post(f"{live_server.url}/api/upload-volume", params={"pool": pool, "name": "c.raw"},
                            data=iter([b"x" * 1000]), timeout=60,
                            headers={"Authorization": f"Bearer {live_server.token}"})
    assert chunked.status_code == 411 and chunked.json()["error"]["code"] == "LengthRequired"
    names = [v["name"] for v in live_server.post("list-volumes", {"pool": pool}).json()["volumes"]]
    assert names == ["a.raw"]


def test_jvp_call_upload_and_download(live_server, served_pools, tmp_path):
    pool = served_pools.create()["name"]
    img = sparse_image(tmp_path / "cli.raw", 48 * MIB, [0, 20 * MIB])
    env = {**os.environ, "JVP_URL": live_server.url, "JVP_TOKEN": live_server.token}
    up = subprocess.run([JVP, "call", "upload-volume", f"pool={pool}", "name=cli.raw", "--upload", str(img)],
                        capture_output=True, text=True, env=env, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    out = tmp_path / "cli-back.raw"
    down = subprocess.run([JVP, "call", "download-volume", f"pool={pool}", "name=cli.raw", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert sha256(out) == sha256(img)
    dup = subprocess.run([JVP, "call", "upload-volume", f"pool={pool}", "name=cli.raw", "--upload", str(img)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert dup.returncode == 1 and '"VolumeExists"' in dup.stdout


def start_partial_upload(server, pool: str, name: str, declared: int, sent: int) -> socket.socket:
    """An upload whose client sends `sent` of the `declared` bytes and keeps the connection open."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"POST /api/upload-volume?pool={pool}&name={name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {server.token}\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Length: {declared}\r\n\r\n").encode())
    chunk = os.urandom(MIB)
    for _ in range(sent // MIB):
        sock.sendall(chunk)
    return sock


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def volumes(server, pool):
    resp = server.post("list-volumes", {"pool": pool})
    assert resp.status_code == 200, resp.text
    return [v["name"] for v in resp.json()["volumes"]]


def test_an_interrupted_upload_leaves_nothing(live_server, served_pools):
    pool = served_pools.create()["name"]
    sock = start_partial_upload(live_server, pool, "cut.raw", 64 * MIB, 8 * MIB)
    try:
        wait_for(lambda: "cut.raw" in volumes(live_server, pool), what="the upload's volume")
        running = live_server.post("list-tasks", {"kind": "upload-volume", "state": "running"}).json()["tasks"]
        assert running and running[0]["resource"]["name"] == "cut.raw"
    finally:
        sock.close()  # the client goes away 56 MiB short of its Content-Length
    wait_for(lambda: "cut.raw" not in volumes(live_server, pool), what="the partial volume to go")
    # The cleanup runs first, then the task record is finalized.
    task = wait_for(lambda: next((t for t in live_server.post("list-tasks", {"kind": "upload-volume"}).json()["tasks"]
                                  if t["state"] != "running"), None), what="the upload task to end")
    assert task["state"] == "failed" and task["error"]["code"] == "UploadIncomplete"
    assert not (served_pools.base / pool / "cut.raw").exists()


def test_cancelling_an_upload_in_flight_answers_409_and_removes_the_volume(live_server, served_pools):
    pool = served_pools.create()["name"]
    sock = start_partial_upload(live_server, pool, "slow.raw", 64 * MIB, 4 * MIB)
    try:
        wait_for(lambda: "slow.raw" in volumes(live_server, pool), what="the upload's volume")
        (task,) = live_server.post("list-tasks", {"kind": "upload-volume", "state": "running"}).json()["tasks"]
        assert live_server.post("cancel-task", {"id": task["id"]}).json()["task"]["cancel_requested"] is True
        sock.settimeout(0.2)
        answer = b""
        for _ in range(60):  # keep the body coming: the upload notices the cancel between blocks
            try:
                sock.sendall(os.urandom(MIB))
            except OSError:
                pass
            try:
                answer += sock.recv(65536)
            except socket.timeout:
                continue
            if b'"TaskCancelled"' in answer:  # headers and the error body
                break
        assert answer.startswith(b"HTTP/1.1 409"), answer[:200]
        assert b'"TaskCancelled"' in answer, answer
    finally:
        sock.close()
    wait_for(lambda: "slow.raw" not in volumes(live_server, pool), what="the cancelled upload's volume to go")
    done = live_server.post("describe-task", {"id": task["id"]}).json()["task"]
    assert done["state"] == "cancelled", done


def test_tasks_interrupted_by_killing_the_server_are_recovered_on_restart(real_libvirt, tmp_path):
    server = start_server(tmp_path)
    keeper = PoolKeeper(server_call(server), tmp_path / "pools")
    sock = None
    try:
        pool = keeper.create()["name"]
        server_call(server)("create-volume", {"pool": pool, "name": "src.raw", "size_gib": 3, "format": "raw"})
        filled_image(keeper.base / pool / "src.raw", 3 * GIB)
        server_call(server)("refresh-storage-pool", {"name": pool})
        sock = start_partial_upload(server, pool, "up.raw", 256 * MIB, 16 * MIB)
        wait_for(lambda: "up.raw" in volumes(server, pool), what="the upload's volume")
        clone = server_call(server)("clone-volume", {"pool": pool, "name": "src.raw", "new_name": "copy.raw"})["task"]
        # Kill as soon as libvirt has started the copy (its target file exists, the task still runs): the
        # earliest moment, so even a fast disk has the whole 3 GiB copy's time between check and kill.
        wait_for(lambda: (keeper.base / pool / "copy.raw").exists()
                 and server.post("describe-task", {"id": clone["id"]}).json()["task"]["state"] == "running",
                 timeout=30, what="the clone's copy to start")
        os.killpg(server.proc.pid, signal.SIGKILL)  # no graceful shutdown: master and workers die at once
        server.proc.wait(10)
        (tmp_path / "server-killed.log").write_bytes(server.log.read_bytes())  # the restart reuses server.log
        sock.close()
        sock = None

        server = start_server(tmp_path)  # same data dir: recovery runs as the workers start
        keeper.call = server_call(server)
        for task_id, kind in ((clone["id"], "clone-volume"),):
            # A SIGKILLed worker can take a moment to be gone (I/O in flight, not yet reaped): until then its
            # task still counts as running; the first read after it is gone interrupts it.
            task = wait_for(lambda: (lambda t: t if t["state"] != "running" else None)(
                server.post("describe-task", {"id": task_id}).json()["task"]), timeout=60,
                what="the killed worker's task to be recovered")
            assert task["state"] == "failed" and task["error"]["reason"] == "interrupted", task
            assert task["error"]["code"] == "TaskInterrupted" and task["kind"] == kind
        (up,) = server.post("list-tasks", {"kind": "upload-volume"}).json()["tasks"]
        assert up["state"] == "failed" and up["error"]["reason"] == "interrupted"
        # libvirt finishes a node-side copy it cannot abort; the deferred cleanup removes it afterwards.
        wait_for(lambda: volumes(server, pool) == ["src.raw"], timeout=180, what="the partial volumes to go")
        assert sorted(os.listdir(keeper.base / pool)) == ["src.raw"]
    finally:
        if sock is not None:
            sock.close()
        stop_server(server)
        keeper.cleanup()
