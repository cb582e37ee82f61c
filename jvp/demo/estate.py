"""The demo's estate, seeded at start-up through JVP's own actions (`jvp serve --demo`, jvp/server/__init__.py).

libvirt's test driver starts from jvp/demo/inventory.xml (node `local`: web1, db1, build-runner, pools default
and data, networks demo-nat and demo-isolated). At start-up the demo adds, as an admin token named `demo-seed`
would through the API (so the audit log and the task list show them, created by `demo-seed`):
- node `rack-b` (jvp/demo/node2.xml): six VMs, one in each state the test driver can hold (running, paused,
  shut off, crashed, pm-suspended), each with VNC graphics and a serial console, its own pool and network;
- templates debian-12 and ubuntu-24.04 on `local`, alma-9 on `rack-b`: PLANTED (a volume in the template pool
  plus the metadata register-template writes), because the test driver can neither upload an image nor copy
  a volume between pools (README "Demo");
- five VMs on `local` made by create-vm tasks from those templates (VNC and serial like every VM create-vm
  makes), then one suspended and one stopped;
- snapshots of web1 and app-1 (create-snapshot tasks), of ldap1 on rack-b.
The metrics collector samples every node as on a real server. The seed is idempotent per process: what
exists is kept (a restarted worker of the same data dir finds its templates and skips them).
"""
from __future__ import annotations

import logging
from typing import Any

from jvp.demo import DEMO_DIR

log = logging.getLogger(__name__)

SEED_TOKEN = "demo-seed"
SECOND_NODE = "rack-b"
GIB = 2**30

TEMPLATES = [  # node, pool, name, os, source (where a real server would fetch it from)
    ("local", "default", "debian-12", {"name": "debian", "version": "12", "arch": "x86_64"},
     "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"),
    ("local", "default", "ubuntu-24.04", {"name": "ubuntu", "version": "24.04", "arch": "x86_64"},
     "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"),
    (SECOND_NODE, "vms", "alma-9", {"name": "almalinux", "version": "9", "arch": "x86_64"},
     "https://repo.almalinux.org/almalinux/9/cloud/x86_64/images/AlmaLinux-9-GenericCloud-latest.x86_64.qcow2"),
]
VMS = [  # name, template, vcpus, memory MiB, then the state to leave it in
    ("app-1", "debian-12", 2, 2048, "running"),
    ("app-2", "debian-12", 2, 2048, "running"),
    ("cache", "ubuntu-24.04", 1, 1024, "paused"),
    ("staging", "ubuntu-24.04", 2, 4096, "shutoff"),
    ("monitoring", "debian-12", 1, 1024, "running"),
]
SNAPSHOTS = [("local", "web1", "baseline"), ("local", "app-1", "before-upgrade"), (SECOND_NODE, "ldap1", "nightly")]


class _Client:
    def __init__(self, app: Any, token: str):
        self.http, self.token, self.tasks = app.test_client(), token, app.extensions["jvp"].tasks

    def call(self, action: str, body: dict) -> dict:
        resp = self.http.post(f"/api/{action}", json=body, headers={"Authorization": f"Bearer {self.token}"})
        data = resp.get_json(silent=True) or {}
        if resp.status_code >= 400:
            raise RuntimeError(f"{action} {body}: {resp.status_code} {data.get('error')}")
        task = data.get("task")
        if resp.status_code == 202 and task:
            done = self.tasks.wait(task["id"], 60)
            if done["state"] != "succeeded":
                raise RuntimeError(f"{action} {body}: task {done['state']}: {done.get('error')}")
            return done
        return data


def _plant_template(services: Any, node: str, pool: str, name: str, os_: dict, url: str) -> None:
    """A registered template as register-template leaves it (what tests/api/test_template.py plants too)."""
    from jvp.domain.storage_pool import TEMPLATE_POOL_SUFFIX
    if services.store.get("template", node, name) is not None:
        return
    tpool = pool + TEMPLATE_POOL_SUFFIX
    if tpool not in {p.name for p in services.pools.list(node, include_internal=True)["pools"]}:
        path = services.pools.describe(node, pool).path
        services.pools.create(node, tpool, "dir", path=f"{path}/{TEMPLATE_POOL_SUFFIX}", internal=True)
    vol_name = f"{name}-v1.qcow2"
    services.gateway.create_volume(node, tpool, vol_name, 2 * GIB, "qcow2", sparse=True)
    vol = services.volumes.describe(node, tpool, vol_name)
    doc = services.templates.registrar.new_doc(node, pool, name, "cloud", vol, "qcow2", 300 * 2**20, 2 * GIB,
                                    {"type": "url", "url": url},
                                    {"os": os_, "features": {"cloud_init": True, "virtio": True,
                                                             "qemu_guest_agent": True},
                                     "tags": ["demo"], "description": "planted by the demo (the test driver "
                                     "cannot download or upload an image)"})
    services.store.create("template", node, name, doc=doc)


def seed(app: Any) -> None:
    services = app.extensions["jvp"]
    if services.tokens.info(SEED_TOKEN) is not None:
        services.tokens.revoke(SEED_TOKEN)
    token = services.tokens.create(SEED_TOKEN, "admin")[0]
    api = _Client(app, token)
    try:
        names = {n["name"] for n in api.call("list-nodes", {})["nodes"]}
        if SECOND_NODE not in names:
            api.call("create-node", {"name": SECOND_NODE, "uri": f"test://{DEMO_DIR / 'node2.xml'}",
                                     "description": "second rack (libvirt test driver)",
                                     "labels": {"rack": "b"}})
        for node, pool, name, os_, url in TEMPLATES:
            _plant_template(services, node, pool, name, os_, url)
        existing = {v["name"] for v in api.call("list-vms", {"node": "local"})["vms"]}
        for name, template, vcpus, mem, state in VMS:
            if name in existing:
                continue
            api.call("create-vm", {"node": "local", "name": name, "template": template, "vcpus": vcpus,
                                   "memory_mib": mem, "nics": [{"network": "demo-nat"}],
                                   "start": state != "shutoff", "labels": {"env": "demo"}})
            if state == "paused":
                api.call("suspend-vm", {"node": "local", "name": name})
        for node, vm, snap in SNAPSHOTS:
            have = {s["name"] for s in api.call("list-snapshots", {"node": node, "vm": vm})["snapshots"]}
            if snap not in have:
                api.call("create-snapshot", {"node": node, "vm": vm, "name": snap,
                                             "description": "seeded by the demo"})
    finally:
        services.tokens.revoke(SEED_TOKEN)
