"""Keypairs: real OpenSSH keys, fingerprints as ssh-keygen prints them, import validation."""
from __future__ import annotations

import shutil
import subprocess

import pytest

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")


def keygen_list(tmp_path, public_key: str) -> tuple[int, str]:
    """(bits, fingerprint) as `ssh-keygen -l` prints them."""
    f = tmp_path / "k.pub"
    f.write_text(public_key + "\n")
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(f)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[0]), out.split()[1]


def keygen_fingerprint(tmp_path, public_key: str) -> str:
    return keygen_list(tmp_path, public_key)[1]


@needs_ssh_keygen
@pytest.mark.parametrize("algorithm,bits,prefix", [("ed25519", 256, "ssh-ed25519"), ("rsa", 3072, "ssh-rsa")])
def test_create_returns_a_real_private_key_once(api, tmp_path, algorithm, bits, prefix):
    body = {"name": f"k-{algorithm}", "algorithm": algorithm, **({"bits": bits} if algorithm == "rsa" else {})}
    data = api.ok("create-keypair", body, role="operator")
    kp, private = data["keypair"], data["private_key"]
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert kp["public_key"].startswith(prefix + " ") and kp["bits"] == bits
    assert keygen_list(tmp_path, kp["public_key"])[0] == bits
    key_file = tmp_path / "id"
    key_file.write_text(private)
    key_file.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True,
                             check=True).stdout.split()[:2]
    assert derived == kp["public_key"].split()[:2]
    assert kp["fingerprint"] == keygen_fingerprint(tmp_path, kp["public_key"])
    # The private key is never stored nor shown again.
    stored = api.services.store.path("keypair", kp["name"]).read_text()
    assert "PRIVATE" not in stored
    again = api.ok("describe-keypair", {"name": kp["name"]}, role="viewer")
    assert "private_key" not in again and again["keypair"] == kp


@needs_ssh_keygen
def test_import_and_fingerprint(api, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "me@laptop", "-f", str(tmp_path / "e")],
                   check=True)
    pub = (tmp_path / "e.pub").read_text().strip()
    kp = api.ok("import-keypair", {"name": "laptop", "public_key": pub}, role="operator")["keypair"]
    assert kp["imported"] is True and kp["comment"] == "me@laptop" and kp["algorithm"].startswith("ecdsa")
    assert (kp["bits"], kp["fingerprint"]) == keygen_list(tmp_path, pub)
    assert [k["name"] for k in api.ok("list-keypairs")["keypairs"]] == ["laptop"]
    err = api.error("import-keypair", {"name": "laptop2", "public_key": pub}, status=409, code="DuplicateKey")
    assert err["details"]["keypair"] == "laptop"


@pytest.mark.parametrize("bad", [
    "ssh-ed25519 not-base64!!",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7",
    "hello world this is not a key",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\nssh-ed25519 AAAA",
])
def test_import_refuses_what_does_not_parse(api, bad):
    err = api.error("import-keypair", {"name": "bad", "public_key": bad}, status=400, code="InvalidPublicKey")
    assert "public_key" in err["details"]["field_errors"]
    assert api.ok("list-keypairs")["keypairs"] == []


def test_short_rsa_keys_are_refused(api):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    api.error("import-keypair", {"name": "weak", "public_key": weak}, status=400, code="InvalidPublicKey")


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-384", "rsa-4096"])
def test_imported_key_sizes_are_what_ssh_keygen_says(api, tmp_path, kind):
    t, _, size = kind.partition("-")
    subprocess.run(["ssh-keygen", "-q", "-t", t, *(["-b", size] if size else []), "-N", "", "-f",
                    str(tmp_path / "k")], check=True)
    pub = (tmp_path / "k.pub").read_text().strip()
    kp = api.ok("import-keypair", {"name": "k", "public_key": pub}, role="operator")["keypair"]
    assert (kp["bits"], kp["fingerprint"]) == keygen_list(tmp_path, pub)


def test_an_ed25519_keypair_stored_without_bits_reads_256(api):
    kp = api.ok("create-keypair", {"name": "old"})["keypair"]
    api.services.store.update("keypair", "old", fn=lambda d: {**d, "bits": None})
    assert api.services.store.get("keypair", "old")["bits"] is None
    assert api.ok("describe-keypair", {"name": "old"})["keypair"] == kp and kp["bits"] == 256


def test_names_are_unique_and_validated(api):
    api.ok("create-keypair", {"name": "dup"})
    api.error("create-keypair", {"name": "dup"}, status=409, code="KeypairExists")
    api.error("create-keypair", {"name": "a/b"}, status=400, code="ValidationFailed")
    api.error("create-keypair", {"name": "x", "algorithm": "dsa"}, status=400, code="ValidationFailed")
    api.error("create-keypair", {"name": "x", "algorithm": "rsa", "bits": 1024}, status=400)


def test_delete_and_roles(api):
    api.ok("create-keypair", {"name": "gone"})
    api.error("delete-keypair", {"name": "gone"}, role="viewer", status=403)
    assert api.ok("delete-keypair", {"name": "gone"}, role="operator") == {"ok": True}
    api.error("describe-keypair", {"name": "gone"}, status=404, code="KeypairNotFound")
    api.error("delete-keypair", {"name": "gone"}, status=404, code="KeypairNotFound")


def test_audit_never_holds_the_private_key(api):
    data = api.ok("create-keypair", {"name": "audited"})
    text = "".join(p.read_text() for p in (api.services.store.root / "audit").glob("*.jsonl"))
    assert "create-keypair" in text and data["private_key"].splitlines()[1] not in text
