"""The README's templates session works as written (against a real `jvp serve`), with the local image server
standing in for cloud.debian.org."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import libvirt

from tests.conftest import REPO, unique
from tests.host.storage_util import remove_domain, remove_pool
from tests.host.test_readme import readme_block
from tests.imageserver import ImageServer
from tests.templateutil import images  # noqa: F401 - pytest fixture


def test_readme_templates_session(live_server, tmp_path, images):
    script = readme_block("templates-session")
    pool, template, vm = unique("readme-"), unique("tpl-"), unique("vm-")
    srv = ImageServer().start()
    srv.add_file("/bookworm/debian-12-genericcloud-amd64.qcow2", images.small)
    digest = hashlib.sha512(images.small.read_bytes()).hexdigest()
    srv.add_bytes("/bookworm/SHA512SUMS", f"{digest}  debian-12-genericcloud-amd64.qcow2\n".encode())
    live_server.post("create-storage-pool", {"name": pool, "type": "dir", "path": str(tmp_path / pool)})
    env = {**os.environ, "JVP_URL": live_server.url, "JVP_DATA_DIR": str(live_server.data_dir),
           "JVP_CONFIG": str(live_server.data_dir.parent / "config.yaml"), "POOL": pool, "TEMPLATE": template,
           "VM": vm, "IMAGE_URL": srv.url("/bookworm/debian-12-genericcloud-amd64.qcow2"),
           "SUMS_URL": srv.url("/bookworm/SHA512SUMS")}
    try:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr + res.stdout
        answers = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        registered, listed, created, usage, refused, check, update, deleted_vm, deleted = answers
        assert registered == {"kind": "register-template", "state": "succeeded", "error": None,
                              "message": registered["message"]}
        assert listed["name"] == template and listed["state"] == "ready" and listed["verified"] is True
        assert listed["checksum"] == f"sha256:{hashlib.sha256(images.small.read_bytes()).hexdigest()}"
        assert listed["verified_checksum"] == f"sha512:{digest}" and listed["format"] == "qcow2"
        assert created["state"] == "succeeded" and created["kind"] == "create-vm"
        assert usage["vm_count"] == 1 and usage["vms"] == [vm] and usage["volumes"] == [f"{pool}/{vm}-root.qcow2"]
        assert refused == {"code": "TemplateInUse", "volumes": [f"{pool}/{vm}-root.qcow2"]}
        assert check == {"update_available": False, "decided_by": "checksum", "vms": [vm]}
        assert update == {"task": None, "refused": "TemplateUpToDate"}
        assert deleted_vm == {"deleted": [f"{vm}-root.qcow2"]}
        assert deleted["ok"] is True and deleted["template_pool_removed"] is True
    finally:
        srv.stop()
        conn = libvirt.open("qemu:///system")
        remove_domain(conn, vm)
        remove_pool(conn, pool + "_templates_")
        remove_pool(conn, pool)
        conn.close()
