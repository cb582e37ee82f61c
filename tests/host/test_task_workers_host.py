"""Tasks across gunicorn workers (tier 3): a task running in one worker is listed, described and cancelled
through another, and its worker sees the cancel through the task's file."""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import time
from pathlib import Path

import yaml

from tests.conftest import start_server, stop_server
from tests.host.storage_util import MIB, PoolKeeper
from tests.host.test_volume_transfer_host import server_call, start_partial_upload, volumes, wait_for


def worker_pids(master: int) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.add(int(entry.name))
    return pids


def holds_a_store_lock(lock_dir: Path) -> bool:
    """Whether some process holds one of the metadata store's file locks right now."""
    for lock in lock_dir.glob("*.lock"):
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    return False


def freeze_outside_the_store_locks(pid: int, lock_dir: Path) -> None:
    """SIGSTOP the worker at a moment it holds no metadata lock (a worker frozen mid-write would make the
    other worker wait for that file's lock, which the store answers with 409 MetadataLocked after 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        os.kill(pid, signal.SIGSTOP)
        if not holds_a_store_lock(lock_dir):
            return
        os.kill(pid, signal.SIGCONT)
        assert time.monotonic() < deadline, "the worker never let go of its metadata locks"
        time.sleep(0.02)


def test_a_task_of_one_worker_is_listed_and_cancelled_through_another(real_libvirt, tmp_path):
    server = start_server(tmp_path, real_libvirt, workers=2)
    keeper = PoolKeeper(server_call(server), tmp_path / "pools")
    sock = None
    stopped = None
    try:
        workers = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(worker_pids(server.proc.pid)),
                           what="two gunicorn workers")
        pool = keeper.create()["name"]
        sock = start_partial_upload(server, pool, "slow.raw", 64 * MIB, 4 * MIB)
        wait_for(lambda: "slow.raw" in volumes(server, pool), what="the upload's volume")
        (path,) = (server.data_dir / "tasks").glob("*.yaml")
        record = yaml.safe_load(path.read_text())
        owner = record["owner"]["pid"]
        assert owner in workers and record["kind"] == "upload-volume" and record["state"] == "running"

        # Freeze the worker running the upload: every request from now on can only be served by the other.
        freeze_outside_the_store_locks(owner, server.data_dir / ".locks")
        stopped = owner
        listed = server.post("list-tasks", {"kind": "upload-volume"})
        assert listed.status_code == 200, listed.text
        (task,) = listed.json()["tasks"]
        assert task["id"] == record["id"] and task["state"] == "running"  # alive (frozen), not interrupted
        assert server.post("describe-task", {"id": task["id"]}).json()["task"]["state"] == "running"
        cancelled = server.post("cancel-task", {"id": task["id"]})
        assert cancelled.status_code == 200 and cancelled.json()["task"]["cancel_requested"] is True
        os.kill(owner, signal.SIGCONT)
        stopped = None

        # The owner learns of the cancel from the task's file (the other worker could not signal it).
        sock.settimeout(0.2)
        answer = b""
        for _ in range(100):
            try:
                sock.sendall(os.urandom(MIB))
            except OSError:
                pass
            try:
                answer += sock.recv(65536)
            except socket.timeout:
                continue
            if b'"TaskCancelled"' in answer:
                break
        assert answer.startswith(b"HTTP/1.1 409") and b'"TaskCancelled"' in answer, answer[:300]
        wait_for(lambda: "slow.raw" not in volumes(server, pool), what="the cancelled upload's volume to go")
        assert server.post("describe-task", {"id": task["id"]}).json()["task"]["state"] == "cancelled"
        assert worker_pids(server.proc.pid) == workers  # nobody was restarted on the way
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        if sock is not None:
            sock.close()
        stop_server(server)
        keeper.cleanup()
