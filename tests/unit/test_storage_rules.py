"""Validation of pool definitions: the path rule and each type's source fields."""
from __future__ import annotations

import pytest

from jvp.errors import InvalidInput
from jvp.service.storage.rules import normalize_path, pool_spec


@pytest.mark.parametrize("raw,norm", [
    ("/srv/vms", "/srv/vms"), ("/srv//vms/", "/srv/vms"), ("/srv/./vms/.", "/srv/vms"),
    ("/var/lib/libvirt/images", "/var/lib/libvirt/images"), ("/data/a..b", "/data/a..b"),
])
def test_paths_are_normalized(raw, norm):
    assert normalize_path(raw) == norm


@pytest.mark.parametrize("bad,why", [
    ("../x", "absolute"), ("relative/dir", "absolute"), ("/a/../b", "'..'"), ("/srv/vms/..", "'..'"),
    ("", "non-empty"), ("/srv/a\nb", "control"), ("/" + "a" * 2000, "characters"),
])
def test_bad_paths_are_refused(bad, why):
    with pytest.raises(InvalidInput) as exc:
        normalize_path(bad)
    assert exc.value.code == "InvalidPoolPath" and why in exc.value.message


@pytest.mark.parametrize("system", ["/", "/etc", "/etc/libvirt", "/usr/lib", "/proc/self", "/dev/shm", "/boot",
                                    "/var", "/home", "/tmp", "/root", "/var/lib", "/lib64/x"])
def test_system_directories_cannot_hold_a_dir_pool(system):
    with pytest.raises(InvalidInput) as exc:
        pool_spec("p", "dir", system, None, None)
    assert exc.value.code == "InvalidPoolPath" and "system directory" in exc.value.message


@pytest.mark.parametrize("ok", ["/var/lib/libvirt/images", "/srv/vms/p1", "/tmp/jvptest-x", "/home/vms",
                                "/mnt/ssd/pool", "/data"])
def test_any_other_absolute_directory_is_fine(ok):
    assert pool_spec("p", "dir", ok, None, None).path == ok


def test_defaults_per_type():
    assert pool_spec("p", "dir", "/srv/p", None, None).build is True
    assert pool_spec("p", "fs", "/srv/p", {"device": "/dev/sdb"}, None).build is False
    assert pool_spec("vg", "logical", None, {}, None).path is None


@pytest.mark.parametrize("ptype,path,source,field", [
    ("dir", None, None, "path"),
    ("dir", "/srv/p", {"host": "x"}, "host"),                      # a field the type does not take
    ("fs", "/srv/p", {}, "device"),                                 # a required one missing
    ("fs", "/srv/p", {"device": "sdb"}, "device"),                  # not absolute
    ("fs", "/srv/p", {"device": "/srv/../dev/sdb"}, "device"),      # traversal
    ("fs", "/srv/p", {"device": "/home/sdb"}, "device"),            # not a device
    ("fs", "/srv/p", {"device": "/dev/sdb", "format": "ntfs3"}, "format"),
    ("netfs", "/srv/p", {"host": "nfs"}, "dir"),
    ("netfs", "/srv/p", {"host": "nfs:2049", "dir": "/e"}, "host"),
    ("netfs", "/srv/p", {"host": "bad host", "dir": "/e"}, "host"),
    ("netfs", "/srv/p", {"host": "nfs", "dir": "/e/../x"}, "dir"),
    ("logical", None, {"devices": ["/dev/sdc", "sdd"]}, "devices"),
    ("logical", None, {"name": "../vg"}, "name"),
    ("logical", "/dev/other", {"name": "vg"}, "path"),
    ("disk", "/srv/x", {"device": "/dev/sdd"}, "path"),
    ("iscsi", None, {"host": "san"}, "iqn"),
    ("iscsi", None, {"host": "san", "iqn": "not-an-iqn"}, "iqn"),
    ("iscsi", None, {"host": "san", "iqn": "iqn.2013-06.com.e:t", "port": 70000}, "port"),
    ("iscsi", None, {"host": "san", "iqn": "iqn.2013-06.com.e:t", "auth": {"username": "u"}}, "auth"),
    ("iscsi", None, {"host": "san", "iqn": "iqn.2013-06.com.e:t",
                     "auth": {"type": "ceph", "username": "u", "secret_usage": "s"}}, "auth"),
    ("rbd", None, {"name": "rbd"}, "hosts"),
    ("rbd", "/srv/rbd", {"hosts": ["m"], "name": "rbd"}, "path"),
    ("rbd", None, {"hosts": ["m:99999"], "name": "rbd"}, "hosts"),
    ("rbd", None, {"hosts": ["m"], "name": "rbd", "auth": {"username": "u", "secret_uuid": "nope"}}, "auth"),
])
def test_bad_sources_name_the_field(ptype, path, source, field):
    with pytest.raises(InvalidInput) as exc:
        pool_spec("p", ptype, path, source, None)
    errors = exc.value.details["field_errors"]
    assert field in errors or field in errors.get("source", {}), errors
    assert exc.value.code in ("InvalidPoolPath", "InvalidPoolSource")


def test_unknown_type_and_unbuildable_types():
    with pytest.raises(InvalidInput) as exc:
        pool_spec("p", "zfs", "/srv/p", None, None)
    assert "type" in exc.value.details["field_errors"]
    with pytest.raises(InvalidInput) as exc:
        pool_spec("p", "iscsi", None, {"host": "san", "iqn": "iqn.2013-06.com.e:t"}, True)
    assert "build" in exc.value.details["field_errors"]


# -- the deny-list of issue 14 (finding 8) ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/var/run", "/var/run/libvirt", "/var/lock/x", "/root/.ssh", "/root/vms",
                                  "/home/alice/.ssh", "/srv/backup/.ssh/keys", "/home/bob/.gnupg",
                                  "/var/lib/jvp", "/var/lib/jvp/auth", "/var/log/libvirt", "/var/spool/cron",
                                  "/var/lib/libvirt/qemu", "/var/lib/libvirt/dnsmasq", "/var/lib/libvirt",
                                  "/var/cache", "/opt/data/.config/x", "/data/jvp/auth", "/data/jvp"])
def test_protected_directories_cannot_hold_a_dir_pool(path):
    for ptype, source in (("dir", None), ("fs", {"device": "/dev/sdb"}), ("netfs", {"host": "nas", "dir": "/e"})):
        with pytest.raises(InvalidInput) as exc:
            pool_spec("p", ptype, path, source, None, protected=["/data/jvp"])
        assert exc.value.code == "InvalidPoolPath" and exc.value.details["field_errors"]["path"], path


def test_symlinks_are_resolved_when_the_path_is_known():
    from jvp.service.storage.rules import check_pool_directory
    check_pool_directory("/srv/vms", resolved="/srv/vms")
    with pytest.raises(InvalidInput) as exc:
        check_pool_directory("/srv/link", resolved="/root/.ssh")
    assert "/srv/link resolves to /root/.ssh" in exc.value.message
    with pytest.raises(InvalidInput):
        check_pool_directory("/home/carol", homes=["/home/carol"])
    check_pool_directory("/home/carol/vms", homes=["/home/carol"])
