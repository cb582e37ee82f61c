"""The template metadata schema: version 2 keeps `checksum` a sha256 (SPEC 2.4) and a verified sha512 in
`verified_checksum`; a version 1 file is migrated on read."""
from __future__ import annotations

import yaml
import pytest

from jvp.settings import REPO_ROOT
from jvp.errors import JvpError
from jvp.store import YamlMetadataStore
from jvp.store.migrations import template_v1_to_v2

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "b" * 128


def doc(**source) -> dict:
    image = {"volume": "t-v1.qcow2", "path": "/p/_templates_/t-v1.qcow2", "format": "qcow2", "size": 1,
             "virtual_size": 2, "version": 1}
    return {"name": "t", "uuid": "u", "type": "cloud", "node": "local", "created_at": "x", "updated_at": "x",
            "storage": {"pool": "p", "template_pool": "p_templates_", **{k: v for k, v in image.items()}},
            "os": {}, "features": {}, "usage": {"vm_count": 0, "last_used": None}, "tags": [], "description": "",
            "source": {"type": "url", "url": "http://x/t.qcow2", "verified": True, **source},
            "previous": [{**image, "checksum": SHA512}, {**image, "volume": "t-v0", "checksum": SHA256}]}


@pytest.fixture
def store(tmp_path):
    return YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema")


def test_a_version_1_file_with_a_sha512_is_migrated_on_read_and_written_as_version_2(store):
    path = store.path("template", "local", "t")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"schema_version": 1, **doc(checksum=SHA512)}))
    got = store.get("template", "local", "t")
    assert got["schema_version"] == 3  # 1 -> 2 -> 3 (v3 only added optional fields)
    assert got["source"]["checksum"] is None and got["source"]["verified_checksum"] == SHA512
    assert [(p["checksum"], p.get("verified_checksum")) for p in got["previous"]] == [(None, SHA512), (SHA256, None)]
    store.put("template", "local", "t", doc=got)
    on_disk = yaml.safe_load(path.read_text())
    assert on_disk["schema_version"] == 3 and on_disk["source"]["verified_checksum"] == SHA512


def test_the_migration_keeps_a_sha256_and_drops_what_is_not_a_digest():
    assert template_v1_to_v2(doc(checksum=SHA256.upper().replace("SHA256", "sha256")))["source"]["checksum"] == SHA256
    migrated = template_v1_to_v2(doc(checksum="garbage"))["source"]
    assert migrated["checksum"] is None and migrated["verified_checksum"] is None
    assert "checksum" not in template_v1_to_v2(doc())["source"]   # a volume source never had one


def test_version_2_takes_only_a_sha256_as_checksum(store):
    good = template_v1_to_v2(doc(checksum=SHA256, verified_checksum=SHA512))
    assert store.create("template", "local", "ok", doc=good)
    with pytest.raises(JvpError) as err:
        store.put("template", "local", "bad", doc={**good, "source": {**good["source"], "checksum": SHA512}})
    assert err.value.code == "MetadataInvalid" and "source/checksum" in err.value.message
