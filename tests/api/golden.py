"""Recorded answers: a fixed script of calls on the test driver (the demo inventory), whose JSON answers were
recorded before the architecture rework (issue 12) and must stay identical after it.

`python -m tests.api.golden` re-records tests/api/golden_answers.json (only do that for a change that is
meant to alter answers, and say so in the commit). tests/api/test_golden.py replays the script and compares.
Volatile values (request ids, times, task ids, tokens) are replaced by placeholders before comparing.
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = str(HERE.parent.parent)  # the checkout's path shows in the local node's test:// URI
ANSWERS = HERE / "golden_answers.json"

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
VOLATILE_KEYS = {"request_id", "id", "task_id", "created_at", "updated_at", "started_at", "finished_at",
                 "last_used_at", "expires_at", "eta_s", "duration_ms", "uptime_s", "uptime", "time", "cpu_time_ns",
                 "kvm_probed_at", "token", "url", "heartbeat_at", "elapsed_s", "rate_bps", "fingerprint",
                 "public_key", "private_key", "boot_time", "waited_s", "uuid", "mac", "macs"}

# (action, body, role). Reads of every kind of object, errors of every kind, then writes and their effects.
SCRIPT: list[tuple[str, dict[str, Any], str]] = [
    ("list-nodes", {}, "viewer"),
    ("describe-node", {"name": "local"}, "viewer"),
    ("describe-node", {"name": "ghost"}, "viewer"),
    ("describe-node-summary", {"name": "local"}, "viewer"),
    ("describe-node-vms", {"name": "local"}, "viewer"),
    ("list-vms", {}, "viewer"),
    ("list-vms", {"state": "running"}, "viewer"),
    ("list-vms", {"state": "dancing"}, "viewer"),
    ("list-vms", {"node": "ghost"}, "viewer"),
    ("describe-vm", {"name": "web1"}, "viewer"),
    ("describe-vm", {"name": "db1"}, "viewer"),
    ("describe-vm", {"name": "build-runner"}, "viewer"),
    ("describe-vm", {"name": "ghost"}, "viewer"),
    ("describe-vm-xml", {"name": "db1"}, "admin"),
    ("describe-vm-xml", {"name": "db1"}, "operator"),
    ("list-storage-pools", {}, "viewer"),
    ("describe-storage-pool", {"name": "default"}, "viewer"),
    ("describe-storage-pool", {"name": "data"}, "viewer"),
    ("describe-storage-pool", {"name": "ghost"}, "viewer"),
    ("list-volumes", {"pool": "default"}, "viewer"),
    ("list-volumes", {}, "viewer"),
    ("describe-volume", {"pool": "default", "name": "web1-root.qcow2"}, "viewer"),
    ("describe-volume", {"pool": "default", "name": "ghost"}, "viewer"),
    ("list-networks", {}, "viewer"),
    ("describe-network", {"name": "demo-nat"}, "viewer"),
    ("describe-network", {"name": "demo-isolated"}, "viewer"),
    ("describe-network", {"name": "ghost"}, "viewer"),
    ("list-network-leases", {"name": "demo-nat"}, "viewer"),
    ("list-network-sources", {}, "admin"),
    ("list-templates", {}, "viewer"),
    ("list-keypairs", {}, "viewer"),
    ("list-snapshots", {"vm": "web1"}, "viewer"),
    ("list-tasks", {}, "viewer"),
    ("describe-task", {"id": "nope"}, "viewer"),
    ("describe-token", {}, "viewer"),
    ("list-audit-events", {}, "viewer"),
    ("create-vm", {}, "viewer"),
    ("create-vm", {"name": "x"}, "operator"),
    ("start-vm", {"name": "web1"}, "operator"),
    ("stop-vm", {"name": "db1"}, "operator"),
    ("delete-network", {"name": "demo-nat"}, "admin"),
    ("delete-storage-pool", {"name": "default"}, "admin"),
    ("create-node", {"name": "second", "uri": "ftp://x"}, "admin"),
    ("create-node", {"name": "second", "uri": "test:///default"}, "admin"),
    ("describe-node", {"name": "second"}, "viewer"),
    ("list-vms", {"node": "second"}, "viewer"),
    ("modify-node", {"name": "second", "description": "the second", "labels": {"rack": "r2"}}, "admin"),
    ("delete-node", {"name": "second"}, "admin"),
    ("create-network", {"name": "golden-net", "mode": "isolated", "ipv4_cidr": "198.18.7.1/24",
                        "dhcp": True}, "admin"),
    ("create-network", {"name": "golden-bad", "mode": "isolated", "ipv4_cidr": "198.18.7.1/24"}, "admin"),
    ("describe-network", {"name": "golden-net"}, "viewer"),
    ("add-network-host", {"name": "golden-net", "mac": "52:54:00:00:00:07", "ip": "198.18.7.7",
                          "hostname": "seven"}, "admin"),
    ("describe-network", {"name": "golden-net"}, "viewer"),
    ("remove-network-host", {"name": "golden-net", "ip": "198.18.7.7"}, "admin"),
    ("stop-network", {"name": "golden-net"}, "admin"),
    ("delete-network", {"name": "golden-net"}, "admin"),
    ("create-volume", {"pool": "default", "name": "golden.qcow2", "size_gib": 1, "format": "qcow2"}, "operator"),
    ("create-volume", {"pool": "default", "name": "golden.qcow2", "size_gib": 1, "format": "qcow2"}, "operator"),
    ("describe-volume", {"pool": "default", "name": "golden.qcow2"}, "viewer"),
    ("resize-volume", {"pool": "default", "name": "golden.qcow2", "size_gib": 2}, "operator"),
    ("delete-volume", {"pool": "default", "name": "golden.qcow2"}, "operator"),
    ("delete-volume", {"pool": "default", "name": "web1-root.qcow2"}, "operator"),
    ("modify-vm", {"name": "db1", "description": "golden", "labels": {"tier": "db"}}, "operator"),
    ("describe-vm", {"name": "db1"}, "viewer"),
    ("list-vms", {"label": "tier=db"}, "viewer"),
    ("modify-vm", {"name": "db1", "vcpus": 2, "memory_mib": 2048}, "operator"),
    ("describe-vm", {"name": "db1"}, "viewer"),
    ("attach-nic", {"name": "db1", "network": "demo-isolated", "mac": "52:54:00:00:00:42"}, "operator"),
    ("describe-vm", {"name": "db1"}, "viewer"),
    ("detach-nic", {"name": "db1", "mac": "52:54:00:00:00:42"}, "operator"),
    ("stop-vm", {"name": "web1", "force": True}, "operator"),
    ("describe-vm", {"name": "web1"}, "viewer"),
    ("start-vm", {"name": "web1"}, "operator"),
    ("stop-vm", {"name": "build-runner"}, "operator"),
    ("resume-vm", {"name": "build-runner"}, "operator"),
    ("suspend-vm", {"name": "build-runner"}, "operator"),
    ("create-keypair", {"name": "golden-key", "algorithm": "ed25519"}, "operator"),
    ("list-keypairs", {}, "viewer"),
    ("delete-keypair", {"name": "golden-key"}, "operator"),
    ("create-snapshot", {"vm": "db1", "name": "golden-snap"}, "operator"),
    ("list-snapshots", {"vm": "db1"}, "viewer"),
    ("describe-snapshot", {"vm": "db1", "name": "golden-snap"}, "viewer"),
    ("delete-snapshot", {"vm": "db1", "name": "golden-snap"}, "operator"),
    ("create-storage-pool", {"name": "golden-pool", "type": "dir", "path": "/var/lib/jvp-golden"}, "admin"),
    ("describe-storage-pool", {"name": "golden-pool"}, "viewer"),
    ("delete-storage-pool", {"name": "golden-pool"}, "admin"),
    ("create-vm", {"name": "golden-vm", "vcpus": 1, "memory_mib": 512, "disk_size_gib": 1,
                   "nics": [{"network": "demo-isolated"}], "labels": {"golden": "yes"}}, "operator"),
    ("list-tasks", {}, "viewer"),
    ("create-snapshot", {"vm": "golden-vm", "name": "golden-snap", "description": "first"}, "operator"),
    ("list-snapshots", {"vm": "golden-vm"}, "viewer"),
    ("describe-snapshot", {"vm": "golden-vm", "name": "golden-snap"}, "viewer"),
    ("revert-snapshot", {"vm": "golden-vm", "name": "golden-snap"}, "operator"),
    ("delete-snapshot", {"vm": "golden-vm", "name": "golden-snap"}, "operator"),
    ("attach-volume", {"name": "golden-vm", "pool": "default", "volume": "scratch.raw"}, "operator"),
    ("describe-vm", {"name": "golden-vm"}, "viewer"),
    ("detach-volume", {"name": "golden-vm", "target": "vdb"}, "operator"),
    ("describe-vm", {"name": "golden-vm"}, "viewer"),
    ("delete-vm", {"name": "golden-vm", "force": True, "delete_volumes": True}, "operator"),
    ("list-vms", {}, "viewer"),
    ("list-volumes", {"pool": "default"}, "viewer"),
    ("list-storage-pools", {}, "viewer"),
    ("list-networks", {}, "viewer"),
]


SHARED_NODE = "second"  # on test:///default, whose state libvirt shares across the test process's connections


def normalize(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        out = {k: normalize(v, k) for k, v in value.items()}
        if out.get("node") == SHARED_NODE and out.get("state_reason") is not None:
            # the reason of test:///default's VM is what earlier tests in the same process did to it
            # (suspend/resume: 'unpaused'); its state and figures stay compared
            out["state_reason"] = "<state_reason>"
        return out
    if isinstance(value, list):
        # a list of volatile strings (a VM's macs) is masked item by item
        items = [normalize(v, key if key == "macs" else None) for v in value]
        if all(isinstance(v, dict) for v in items):  # libvirt's own listing order varies (pools, volumes)
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    if key in VOLATILE_KEYS and value is not None:
        return f"<{key}>"
    if isinstance(value, str) and TIME.match(value):
        return "<time>"
    if isinstance(value, str) and REPO in value:
        return value.replace(REPO, "<repo>")
    return value


def _wait_task(api, answer: dict[str, Any]) -> dict[str, Any] | None:
    task = answer.get("task") if isinstance(answer, dict) else None
    if not isinstance(task, dict) or "id" not in task:
        return None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        t = api.call("describe-task", {"id": task["id"]}).get_json()["task"]
        if t["state"] not in ("pending", "running"):
            return t
        time.sleep(0.05)
    raise AssertionError(f"task {task['id']} did not finish")


def run_script(api) -> list[dict[str, Any]]:
    out = []
    for action, body, role in SCRIPT:
        resp = api.call(action, body, role=role)
        answer = resp.get_json()
        entry: dict[str, Any] = {"action": action, "body": body, "role": role, "status": resp.status_code,
                                 "answer": normalize(answer)}
        done = _wait_task(api, answer)
        if done is not None:
            entry["task_end"] = normalize(done)
        out.append(entry)
    return out


def record_with_fresh_api() -> list[dict[str, Any]]:
    from tests.conftest import build_api, make_settings
    with tempfile.TemporaryDirectory() as tmp:
        api = build_api(make_settings(Path(tmp)))
        try:
            return run_script(api)
        finally:
            api.services.close()


if __name__ == "__main__":
    answers = record_with_fresh_api()
    ANSWERS.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(answers)} answers in {ANSWERS}", file=sys.stderr)
