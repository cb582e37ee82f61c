"""The YAML metadata store: atomic writes, locks across processes, validation, migrations."""
from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import pytest
import yaml

from jvp.domain.volume import VolumeView
from jvp.settings import REPO_ROOT
from jvp.store import MetadataCorrupt, YamlMetadataStore
from jvp.store import schemas as schemas_mod

SCHEMAS = REPO_ROOT / "metadata_schema"


@pytest.fixture
def store(tmp_path):
    return YamlMetadataStore(tmp_path, SCHEMAS)


def node(name="n1", **extra):
    return {"name": name, "uri": "test:///default", "created_at": "2026-01-01T00:00:00Z", **extra}


def test_put_get_list_delete(store, tmp_path):
    store.put("node", "n1", doc=node())
    path = tmp_path / "metadata/nodes/n1.yaml"
    assert yaml.safe_load(path.read_text())["schema_version"] == 1
    assert path.read_text().startswith("schema_version: 1\n")
    assert store.get("node", "n1")["uri"] == "test:///default"
    assert [k for k, _ in store.list("node").items] == [("n1",)]
    assert store.delete("node", "n1") is True
    assert store.delete("node", "n1") is False
    assert store.get("node", "n1") is None


def test_template_keys_and_their_directory(store, tmp_path):
    from jvp.service.template.install import TemplateInstaller
    vol = VolumeView(pool="default_templates_", name="deb12-v1.qcow2", path="/p/_templates_/deb12-v1.qcow2")
    doc = TemplateInstaller.new_doc("local", "default", "deb12", "cloud", vol, "qcow2", 1, 2, {"type": "url"},
                                    {"os": {}, "features": {}, "tags": [], "description": ""})
    store.put("template", "local", "deb12", doc=doc)
    assert (tmp_path / "metadata/local/deb12/metadata.yaml").exists()
    store.put("node", "n1", doc=node())  # nodes/ must not look like a template node dir
    assert [k for k, _ in store.list("template").items] == [("local", "deb12")]
    store.delete("template", "local", "deb12")
    assert not (tmp_path / "metadata/local/deb12").exists()


def test_create_refuses_an_existing_file(store):
    assert store.create("node", "n1", doc=node()) is True
    assert store.create("node", "n1", doc=node(description="other")) is False
    assert "description" not in store.get("node", "n1")


@pytest.mark.parametrize("key", ["../x", "a/b", "..", "", ".hidden", "x" * 200])
def test_unsafe_keys_never_become_paths(store, key):
    with pytest.raises(ValueError):
        store.path("node", key)


def test_invalid_document_is_never_written(store, tmp_path):
    with pytest.raises(Exception) as exc:
        store.put("node", "n1", doc={"name": "n1"})
    assert getattr(exc.value, "code", None) == "MetadataInvalid"
    assert not (tmp_path / "metadata/nodes/n1.yaml").exists()


@pytest.mark.parametrize("content,reason", [
    ("name: [x\n", "invalid YAML"),
    ("- a\n- b\n", "not a mapping"),
    ("name: n1\n", "schema_version"),
    ("schema_version: 1\nname: n1\n", "uri"),
    ("schema_version: 99\nname: n1\nuri: x\ncreated_at: x\n", "newer"),
])
def test_corrupt_files_are_reported_with_their_path(store, tmp_path, content, reason):
    path = tmp_path / "metadata/nodes/bad.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(MetadataCorrupt) as exc:
        store.get("node", "bad")
    assert exc.value.details["path"] == str(path)
    assert reason in exc.value.message
    listing = store.list("node")
    assert listing.items == [] and listing.errors[0]["path"] == str(path)
    # An update never overwrites a corrupt file.
    with pytest.raises(MetadataCorrupt):
        store.update("node", "bad", fn=lambda d: node("bad"))
    assert path.read_text() == content


def test_a_failed_write_leaves_the_old_file(store, tmp_path, monkeypatch):
    store.put("node", "n1", doc=node(description="old"))

    def fail(*_a, **_k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        store.put("node", "n1", doc=node(description="new"))
    monkeypatch.undo()
    assert store.get("node", "n1")["description"] == "old"
    assert [p.name for p in (tmp_path / "metadata/nodes").iterdir()] == ["n1.yaml"]  # no temp left


def test_migration_hook_upgrades_old_versions_on_read(tmp_path):
    schema_dir = tmp_path / "schemas"
    schema_dir.mkdir()
    for f in SCHEMAS.glob("*.yaml"):
        (schema_dir / f.name).write_text(f.read_text())
    v2 = yaml.safe_load((SCHEMAS / "node.v1.yaml").read_text())
    v2["properties"]["schema_version"] = {"const": 2}
    v2["properties"]["display_name"] = {"type": "string"}
    v2["required"].append("display_name")
    (schema_dir / "node.v2.yaml").write_text(yaml.safe_dump(v2))

    @schemas_mod.migration("node", 1)
    def add_display_name(doc):
        doc["display_name"] = doc["name"].upper()
        return doc

    try:
        store = YamlMetadataStore(tmp_path / "data", schema_dir)
        path = store.path("node", "n1")
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump({"schema_version": 1, **node()}))
        doc = store.get("node", "n1")
        assert doc["schema_version"] == 2 and doc["display_name"] == "N1"
        store.put("node", "n1", doc=doc)
        assert yaml.safe_load(path.read_text())["schema_version"] == 2
    finally:
        schemas_mod.MIGRATIONS.pop(("node", 1))


def test_a_missing_migration_is_reported(tmp_path):
    schema_dir = tmp_path / "schemas"
    schema_dir.mkdir()
    for f in SCHEMAS.glob("*.yaml"):
        (schema_dir / f.name).write_text(f.read_text())
    v2 = yaml.safe_load((SCHEMAS / "node.v1.yaml").read_text())
    v2["properties"]["schema_version"] = {"const": 2}
    (schema_dir / "node.v2.yaml").write_text(yaml.safe_dump(v2))
    store = YamlMetadataStore(tmp_path / "data", schema_dir)
    path = store.path("node", "n1")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"schema_version": 1, **node()}))
    with pytest.raises(MetadataCorrupt, match="no migration"):
        store.get("node", "n1")


def _increment(root: str, n: int) -> None:
    store = YamlMetadataStore(root, SCHEMAS)
    for _ in range(n):
        store.update("node", "counter", fn=lambda d: {**d, "description": str(int(d["description"]) + 1)})


def test_updates_are_serialized_across_processes(store, tmp_path):
    store.put("node", "counter", doc=node("counter", description="0"))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_increment, args=(str(tmp_path), 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert store.get("node", "counter")["description"] == "100"


def _increment_in_threads(root: str, threads: int, n: int) -> None:
    workers = [threading.Thread(target=_increment, args=(root, n)) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)


def test_updates_are_serialized_across_threads_and_processes(store, tmp_path):
    """The threads of a process queue in the process for a file's lock (jvp/store/locks.py) and one of them
    takes the file's: no update is lost between threads, nor between processes each running threads."""
    store.put("node", "counter", doc=node("counter", description="0"))
    _increment_in_threads(str(tmp_path), 4, 10)
    assert store.get("node", "counter")["description"] == "40"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_increment_in_threads, args=(str(tmp_path), 3, 10)) for _ in range(3)]
    for p in procs:
        p.start()
    _increment_in_threads(str(tmp_path), 3, 10)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert store.get("node", "counter")["description"] == str(40 + 4 * 3 * 10)


def test_private_kinds_are_0600(store):
    store.put("tokens", doc={"tokens": []})
    assert oct(Path(store.path("tokens")).stat().st_mode & 0o777) == "0o600"


def _hold_lock(root: str, ready, release) -> None:
    s = YamlMetadataStore(Path(root), SCHEMAS)
    with s.locked("node", "n1"):
        ready.set()
        release.wait(30)


def test_a_lock_held_past_the_timeout_is_a_409_not_a_crash(store, tmp_path, monkeypatch):
    """A process stuck (or frozen) while holding a file's lock: the next writer gets MetadataLocked (409)
    after LOCK_TIMEOUT_S, the file is untouched, and once the holder lets go the write goes through."""
    from jvp.store.interface import MetadataLocked
    store.put("node", "n1", doc=node())
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        monkeypatch.setattr(YamlMetadataStore, "LOCK_TIMEOUT_S", 0.3)
        with pytest.raises(MetadataLocked) as err:
            store.update("node", "n1", fn=lambda d: {**d, "description": "changed"})
        assert (err.value.status, err.value.code) == (409, "MetadataLocked")
        assert "nodes/n1.yaml" in err.value.message
        assert store.get("node", "n1").get("description") != "changed"
    finally:
        release.set()
        holder.join(10)
    store.update("node", "n1", fn=lambda d: {**d, "description": "changed"})
    assert store.get("node", "n1")["description"] == "changed"


# -- issue 14: no write JVP cannot read back; a private data dir ---------------------------------------------
@pytest.mark.parametrize("text", ["a\ud800b", "a\udfff"], ids=["surrogate", "low surrogate"])
@pytest.mark.parametrize("write", ["put", "create", "update"])
def test_a_document_that_would_not_read_back_is_refused_and_the_old_file_stays(store, tmp_path, text, write):
    """A lone surrogate dumps as YAML that PyYAML cannot load again (a node file the whole local node then
    depended on). Each write loads its text back first and refuses."""
    store.put("node", "n1", doc=node(description="old"))
    path = tmp_path / "metadata/nodes/n1.yaml"
    before = path.read_bytes()
    with pytest.raises(Exception) as exc:
        if write == "put":
            store.put("node", "n1", doc=node(description=text))
        elif write == "create":
            store.create("node", "n2", doc=node("n2", description=text))
        else:
            store.update("node", "n1", fn=lambda d: {**d, "labels": {"k": text}})
    assert (getattr(exc.value, "code", None), getattr(exc.value, "status", None)) == ("MetadataInvalid", 500)
    assert "/description" in exc.value.message or "/labels" in exc.value.message or "YAML" in exc.value.message
    assert text not in exc.value.message
    assert path.read_bytes() == before and store.get("node", "n1")["description"] == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["n1.yaml"]  # no temp file, no n2
    assert store.list("node").errors == []


def test_text_that_reads_back_is_kept_exactly(store):
    # U+0085 (NEL) too: libyaml's emitter escapes it (PyYAML's wrote it raw and it came back as a line break)
    text = "tab\there\nnew line\r\n\x00 NUL \ufffe \u2028 emoji \U0001f600 \U0001fffe \x85 NEL"
    store.put("node", "n1", doc=node(description=text))
    assert store.get("node", "n1")["description"] == text


def test_every_file_and_directory_of_the_store_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = YamlMetadataStore(tmp_path / "data", SCHEMAS)
        store.put("node", "n1", doc=node())
        store.put("task", "0b7c9b8e-1111-2222-3333-444455556666", doc={
            "id": "0b7c9b8e-1111-2222-3333-444455556666", "kind": "x", "state": "pending", "progress": 0,
            "message": "queued", "resource": {"kind": "vm", "node": "local", "name": "a"}, "params": {},
            "result": None, "error": None, "created_at": "2026-01-01T00:00:00Z", "started_at": None,
            "finished_at": None, "created_by": None, "request_id": None, "owner": None,
            "cancel_requested": False, "cleanup": []})
        with store.locked("keypair", "k1"):
            pass
        assert store.writable()
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in (tmp_path / "data").rglob("*")}
    assert modes and {k: oct(m) for k, m in modes.items() if m not in (0o700, 0o600)} == {}
    assert {k for k, m in modes.items() if m == 0o600} >= {"data/metadata/nodes/n1.yaml",
                                                          "data/tasks/0b7c9b8e-1111-2222-3333-444455556666.yaml"}
    assert any(k.startswith("data/.locks/") and k.endswith(".lock") for k in modes)


def test_a_read_of_unchanged_text_skips_the_parse_but_sees_any_change(store, tmp_path, monkeypatch):
    """The parsed-text cache: the same text again gives a copy of the kept document (no YAML parse, no
    schema check); another process's change (new text) is parsed; a corrupt file is still reported."""
    store.put("node", "n1", doc=node())
    path = tmp_path / "metadata/nodes/n1.yaml"
    parses = []
    real = store._parse
    monkeypatch.setattr(store, "_parse", lambda *a: parses.append(1) or real(*a))
    first = store.get("node", "n1")
    first["uri"] = "changed by the caller"  # a copy: the kept document stays as written
    assert store.get("node", "n1")["uri"] == "test:///default"
    assert parses == []  # the text written is the text read: no parse at all
    path.write_text(path.read_text().replace("test:///default", "qemu:///system"))  # another process
    assert store.get("node", "n1")["uri"] == "qemu:///system" and parses == [1]
    assert store.update("node", "n1", fn=lambda d: {**d, "uri": "test:///x"})["uri"] == "test:///x"
    assert store.get("node", "n1")["uri"] == "test:///x" and parses == [1]
    path.write_text("uri: [unclosed\n")
    with pytest.raises(MetadataCorrupt):
        store.get("node", "n1")
    assert store.delete("node", "n1") and store.get("node", "n1") is None


def test_an_update_without_durability_skips_only_the_directory_fsync(store, tmp_path, monkeypatch):
    store.put("node", "n1", doc=node())
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.path.isdir(f"/proc/self/fd/{fd}")) or real(fd))
    store.update("node", "n1", fn=lambda d: {**d, "uri": "test:///a"}, durable=False)
    assert synced == [False]  # the file's content only
    store.update("node", "n1", fn=lambda d: {**d, "uri": "test:///b"})
    assert synced == [False, False, True]  # then the file and its directory
    assert store.get("node", "n1")["uri"] == "test:///b"


def _settle(directory: Path) -> None:
    """The directory's mtime well in the past, as it is long after its last change."""
    past = os.stat(directory).st_mtime - 60
    os.utime(directory, (past, past))


def test_keys_of_a_settled_directory_are_kept_and_any_change_is_seen(store, tmp_path):
    nodes = tmp_path / "metadata/nodes"
    store.put("node", "n1", doc=node())
    assert store.keys("node") == [("n1",)]
    assert not store._dir_keys  # changed just now: not kept (a change in the same clock tick would not show)
    _settle(nodes)
    assert store.keys("node") == [("n1",)]
    assert "metadata/nodes" in store._dir_keys  # kept: the next call only stats the directory
    keys = store.keys("node")
    keys.append(("mutated",))  # callers get their own list
    assert store.keys("node") == [("n1",)]
    store.put("node", "n2", doc=node("n2"))  # a new file (written by rename): the directory's mtime moves
    assert store.keys("node") == [("n1",), ("n2",)]
    _settle(nodes)
    store.keys("node")
    store.delete("node", "n1")
    assert store.keys("node") == [("n2",)]
    _settle(nodes)
    store.keys("node")
    (nodes / "n3.yaml").write_text("x: 1\n")  # written by another process or by hand
    assert store.keys("node") == [("n2",), ("n3",)]


def test_keys_of_a_missing_directory_are_empty(store):
    assert store.keys("node") == []
    assert store.keys("task") == []


def test_a_deleted_record_takes_its_lock_file_with_it(store, tmp_path):
    """One lock file per record that exists, not per record ever written (task records and console tokens come
    and go by the thousand)."""
    locks_dir = tmp_path / ".locks"
    for i in range(5):
        store.put("node", f"n{i}", doc=node(f"n{i}"))
    assert len(list(locks_dir.glob("*.lock"))) == 5
    for i in range(5):
        assert store.delete("node", f"n{i}")
    assert list(locks_dir.glob("*.lock")) == []
    assert store.delete("node", "n0") is False and list(locks_dir.glob("*.lock")) == []
    store.put("node", "n0", doc=node("n0"))  # and the record comes back with a lock of its own
    assert store.get("node", "n0")["name"] == "n0" and len(list(locks_dir.glob("*.lock"))) == 1


def test_prune_locks_removes_only_the_store_lock_files_of_records_gone_and_free(store, tmp_path):
    locks_dir = tmp_path / ".locks"
    store.put("node", "kept", doc=node("kept"))
    store.put("node", "held", doc=node("held"))
    stale = [locks_dir / f"{i:032x}.lock" for i in range(3)]  # left by an older version: records long gone
    for path in stale:
        path.write_text("")
    other = locks_dir / "task-resource-0b1c.lock"  # not the store's: never looked at
    other.write_text("")
    with store.locked("node", "creating"):  # a record being made: its lock file exists, the record not yet
        assert store.prune_locks() == 3
        assert len(list(locks_dir.glob("*.lock"))) == 4  # kept, held, creating, task-resource
    assert other.exists() and not any(p.exists() for p in stale)
    assert store.get("node", "kept")["name"] == "kept"
    assert store.prune_locks() == 1  # `creating` never made: its lock file goes once free
