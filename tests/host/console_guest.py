"""A real guest for the console tests (tiers 3 and 4): the cached Debian cloud image as a linked clone in a
temp-dir pool, created through create-vm with a cloud-init user and password, no NIC (the consoles need
none), booted under whatever domain type JVP picks (TCG on this host). One per test module."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import libvirt

from tests.conftest import LiveServer, unique
from tests.host import vmutil

BASE = "jvptest-console-base.qcow2"
USER, PASSWORD = "alice", "Console-Pass-7"


@dataclass
class Guest:
    name: str
    pool: str
    user: str = USER
    password: str = PASSWORD


def _wait_task(server: LiveServer, task_id: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        task = server.post("describe-task", {"id": task_id}).json()["task"]
        if task["state"] not in ("pending", "running"):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"create-vm still {task['state']} after {timeout_s}s: {task}")
        time.sleep(2)


@contextmanager
def booted_guest(server: LiveServer, conn: libvirt.virConnect, tmp: Path) -> Iterator[Guest]:
    """Yields once the guest's cloud-init has finished (its user exists, its getty waits on ttyS0);
    removes the VM and its pool afterwards, whatever happened."""
    guest = Guest(name=unique("con-"), pool=unique("cpool-"))
    try:
        vmutil.upload_file(conn, vmutil.make_pool(conn, guest.pool, tmp / "pool"), BASE, vmutil.guest_image())
        resp = server.post("create-vm", {
            "name": guest.name, "memory_mib": 512, "pool": guest.pool, "volume": BASE, "clone": "linked",
            "cloud_init": {"hostname": guest.name, "users": [{"name": USER, "password": PASSWORD,
                                                             "shell": "/bin/bash"}]},
            "wait_for": "agent", "wait_timeout_s": 600})
        assert resp.status_code == 202, resp.text
        task = _wait_task(server, resp.json()["task"]["id"], 900)
        assert task["state"] == "succeeded", task
        dom = conn.lookupByName(guest.name)
        code, out, err = vmutil.guest_exec(dom, "/usr/bin/cloud-init", "status", "--wait", timeout_s=600)
        assert "done" in out, (code, out, err)
        yield guest
    finally:
        vmutil.drop_domain(conn, guest.name)
        vmutil.drop_pool(conn, guest.pool)
