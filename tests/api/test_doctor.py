"""Issue 14: a corrupt metadata file has a documented way out. `jvp doctor` lists the data dir's problems
(files JVP cannot read, names that are no valid key, wrong permissions, crash leftovers) and, with --fix, moves a
corrupt file aside (kept as <name>.corrupt-<time>), makes the permissions private and removes the leftovers;
JVP then works again without anyone editing a file by hand."""
from __future__ import annotations

import json
import os
import stat
import time

import pytest
from click.testing import CliRunner

from jvp.cli import main
from tests.conftest import ApiClient, build_api, make_settings

# What `modify-node {"name": "local", "description": "a\ud800b"}` wrote before the fix: PyYAML dumps the lone
# surrogate as an escape it then refuses to load, so every action on the local node answered 422.
SURROGATE_NODE = ('schema_version: 1\nname: local\nuri: test:///x\ndescription: "a\\uD800b"\n'
                  'created_at: "2026-01-01T00:00:00Z"\n')


@pytest.fixture
def broken(tmp_path):
    """A data dir as an earlier JVP left it after the issue's inputs: a node file and a task file that cannot
    be read, a keypair file whose name ends in a newline, 0755/0644 modes, a temp file of a crashed write."""
    old = os.umask(0o022)
    try:
        settings = make_settings(tmp_path)
        api = build_api(settings)
        api.ok("create-keypair", {"name": "k1"}, role="operator")
        api.services.close()
        TOKENS[settings.data_dir] = api.tokens
        data = settings.data_path
        (data / "metadata/nodes").mkdir(parents=True, exist_ok=True, mode=0o755)
        (data / "metadata/nodes/local.yaml").write_text(SURROGATE_NODE)
        (data / "tasks").mkdir(exist_ok=True)
        (data / "tasks/0b7c9b8e-1111-2222-3333-444455556666.yaml").write_text("id: [unclosed\n")
        (data / "keypairs/k2\n.yaml").write_text((data / "keypairs/k1.yaml").read_text().replace("k1", "k2"))
        os.chmod(data, 0o755)
        os.chmod(data / "keypairs/k1.yaml", 0o644)
        tmp = data / "keypairs/.k1.yaml.abc123.tmp"
        tmp.write_text("half")
        os.utime(tmp, (time.time() - 7200, time.time() - 7200))
        (data / "audit").mkdir(exist_ok=True)
        with open(next((data / "audit").glob("audit-*.jsonl")), "a") as fh:
            fh.write('{"torn": \n')
    finally:
        os.umask(old)
    return settings


TOKENS: dict[str, dict[str, str]] = {}


def reopen(settings) -> ApiClient:
    """The app again on the same data dir, with the tokens made the first time."""
    from jvp.app import create_app
    app = create_app(settings)
    return ApiClient(client=app.test_client(), app=app, services=app.extensions["jvp"],
                     tokens=TOKENS[settings.data_dir])


def doctor(settings, *args):
    config = settings.data_path.parent / "config.yaml"
    config.write_text(f"data_dir: {settings.data_dir}\nlocal_uri: {settings.local_uri}\n")
    return CliRunner().invoke(main, ["doctor", "--config", str(config), *args])


def test_the_broken_local_node_blocks_jvp_until_doctor_fix(broken):
    api = reopen(broken)
    try:
        api.error("describe-node", {"name": "local"}, status=422, code="MetadataCorrupt")
    finally:
        api.services.close()
    listed = doctor(broken)
    assert listed.exit_code == 1, listed.output
    out = listed.output
    data = broken.data_path
    assert f"PROBLEM  {data / 'metadata/nodes/local.yaml'}: node metadata that JVP cannot read" in out
    assert "tasks/0b7c9b8e-1111-2222-3333-444455556666.yaml: task metadata that JVP cannot read" in out
    assert f'PROBLEM  "{data}/keypairs/k2\\n.yaml": keypair metadata that JVP cannot read: its name is not a ' \
           "valid key" in out  # quoted: one problem per line
    assert f"{data / 'metadata/nodes'}: the directory is mode 0755" in out and "keypairs/k1.yaml: the file is mode 0644" in out
    assert "temporary file of a write a crash interrupted" in out
    assert "1 audit line(s) do not parse" in out and "no automatic fix" in out
    assert "jvp doctor --fix" in out
    assert (data / "metadata/nodes/local.yaml").exists()  # listing changes nothing

    fixed = doctor(broken, "--fix")
    assert fixed.exit_code == 1, fixed.output  # the torn audit line has no automatic fix: reported, kept
    assert "FIXED    " in fixed.output and "moved to" in fixed.output
    aside = list((data / "metadata/nodes").glob("local.yaml.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == SURROGATE_NODE  # kept, byte for byte
    assert not (data / "metadata/nodes/local.yaml").exists()
    assert list((data / "tasks").glob("*.corrupt-*")) and list((data / "keypairs").glob("k2*.corrupt-*"))
    assert not (data / "keypairs/.k1.yaml.abc123.tmp").exists()
    for path in [data, *data.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path

    again = json.loads(doctor(broken, "--json").output)
    assert [p["problem"] for p in again["problems"]] == ["1 audit line(s) do not parse (line 2): "
                                                        "list-audit-events skips them"]
    api = reopen(broken)
    try:
        assert api.ok("describe-node", {"name": "local"})["node"]["name"] == "local"
        assert api.ok("modify-node", {"name": "local", "description": "back"})["node"]["description"] == "back"
        assert api.ok("list-tasks", {})["errors"] == []
        assert [k["name"] for k in api.ok("list-keypairs", {})["keypairs"]] == ["k1"]
    finally:
        api.services.close()


def test_a_clean_data_dir_has_no_problems(tmp_path):
    settings = make_settings(tmp_path)
    build_api(settings).services.close()
    result = doctor(settings)
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_a_missing_data_dir_is_reported_not_created(tmp_path):
    settings = make_settings(tmp_path, data_dir=str(tmp_path / "nowhere"))
    result = doctor(settings)
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "nowhere").exists()
