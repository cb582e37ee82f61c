"""The README's storage session works as written (against a real `jvp serve`)."""
from __future__ import annotations

import json
import os
import subprocess

import libvirt

from tests.conftest import REPO, unique
from tests.host.storage_util import remove_pool
from tests.host.test_readme import readme_block


def test_readme_storage_session(live_server, tmp_path):
    script = readme_block("storage-session")
    pool = unique("readme-")
    pool_dir = tmp_path / "pools" / pool
    env = {**os.environ, "JVP_URL": live_server.url, "JVP_DATA_DIR": str(live_server.data_dir),
           "JVP_CONFIG": str(live_server.data_dir.parent / "config.yaml"), "POOL": pool, "POOL_DIR": str(pool_dir)}
    try:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr + res.stdout
        answers = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        assert all("error" not in a for a in answers), answers
        created, base, top, uploaded, same, task, listed, deleted = answers
        assert created["pool"]["name"] == pool and created["pool"]["state"] == "running"
        assert base["volume"]["format"] == "qcow2" and top["volume"]["backing"]["volume"] == "base.qcow2"
        assert uploaded["volume"]["capacity_bytes"] == 64 * 1024 * 1024 and same == {"identical": True}
        assert task["task"]["state"] == "succeeded" and task["task"]["kind"] == "clone-volume"
        assert {v["name"] for v in listed["volumes"]} == {"base.qcow2", "top.qcow2", "disk.raw", "disk-2.raw"}
        assert deleted["ok"] is True and len(deleted["deleted_volumes"]) == 4 and deleted["directory_removed"]
        assert not pool_dir.exists()
    finally:
        conn = libvirt.open("qemu:///system")
        remove_pool(conn, pool)
        conn.close()
