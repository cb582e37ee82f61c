"""The seed of a Windows VM, checked against Cloudbase-Init's documented NoCloud layout.

The layout this test holds the seed to, from Cloudbase-Init's own documentation and code:
- doc/source/services.rst, "NoCloud configuration drive" (cloudbaseinit.metadata.services.nocloudservice.
  NoCloudConfigDriveService; https://cloudbase-init.readthedocs.io/en/latest/services.html): a config drive
  (vfat or iso9660) labelled `cidata` or `CIDATA`; files `/meta-data` and `/user-data` in the EC2 format;
  `/network-config` beside them in cloud-init's network config version 1 (types physical, bond, vlan,
  nameserver; a physical entry has `name`, `mac_address`, `subnets` of `type: static` with `address`,
  `netmask`, `gateway`, `dns_nameservers`, or dhcp).
- nocloudservice.py: meta-data keys read are `instance-id`, `local-hostname`, `public-keys` (a list, or a
  mapping of {openssh-key}), `network-interfaces`.
- doc/source/userdata.rst, "Cloud config" (https://cloudbase-init.readthedocs.io/en/latest/userdata.html):
  `#cloud-config` directives write_files (path, content, permissions, encoding), set_timezone, set_hostname,
  ntp, groups, users (name, gecos, primary_group, groups, passwd in plain text on Windows, inactive,
  expiredate, ssh_authorized_keys), runcmd (strings or lists of strings).
- osconfigdrive/windows.py: the cdrom's volume label is compared lower-cased with `cidata`, and the files are
  read from the mounted drive, i.e. by the names Windows shows (Joliet).
"""
from __future__ import annotations

import io

import pycdlib
import pytest
import yaml

from jvp.errors import InvalidInput
from jvp.service.vm.cloudinit import build_seed

NOCLOUD_FILES = {"meta-data", "user-data", "network-config"}
META_DATA_KEYS = {"instance-id", "local-hostname", "public-keys", "network-interfaces"}
CLOUD_CONFIG_DIRECTIVES = {"write_files", "set_timezone", "timezone", "set_hostname", "hostname", "ntp", "groups",
                           "users", "runcmd"}
USER_KEYS = {"name", "gecos", "primary_group", "groups", "passwd", "inactive", "expiredate",
             "ssh_authorized_keys"}
WRITE_FILE_KEYS = {"path", "content", "permissions", "encoding"}
NETWORK_V1_TYPES = {"physical", "bond", "vlan", "nameserver"}
SUBNET_KEYS = {"type", "address", "netmask", "gateway", "dns_nameservers", "routes"}
KEY_OPS = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq4kB6lD2n2nBmUTbpA3B0ZHQ0vGkqTdJ2lqYtA9b6X ops@jvp"
KEY_ALICE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ4sQ0e0JtC2v6bq7h2mC4y1r3xw9lqJ5q2y8gQk2P8a alice@jvp"
NICS = [{"mac": "52:54:00:AA:00:01", "network": "lab"}, {"mac": "52:54:00:aa:00:02", "network": None}]
NETWORKS = {"lab": {"name": "lab", "ips": [{"address": "198.18.40.1", "prefix": 24}],
                    "dhcp_ranges": []}}


def windows_seed(**cloud_init):
    ci = {"hostname": "win1", "users": [{"name": "alice", "password": "Passw0rd!", "sudo": True,
                                          "ssh_keys": [KEY_ALICE], "groups": ["Remote Desktop Users"]}],
          "keypairs": ["ops"], "runcmd": ["echo first-boot> C:\\jvp.txt", ["net", "user"]],
          "write_files": [{"path": "C:\\jvp\\hello.txt", "content": "hello", "permissions": "0644"}],
          "network": [{"nic": 1, "ipv4": "198.18.41.20/24", "gateway": "198.18.41.1", "dns": ["198.18.41.1"]}],
          **cloud_init}
    return build_seed(vm_name="win1", cloud_init=ci, user_data=None, nics=NICS, networks=NETWORKS,
                      keypair_key=lambda name: {"ops": KEY_OPS}[name], os_profile="windows")


def read_iso(data: bytes):
    """(primary volume label, Joliet volume label, {Joliet name: bytes}, {Rock Ridge name: bytes})."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        pvd_label = iso.pvd.volume_identifier.decode().strip()
        joliet_label = iso.joliet_vd.volume_identifier.decode("utf-16-be").strip()
        joliet, rock = {}, {}
        for child in iso.list_children(joliet_path="/"):
            name = child.file_identifier().decode("utf-16-be")
            if child.is_file():
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
                joliet[name] = out.getvalue()
        for child in iso.list_children(rr_path="/"):
            if child.is_file():
                name = child.rock_ridge.name().decode()
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
                rock[name] = out.getvalue()
        return pvd_label, joliet_label, joliet, rock
    finally:
        iso.close()


def test_the_seed_iso_has_the_nocloud_label_and_file_names():
    seed = windows_seed()
    pvd_label, joliet_label, joliet, rock = read_iso(seed.iso())
    # Cloudbase-Init: label `cidata` or `CIDATA`, compared lower-cased; Windows shows the Joliet label
    assert pvd_label.lower() == "cidata" and joliet_label.lower() == "cidata"
    # the files by the names Windows reads (Joliet) and by Rock Ridge names, exactly the NoCloud set
    assert set(joliet) == NOCLOUD_FILES and set(rock) == NOCLOUD_FILES
    assert joliet == rock == seed.files


def test_meta_data_has_the_documented_keys_and_values():
    seed = windows_seed()
    meta = yaml.safe_load(seed.files["meta-data"])
    assert set(meta) <= META_DATA_KEYS
    assert meta["instance-id"] == seed.instance_id and seed.instance_id.startswith("i-")
    assert meta["local-hostname"] == "win1"
    assert meta["public-keys"] == [KEY_OPS]  # a list is one of the two shapes the service accepts


def test_user_data_uses_only_cloud_config_directives_cloudbase_init_implements():
    text = windows_seed().files["user-data"].decode()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert set(doc) <= CLOUD_CONFIG_DIRECTIVES
    assert doc["set_hostname"] == "win1"
    [alice] = doc["users"]
    assert set(alice) <= USER_KEYS
    assert alice["name"] == "alice"
    assert alice["passwd"] == "Passw0rd!"  # Windows: the password itself, not a crypt hash
    # Cloudbase-Init splits `groups` on ", "; sudo: true is the Administrators group on Windows
    assert alice["groups"].split(", ") == ["Remote Desktop Users", "Administrators"]
    assert alice["ssh_authorized_keys"] == [KEY_ALICE, KEY_OPS]
    assert doc["runcmd"] == ["echo first-boot> C:\\jvp.txt", ["net", "user"]]
    [f] = doc["write_files"]
    assert set(f) <= WRITE_FILE_KEYS and f == {"path": "C:\\jvp\\hello.txt", "content": "hello",
                                               "permissions": "0644"}


def test_network_config_is_version_1_matched_by_mac():
    doc = yaml.safe_load(windows_seed().files["network-config"])
    assert doc["version"] == 1
    assert {e["type"] for e in doc["config"]} <= NETWORK_V1_TYPES
    first, second = doc["config"]
    assert first == {"type": "physical", "name": "Ethernet", "mac_address": "52:54:00:aa:00:01",
                     "subnets": [{"type": "dhcp"}]}
    assert second["name"] == "Ethernet 2" and second["mac_address"] == "52:54:00:aa:00:02"
    [subnet] = second["subnets"]
    assert set(subnet) <= SUBNET_KEYS
    assert subnet == {"type": "static", "address": "198.18.41.20", "netmask": "255.255.255.0",
                      "gateway": "198.18.41.1", "dns_nameservers": ["198.18.41.1"]}


def test_keypairs_without_users_make_an_administrator():
    doc = yaml.safe_load(windows_seed(users=[]).files["user-data"])
    assert doc["users"] == [{"name": "jvp", "groups": "Administrators", "ssh_authorized_keys": [KEY_OPS]}]


def test_raw_user_data_passes_byte_for_byte():
    script = "#ps1_sysnative\r\nNew-Item -ItemType File C:\\jvp.txt\r\n"
    seed = build_seed(vm_name="win1", cloud_init={"hostname": "win1"}, user_data=script, nics=NICS[:1],
                      networks={}, keypair_key=lambda n: KEY_OPS, os_profile="windows")
    assert seed.files["user-data"] == script.encode()
    assert yaml.safe_load(seed.files["network-config"])["version"] == 1


@pytest.mark.parametrize("cloud_init, field", [
    ({"packages": ["nginx"]}, "cloud_init.packages"),
    ({"users": [{"name": "bob", "shell": "/bin/bash"}]}, "cloud_init.users.0.shell"),
    ({"users": [{"name": "bob", "sudo": "ALL=(ALL) ALL"}]}, "cloud_init.users.0.sudo"),
    ({"write_files": [{"path": "/etc/motd", "content": "x"}]}, "cloud_init.write_files.0.path"),
])
def test_linux_only_fields_are_refused_for_windows(cloud_init, field):
    with pytest.raises(InvalidInput) as err:
        build_seed(vm_name="win1", cloud_init=cloud_init, user_data=None, nics=[], networks={},
                   keypair_key=lambda n: KEY_OPS, os_profile="windows")
    assert field in err.value.details["field_errors"]


def test_a_windows_path_is_refused_for_linux():
    with pytest.raises(InvalidInput) as err:
        build_seed(vm_name="web1", cloud_init={"write_files": [{"path": "C:\\x", "content": "x"}]},
                   user_data=None, nics=[], networks={}, keypair_key=lambda n: KEY_OPS)
    assert "cloud_init.write_files.0.path" in err.value.details["field_errors"]


def test_a_clone_of_a_windows_vm_gets_its_own_name_and_macs():
    """Snapshot clones re-identify the seed (cloudinit/reseed.py): Cloudbase-Init's set_hostname and the
    version 1 network-config's mac_address follow the clone."""
    from jvp.cloudinit import reseed
    seed = windows_seed()
    out, _ = reseed.clone_seed(seed.files, instance_id="i-clone", hostname="win2",
                               macs={"52:54:00:aa:00:01": "52:54:00:bb:00:01"})
    assert yaml.safe_load(out["meta-data"])["local-hostname"] == "win2"
    assert yaml.safe_load(out["user-data"])["set_hostname"] == "win2"
    first, second = yaml.safe_load(out["network-config"])["config"]
    assert first["mac_address"] == "52:54:00:bb:00:01" and second["subnets"] == [{"type": "dhcp"}]
