"""Issue 14, finding 13: the data dir is private (0700, every file in it 0600, also under a umask of 022), tokens.yaml
keeps no token prefix beside each hash, /readyz shows the libvirt URI only to a caller with a token, and integer
fields refuse 1.5 instead of truncating it."""
from __future__ import annotations

import os
import stat

import pytest
import yaml

from jvp.demo import INVENTORY
from tests.conftest import build_api, make_settings


def modes(root) -> dict[str, str]:
    return {str(p.relative_to(root)): oct(stat.S_IMODE(p.lstat().st_mode)) for p in [root, *root.rglob("*")]}


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_every_directory_is_0700_and_every_file_0600(tmp_path, umask_022):
    from jvp.server import prepare
    settings = make_settings(tmp_path)
    prepare(settings)  # the first start: tokens.yaml and the admin-token file
    api = build_api(settings)
    try:
        api.ok("create-keypair", {"name": "k1"}, role="operator")
        api.ok("modify-node", {"name": "local", "description": "d"})
        task = api.ok("create-vm", {"name": "p1", "volume": "scratch.raw", "start": False}, role="operator")
        api.services.tasks.wait(task["task"]["id"], 30)
        api.error("describe-vm", {"name": "ghost"}, status=404)
        api.call("delete-vm", {"name": "ghost"})  # an audited failure
    finally:
        api.services.close()
    data = tmp_path / "data"
    found = modes(data)
    for must in ("auth/tokens.yaml", "auth/admin-token", "keypairs/k1.yaml", "metadata/nodes/local.yaml"):
        assert found.get(must) == "0o600", (must, found.get(must))
    assert any(k.startswith("tasks/") for k in found) and any(k.startswith("audit/audit-") for k in found)
    assert any(k.startswith(".locks/") for k in found) and "audit/.audit.lock" in found
    wrong = {k: m for k, m in found.items()
             if m != ("0o700" if (data / k).is_dir() else "0o600") and k != "test-fixtures"}
    assert wrong == {}


def test_an_existing_0755_data_dir_is_made_private_at_start(tmp_path, umask_022):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    api = build_api(make_settings(tmp_path))
    api.services.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_tokens_yaml_keeps_no_token_prefix(api, settings):
    token, info = api.services.tokens.create("ci", "viewer")
    doc = yaml.safe_load((settings.data_path / "auth/tokens.yaml").read_text())
    assert doc["schema_version"] == 2
    for record in doc["tokens"]:
        assert set(record) <= {"name", "role", "sha256", "created_at", "expires_at"}
    text = (settings.data_path / "auth/tokens.yaml").read_text()
    assert token[:10] not in text and token[4:10] not in text
    assert "prefix" not in info
    assert api.client.post("/api/list-nodes", json={}, headers={"Authorization": f"Bearer {token}"}).status_code \
        == 200


def test_a_v1_tokens_file_is_migrated_and_saved_without_prefixes_at_start(tmp_path):
    from jvp.server import prepare
    from jvp.service.auth import token_digest
    settings = make_settings(tmp_path)
    auth = settings.data_path / "auth"
    auth.mkdir(parents=True)
    token = "jvp_" + "x" * 43
    (auth / "tokens.yaml").write_text(yaml.safe_dump({"schema_version": 1, "tokens": [
        {"name": "old", "role": "admin", "sha256": token_digest(token), "prefix": token[:10],
         "created_at": "2026-01-01T00:00:00Z", "expires_at": None}]}))
    assert prepare(settings) is None  # a token exists: no new admin token
    doc = yaml.safe_load((auth / "tokens.yaml").read_text())
    assert doc["schema_version"] == 2 and "prefix" not in doc["tokens"][0] and token[:10] not in str(doc)
    api = build_api(settings)
    try:
        assert api.client.post("/api/list-nodes", json={},
                               headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        api.services.close()


def test_readyz_shows_the_uri_only_to_a_caller_with_a_token(api):
    anonymous = api.client.get("/readyz")
    assert anonymous.status_code == 200
    body = anonymous.get_data(as_text=True)
    assert str(INVENTORY) not in body and "test://" not in body
    assert anonymous.get_json()["checks"]["local_node"] == {"ok": True}
    bad = api.client.get("/readyz", headers={"Authorization": "Bearer jvp_wrong"})
    assert "test://" not in bad.get_data(as_text=True) and bad.status_code == 200
    viewer = api.client.get("/readyz", headers={"Authorization": f"Bearer {api.tokens['viewer']}"})
    assert viewer.get_json()["checks"]["local_node"]["uri"] == f"test://{INVENTORY}"


def test_readyz_is_a_503_not_a_422_when_the_local_node_file_is_corrupt(api, settings):
    path = settings.data_path / "metadata/nodes/local.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("name: [broken\n")
    resp = api.client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["local_node"] == {"ok": False, "code": "MetadataCorrupt"}


@pytest.mark.parametrize("action,body,field", [
    ("modify-vm", {"name": "web1", "vcpus": 1.5}, "vcpus"),
    ("modify-vm", {"name": "web1", "memory_mib": 1024.5}, "memory_mib"),
    ("modify-vm", {"name": "web1", "vcpus": 2.0}, "vcpus"),
    ("modify-vm", {"name": "web1", "vcpus": "2"}, "vcpus"),
    ("modify-vm", {"name": "web1", "vcpus": True}, "vcpus"),
    ("create-vm", {"name": "x", "disk_size_gib": 1.5}, "disk_size_gib"),
    ("create-vm", {"name": "x", "disk_size_gib": 1, "wait_timeout_s": 30.5}, "wait_timeout_s"),
    ("create-vm", {"name": "x", "disk_size_gib": 1, "extra_disks": [{"size_gib": 1.5}]}, "extra_disks"),
    ("stop-vm", {"name": "web1", "timeout_s": 1.5}, "timeout_s"),
    ("create-volume", {"pool": "default", "name": "v", "size_gib": 1.5}, "size_gib"),
    ("create-keypair", {"name": "k", "algorithm": "rsa", "bits": 2048.0}, "bits"),
    ("list-tasks", {"limit": 1.5}, "limit"),
    ("list-audit-events", {"limit": 1.5}, "limit"),
])
def test_integers_are_strict(api, action, body, field):
    before = api.ok("describe-vm", {"name": "web1"})["vm"]
    err = api.error(action, body, status=400, code="ValidationFailed")
    assert field in err["details"]["field_errors"]
    after = api.ok("describe-vm", {"name": "web1"})["vm"]
    assert (after["vcpus"], after["memory_mib"]) == (before["vcpus"], before["memory_mib"])
    assert api.ok("list-tasks", {})["tasks"] == []
