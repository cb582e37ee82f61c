"""cloud-init seed documents and the NoCloud ISO."""
from __future__ import annotations

import io
import subprocess
import shutil

import pycdlib
import pytest
import yaml
from passlib.hash import sha512_crypt

from jvp.cloudinit.iso import build_iso
from jvp.cloudinit.seed import Nic, meta_data, network_config, user_data


def test_user_data_from_structured_fields():
    text = user_data(hostname="web1", users=[
        {"name": "alice", "password": "s3cret", "ssh_keys": ["ssh-ed25519 AAAA alice"], "sudo": True,
         "groups": ["adm", "docker"]},
        {"name": "bob", "sudo": "ALL=(ALL) /usr/bin/systemctl"}],
        keypair_keys=["ssh-ed25519 BBBB ops"], packages=["nginx"], runcmd=["echo hi"],
        write_files=[{"path": "/etc/motd", "content": "hello", "permissions": "0644"}], timezone="Europe/Paris")
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    alice, bob = doc["users"][1:]
    assert doc["users"][0] == "default" and doc["hostname"] == "web1"
    assert alice["ssh_authorized_keys"] == ["ssh-ed25519 AAAA alice", "ssh-ed25519 BBBB ops"]
    assert alice["passwd"].startswith("$6$") and sha512_crypt.verify("s3cret", alice["passwd"])
    assert "s3cret" not in text
    assert alice["lock_passwd"] is False and alice["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert alice["groups"] == "adm, docker"
    assert bob["sudo"] == "ALL=(ALL) /usr/bin/systemctl" and bob["lock_passwd"] is True
    assert bob["ssh_authorized_keys"] == ["ssh-ed25519 BBBB ops"]
    assert doc["packages"] == ["nginx"] and doc["runcmd"] == ["echo hi"] and doc["timezone"] == "Europe/Paris"
    assert doc["ssh_pwauth"] is True


def test_keypairs_without_users_go_to_a_default_user():
    doc = yaml.safe_load(user_data(hostname="h", users=[], keypair_keys=["ssh-ed25519 K k"]))
    assert doc["users"][1]["name"] == "jvp" and doc["users"][1]["ssh_authorized_keys"] == ["ssh-ed25519 K k"]


def test_network_config_matches_nics_by_mac():
    doc = yaml.safe_load(network_config([Nic("52:54:00:AA:00:01"),
                                         Nic("52:54:00:aa:00:02", "198.18.10.20/24", "198.18.10.1",
                                             ["198.18.10.1"])]))
    assert doc["version"] == 2
    e0, e1 = doc["ethernets"]["eth0"], doc["ethernets"]["eth1"]
    assert e0 == {"match": {"macaddress": "52:54:00:aa:00:01"}, "set-name": "eth0", "dhcp4": True}
    assert e1["addresses"] == ["198.18.10.20/24"] and e1["routes"] == [{"to": "default", "via": "198.18.10.1"}]
    assert e1["nameservers"] == {"addresses": ["198.18.10.1"]}


def test_iso_holds_the_files_under_their_names():
    files = {"meta-data": meta_data("iid-1", "web1").encode(), "user-data": b"#cloud-config\n{}\n",
             "network-config": b"version: 2\n"}
    data = build_iso(files)
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        for name, content in files.items():
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            assert out.getvalue() == content
    finally:
        iso.close()


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="isoinfo (genisoimage) not installed")
def test_iso_is_readable_by_isoinfo(tmp_path):
    path = tmp_path / "seed.iso"
    path.write_bytes(build_iso({"user-data": b"#cloud-config\n"}))
    out = subprocess.run(["isoinfo", "-d", "-i", str(path)], capture_output=True, text=True).stdout
    assert "Volume id: cidata" in out and "Rock Ridge" in out
