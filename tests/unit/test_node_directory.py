"""NodeDirectory's stat-checked cache of node records: a change written by another worker (another store
instance on the same files) is seen at the next read; a deleted or corrupt file is reported as before."""
from __future__ import annotations

from pathlib import Path

import pytest

from jvp.errors import JvpError
from jvp.service.node_directory import NodeDirectory
from jvp.store import YamlMetadataStore

SCHEMAS = Path(__file__).resolve().parents[2] / "metadata_schema"


def doc(name: str, uri: str) -> dict:
    return {"name": name, "uri": uri, "created_at": "2026-01-01T00:00:00Z"}


@pytest.fixture
def stores(tmp_path):
    return YamlMetadataStore(tmp_path, SCHEMAS), YamlMetadataStore(tmp_path, SCHEMAS)


def test_a_change_by_another_worker_is_seen_at_once(stores):
    mine, other = stores
    directory = NodeDirectory(mine, "test:///default")
    mine.put("node", "n1", doc=doc("n1", "qemu+ssh://a/system"))
    assert directory.locate("n1") == ("n1", "qemu+ssh://a/system")
    assert directory.locate("n1") == ("n1", "qemu+ssh://a/system")  # from the cache
    other.put("node", "n1", doc=doc("n1", "qemu+ssh://b/system"))
    assert directory.locate("n1") == ("n1", "qemu+ssh://b/system")
    other.put("node", "n2", doc=doc("n2", "qemu+ssh://c/system"))
    assert [r.name for r in directory.records()[0]] == ["local", "n1", "n2"]
    other.delete("node", "n1")
    with pytest.raises(JvpError) as e:
        directory.locate("n1")
    assert e.value.code == "NodeNotFound"
    assert [r.name for r in directory.records()[0]] == ["local", "n2"]


def test_a_caller_changing_its_record_does_not_change_the_cache(stores):
    mine, _ = stores
    directory = NodeDirectory(mine, "test:///default")
    mine.put("node", "n1", doc=doc("n1", "qemu+ssh://a/system"))
    directory._doc("n1")["uri"] = "mutated"
    assert directory.locate("n1")[1] == "qemu+ssh://a/system"


def test_a_corrupt_file_is_listed_in_errors_not_cached(stores):
    mine, _ = stores
    directory = NodeDirectory(mine, "test:///default")
    mine.put("node", "n1", doc=doc("n1", "qemu+ssh://a/system"))
    directory.records()
    path = mine.path("node", "n1")
    path.write_text("name: [unclosed\n")
    recs, errors = directory.records()
    assert [r.name for r in recs] == ["local"]
    assert errors and errors[0]["code"] == "MetadataCorrupt" and errors[0]["path"] == str(path)
    mine.put("node", "n1", doc=doc("n1", "qemu+ssh://d/system"))
    assert directory.locate("n1")[1] == "qemu+ssh://d/system"
