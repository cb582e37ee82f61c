"""The Keypairs page against the real server (tier 4): a generated key's private half is shown once, with a
download that saves <name>.pem; importing shows the API's validation error for a bad key; delete asks for the
name first. Test keypairs are named jvptest-* and deleted through the API afterwards."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import unique

pytestmark = pytest.mark.web


@pytest.fixture
def keypairs(web_api) -> Iterator[list[str]]:
    """Names of keypairs a test makes; each is deleted through the API afterwards, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        resp = web_api.post("delete-keypair", {"name": name})
        assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)


def row(pg, name: str):
    return pg.locator(f'[data-testid="keypair-row"][data-key="{name}"]')


def public_half(private_key_file: Path) -> str:
    """The public key ssh-keygen derives from a private key file (proves the download is a usable key)."""
    private_key_file.chmod(0o600)
    out = subprocess.run(["ssh-keygen", "-y", "-f", str(private_key_file)], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return " ".join(out.split()[:2])


def test_create_shows_the_private_key_once_with_a_pem_download(logged_in_page, web_api, keypairs, tmp_path):
    pg = logged_in_page
    name = unique("wkey-")
    keypairs.append(name)
    pg.get_by_test_id("nav-keypairs").click()
    expect(pg).to_have_url(re.compile(r".*/keypairs/$"))
    expect(pg.get_by_test_id("nav-keypairs")).to_have_attribute("aria-current", "page")
    pg.get_by_test_id("create-keypair").click()
    dialog = pg.get_by_test_id("create-keypair-dialog")
    dialog.get_by_test_id("keypair-name").fill(name)
    dialog.get_by_test_id("create-keypair-dialog-submit").click()

    shown = pg.get_by_test_id("keypair-created-dialog")
    expect(shown.get_by_test_id("private-key-warning")).to_contain_text("only time it is shown")
    key_box = shown.get_by_test_id("private-key")
    expect(key_box).to_contain_text("-----BEGIN OPENSSH PRIVATE KEY-----")
    private_key = key_box.inner_text()
    stored = web_api.ok("describe-keypair", {"name": name})["keypair"]
    assert "PRIVATE" not in str(stored)  # the server kept the public half only
    expect(shown.get_by_test_id("created-fingerprint")).to_have_text(stored["fingerprint"])

    with pg.expect_download() as dl:
        shown.get_by_test_id("private-key-download").click()
    download = dl.value
    assert download.suggested_filename == f"{name}.pem"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_text().strip() == private_key.strip()
    # the downloaded key IS the private half of the stored key (compared without the comment)
    assert public_half(saved) == " ".join(stored["public_key"].split()[:2])
    expect(shown.get_by_test_id("private-key-downloaded")).to_be_visible()

    shown.get_by_test_id("private-key-saved").check()
    shown.get_by_test_id("keypair-created-dialog-cancel").click()
    expect(shown).to_have_count(0)
    r = row(pg, name)
    expect(r.get_by_test_id("keypair-algorithm-cell")).to_contain_text("ssh-ed25519")
    expect(r.get_by_test_id("keypair-fingerprint")).to_have_text(stored["fingerprint"])
    expect(r.get_by_test_id("keypair-created")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    # Once closed, the private key is nowhere on the page, and nothing brings it back.
    assert "PRIVATE KEY" not in pg.content()
    pg.reload()
    expect(row(pg, name)).to_be_visible()
    assert "PRIVATE KEY" not in pg.content()


def test_rsa_keys_get_their_bits_and_the_name_conflict_shows_under_the_name(logged_in_page, web_api, keypairs):
    pg = logged_in_page
    name = unique("wrsa-")
    keypairs.append(name)
    web_api.ok("import-keypair", {"name": name, "public_key": _fresh_public_key()})
    pg.goto("/keypairs/")
    pg.get_by_test_id("create-keypair").click()
    dialog = pg.get_by_test_id("create-keypair-dialog")
    dialog.get_by_test_id("keypair-name").fill(name)
    dialog.get_by_test_id("keypair-algorithm").select_option("rsa")
    dialog.get_by_test_id("keypair-bits").select_option("2048")
    dialog.get_by_test_id("create-keypair-dialog-submit").click()
    expect(dialog.get_by_test_id("create-keypair-dialog-error-code")).to_have_text("KeypairExists")
    expect(dialog.get_by_test_id("field-keypair-name-error")).to_contain_text(name)

    other = unique("wrsa-")
    keypairs.append(other)
    dialog.get_by_test_id("keypair-name").fill(other)
    dialog.get_by_test_id("create-keypair-dialog-submit").click()
    shown = pg.get_by_test_id("keypair-created-dialog")
    expect(shown.get_by_test_id("private-key")).to_contain_text("-----BEGIN OPENSSH PRIVATE KEY-----")
    shown.get_by_test_id("private-key-saved").check()
    shown.get_by_test_id("keypair-created-dialog-cancel").click()
    expect(row(pg, other).get_by_test_id("keypair-algorithm-cell")).to_have_text("ssh-rsa (2048 bits)")


def _fresh_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_import_shows_the_apis_error_for_a_bad_key_then_imports(logged_in_page, web_api, keypairs):
    pg = logged_in_page
    name = unique("wimp-")
    keypairs.append(name)
    pg.goto("/keypairs/")
    pg.get_by_test_id("import-keypair").click()
    dialog = pg.get_by_test_id("import-keypair-dialog")
    dialog.get_by_test_id("import-name").fill(name)
    dialog.get_by_test_id("import-public-key").fill("ssh-ed25519 AAAAthis-is-not-base64 me@example")
    dialog.get_by_test_id("import-keypair-dialog-submit").click()
    expected = web_api.post("import-keypair", {"name": name, "public_key": "ssh-ed25519 AAAAthis-is-not-base64"})
    assert expected.status_code == 400
    expect(dialog.get_by_test_id("import-keypair-dialog-error-code")).to_have_text("InvalidPublicKey")
    expect(dialog.get_by_test_id("import-keypair-dialog-error-message")).to_contain_text("not a valid OpenSSH public key")
    expect(dialog.get_by_test_id("field-import-public-key-error")).to_contain_text("Not an OpenSSH public key.")
    assert name not in {k["name"] for k in web_api.ok("list-keypairs")["keypairs"]}

    key = _fresh_public_key()
    dialog.get_by_test_id("import-public-key").fill(f"{key} alice@laptop")
    dialog.get_by_test_id("import-keypair-dialog-submit").click()
    expect(dialog).to_have_count(0)
    expect(pg.get_by_test_id("toast-success")).to_contain_text(name)
    r = row(pg, name)
    expect(r).to_contain_text("alice@laptop")
    expect(r).to_contain_text("imported")
    stored = web_api.ok("describe-keypair", {"name": name})["keypair"]
    assert stored["public_key"].split()[:2] == key.split() and stored["imported"] is True
    expect(r.get_by_test_id("keypair-fingerprint")).to_have_text(stored["fingerprint"])

    # The same key again: the server names the keypair that already holds it.
    pg.get_by_test_id("import-keypair").click()
    dialog.get_by_test_id("import-name").fill(unique("wdup-"))
    dialog.get_by_test_id("import-public-key").fill(key)
    dialog.get_by_test_id("import-keypair-dialog-submit").click()
    expect(dialog.get_by_test_id("import-keypair-dialog-error-code")).to_have_text("DuplicateKey")
    expect(dialog.get_by_test_id("import-keypair-dialog-error-message")).to_contain_text(name)


def test_delete_asks_for_the_name_then_removes_the_keypair(logged_in_page, web_api, keypairs):
    pg = logged_in_page
    name = unique("wdel-")
    keypairs.append(name)
    web_api.ok("import-keypair", {"name": name, "public_key": _fresh_public_key()})
    pg.goto("/keypairs/")
    row(pg, name).get_by_test_id("keypair-delete").click()
    dialog = pg.get_by_test_id("delete-keypair-dialog")
    confirm = dialog.get_by_test_id("delete-keypair-dialog-confirm")
    expect(confirm).to_be_disabled()
    dialog.get_by_test_id("delete-keypair-dialog-input").fill(name[:-1])
    expect(confirm).to_be_disabled()
    dialog.get_by_test_id("delete-keypair-dialog-input").fill(name)
    confirm.click()
    expect(dialog).to_have_count(0)
    expect(row(pg, name)).to_have_count(0)
    assert web_api.post("describe-keypair", {"name": name}).status_code == 404


def test_row_actions_stay_in_view_on_a_phone(logged_in_page, web_api, keypairs):
    """A list without a row menu: at 390 px the table scrolls sideways inside its box, and the row's action
    column stays pinned to the box's right edge, so Delete is on screen without scrolling."""
    name = unique("kpphone-")
    keypairs.append(name)
    web_api.ok("create-keypair", {"name": name})
    pg = logged_in_page
    pg.set_viewport_size({"width": 390, "height": 844})
    pg.goto("/keypairs/")
    delete = row(pg, name).get_by_test_id("keypair-delete")
    expect(delete).to_be_visible()
    box = delete.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert pg.evaluate("document.documentElement.scrollWidth") <= 391
