"""Storage pool actions on libvirt's test driver (the seeded inventory: pools `default` and `data`)."""
from __future__ import annotations

import pytest

SOURCES = {
    "dir": ("/srv/jvp/p-dir", None),
    "fs": ("/srv/jvp/p-fs", {"device": "/dev/sdb1", "format": "ext4"}),
    "netfs": ("/srv/jvp/p-nfs", {"host": "nfs.example.org", "dir": "/export/vms", "format": "nfs"}),
    "logical": (None, {"devices": ["/dev/sdc"], "name": "vgjvp"}),
    "disk": (None, {"device": "/dev/sdd", "format": "gpt"}),
    "iscsi": (None, {"host": "san.example.org", "port": 3260, "iqn": "iqn.2013-06.com.example:lun1"}),
    "rbd": (None, {"hosts": ["mon1.example.org:6789"], "name": "vms",
                   "auth": {"username": "libvirt", "secret_usage": "client.libvirt"}}),
}


def snapshot(api):
    """Every pool with its volumes: what 'nothing was left behind' compares."""
    pools = api.ok("list-storage-pools", {"include_internal": True})["pools"]
    vols = api.ok("list-volumes", {"include_internal": True})["volumes"]
    return sorted(p["name"] for p in pools), sorted((v["pool"], v["name"]) for v in vols)


def test_list_pools_with_spec_fields(api):
    data = api.ok("list-storage-pools", role="viewer")
    assert data["errors"] == []
    pools = {p["name"]: p for p in data["pools"]}
    assert set(pools) == {"default", "data"}
    d = pools["default"]
    for key in ("name", "uuid", "type", "state", "autostart", "capacity_bytes", "allocation_bytes",
                "available_bytes", "path", "volume_count"):
        assert key in d, key
    assert d["type"] == "dir" and d["state"] == "running" and d["path"] == "/var/lib/jvp-demo/pools/default"
    assert d["volume_count"] == 4 and pools["data"]["volume_count"] == 1
    assert d["uuid"] == "0b6ee2a4-4e39-4c6a-8d5b-6b3a1a0000b1" and d["internal"] is False


def test_describe_and_not_found(api):
    assert api.ok("describe-storage-pool", {"name": "data"}, role="viewer")["pool"]["volume_count"] == 1
    err = api.error("describe-storage-pool", {"name": "ghost"}, status=404, code="StoragePoolNotFound")
    assert "ghost" in err["message"] and "local" in err["message"]


@pytest.mark.parametrize("ptype", sorted(SOURCES))
def test_create_every_pool_type(api, ptype):
    path, source = SOURCES[ptype]
    body = {"name": f"p-{ptype}", "type": ptype, **({"path": path} if path else {}),
            **({"source": source} if source else {})}
    pool = api.ok("create-storage-pool", body)["pool"]
    assert pool["type"] == ptype and pool["state"] == "running" and pool["autostart"] is True
    assert pool["persistent"] is True
    if path:
        assert pool["path"] == path
    described = api.ok("describe-storage-pool", {"name": f"p-{ptype}"})["pool"]
    if ptype == "netfs":
        assert described["source"]["host"] == "nfs.example.org" and described["source"]["dir"] == "/export/vms"
    if ptype == "iscsi":
        assert described["source"]["iqn"] == "iqn.2013-06.com.example:lun1" and described["source"]["port"] == 3260
    if ptype == "rbd":
        assert described["source"]["hosts"] == ["mon1.example.org:6789"] and described["path"] is None
    if ptype == "logical":
        assert described["path"] == "/dev/vgjvp" and described["source"]["name"] == "vgjvp"
    api.ok("delete-storage-pool", {"name": f"p-{ptype}"})


@pytest.mark.parametrize("ptype", ["fs", "logical", "disk"])
def test_a_build_the_driver_cannot_make_safely_is_refused_and_leaves_nothing(api, ptype):
    """fs, logical and disk pools are built only with NO_OVERWRITE (never over a filesystem, VG or label); the
    test driver refuses any build flag, as an older or other driver may: 422 NotSupported, no pool defined,
    never a build retried without the flag (found by the fuzz gate with another seed)."""
    path, source = SOURCES[ptype]
    before = snapshot(api)
    body = {"name": f"p-{ptype}", "type": ptype, "build": True, **({"path": path} if path else {}),
            **({"source": source} if source else {})}
    err = api.error("create-storage-pool", body, status=422, code="NotSupported")
    assert "build: false" in err["message"] and err["details"]["type"] == ptype
    assert err["details"]["libvirt_error"]["message"]
    assert snapshot(api) == before
    assert api.ok("create-storage-pool", {**body, "build": False})["pool"]["state"] == "running"


def test_an_existing_pool_is_409(api):
    before = snapshot(api)
    err = api.error("create-storage-pool", {"name": "default", "type": "dir", "path": "/srv/other"},
                    status=409, code="StoragePoolExists")
    assert "default" in err["message"]
    assert snapshot(api) == before


def test_a_pool_defined_concurrently_after_the_check_is_still_409(api, mocker):
    """Another request (or virsh) defines the name between JVP's existence check and its define."""
    gateway = api.services.gateway
    real = gateway.list_pools
    calls = []

    def racing_list(node):  # the check runs before 'default' "appears"; later listings are real
        calls.append(1)
        return [p for p in real(node) if p.name != "default"] if len(calls) == 1 else real(node)
    before = snapshot(api)
    mocker.patch.object(gateway, "list_pools", racing_list)
    err = api.error("create-storage-pool", {"name": "default", "type": "dir", "path": "/srv/other"},
                    status=409, code="StoragePoolExists")
    assert "already exists" in err["details"]["libvirt_error"]["message"]
    assert snapshot(api) == before  # the other party's pool is untouched


def test_a_path_another_pool_uses_is_409(api):
    before = snapshot(api)
    err = api.error("create-storage-pool", {"name": "twin", "type": "dir", "path": "/var/lib/jvp-demo/pools//data/"},
                    status=409, code="StoragePoolPathInUse")
    assert err["details"]["pool"] == "data"
    assert snapshot(api) == before


@pytest.mark.parametrize("body,code,field", [
    ({"name": "p1", "type": "dir", "path": "../x"}, "InvalidPoolPath", "path"),
    ({"name": "p1", "type": "dir", "path": "/srv/a/../b"}, "InvalidPoolPath", "path"),
    ({"name": "p1", "type": "dir", "path": "srv/vms"}, "InvalidPoolPath", "path"),
    ({"name": "p1", "type": "dir", "path": "/etc"}, "InvalidPoolPath", "path"),
    ({"name": "p1", "type": "dir"}, "InvalidPoolPath", "path"),
    ({"name": "a/b", "type": "dir", "path": "/srv/p"}, "ValidationFailed", "name"),
    ({"name": "..", "type": "dir", "path": "/srv/p"}, "ValidationFailed", "name"),
    ({"name": "../p", "type": "dir", "path": "/srv/p"}, "ValidationFailed", "name"),
    ({"name": "p1", "type": "zfs", "path": "/srv/p"}, "ValidationFailed", "type"),
    ({"name": "p1", "type": "netfs", "path": "/srv/p", "source": {"host": "nfs"}}, "InvalidPoolSource", "source"),
    ({"name": "p1", "type": "fs", "path": "/srv/p", "source": {"device": "/dev/../etc/passwd"}},
     "InvalidPoolSource", "source"),
    ({"name": "p1", "type": "dir", "path": "/srv/p", "source": {"hots": "x"}}, "ValidationFailed", "source"),
    ({"name": "p1", "type": "dir", "path": "/srv/p", "autostart": "sometimes"}, "ValidationFailed", "autostart"),
    ({"name": "p1_templates_", "type": "dir", "path": "/srv/p"}, "ReservedName", "name"),
])
def test_bad_pool_definitions_leave_nothing(api, body, code, field):
    before = snapshot(api)
    err = api.error("create-storage-pool", body, status=400, code=code)
    assert field in err["details"]["field_errors"], err
    assert snapshot(api) == before


def test_roles(api):
    body = {"name": "p1", "type": "dir", "path": "/srv/p1"}
    api.error("create-storage-pool", body, role="viewer", status=403, code="Forbidden")
    api.error("create-storage-pool", body, role="operator", status=403, code="Forbidden")
    api.ok("list-storage-pools", role="viewer")


def test_start_stop_refresh_modify(api):
    api.ok("create-storage-pool", {"name": "p1", "type": "dir", "path": "/srv/p1", "autostart": False})
    assert api.ok("describe-storage-pool", {"name": "p1"})["pool"]["autostart"] is False
    stopped = api.ok("stop-storage-pool", {"name": "p1"})["pool"]
    assert stopped["state"] == "inactive" and stopped["volume_count"] is None and stopped["capacity_bytes"] is None
    assert api.ok("stop-storage-pool", {"name": "p1"})["pool"]["state"] == "inactive"  # idempotent
    api.error("refresh-storage-pool", {"name": "p1"}, status=422, code="StoragePoolInactive")
    api.error("list-volumes", {"pool": "p1"}, status=422, code="StoragePoolInactive")
    assert api.ok("start-storage-pool", {"name": "p1"})["pool"]["state"] == "running"
    assert api.ok("refresh-storage-pool", {"name": "p1"})["pool"]["volume_count"] == 0
    assert api.ok("modify-storage-pool", {"name": "p1", "autostart": True})["pool"]["autostart"] is True
    api.error("modify-storage-pool", {"name": "ghost", "autostart": True}, status=404, code="StoragePoolNotFound")


def test_stopping_a_pool_under_running_vms_is_409(api):
    err = api.error("stop-storage-pool", {"name": "default"}, status=409, code="StoragePoolInUse")
    assert err["details"]["vms"] == ["build-runner", "web1"]  # running and paused; db1 is shut off
    assert api.ok("describe-storage-pool", {"name": "default"})["pool"]["state"] == "running"


def test_deleting_a_pool_a_vm_uses_is_409_naming_the_vms(api):
    before = snapshot(api)
    err = api.error("delete-storage-pool", {"name": "data", "delete_volumes": True}, status=409,
                    code="StoragePoolInUse")
    assert err["details"]["vms"] == ["db1"] and "db1" in err["message"]
    assert snapshot(api) == before


def test_deleting_a_pool_with_volumes_needs_delete_volumes(api):
    api.ok("create-storage-pool", {"name": "p1", "type": "dir", "path": "/srv/p1"})
    api.ok("create-volume", {"pool": "p1", "name": "a.qcow2", "size_gib": 1})
    api.ok("create-volume", {"pool": "p1", "name": "b.raw", "size_gib": 1, "format": "raw"})
    err = api.error("delete-storage-pool", {"name": "p1"}, status=409, code="StoragePoolNotEmpty")
    assert err["details"]["volumes"] == ["a.qcow2", "b.raw"]
    assert api.ok("describe-storage-pool", {"name": "p1"})["pool"]["volume_count"] == 2
    res = api.ok("delete-storage-pool", {"name": "p1", "delete_volumes": True})
    assert res == {"ok": True, "deleted_volumes": ["a.qcow2", "b.raw"], "directory_removed": True}
    api.error("describe-storage-pool", {"name": "p1"}, status=404, code="StoragePoolNotFound")


def test_an_inactive_empty_pool_can_be_deleted(api):
    api.ok("create-storage-pool", {"name": "p1", "type": "dir", "path": "/srv/p1"})
    api.ok("stop-storage-pool", {"name": "p1"})
    assert api.ok("delete-storage-pool", {"name": "p1"})["ok"] is True
    api.error("describe-storage-pool", {"name": "p1"}, status=404)


def test_internal_template_pools_are_hidden_and_protected(api):
    api.services.pools.create("local", "default_templates_", "dir", "/var/lib/jvp-demo/pools/default/_templates_",
                              internal=True)
    names = [p["name"] for p in api.ok("list-storage-pools")["pools"]]
    assert "default_templates_" not in names
    shown = {p["name"]: p for p in api.ok("list-storage-pools", {"include_internal": True})["pools"]}
    assert shown["default_templates_"]["internal"] is True
    api.error("delete-storage-pool", {"name": "default_templates_"}, status=409, code="StoragePoolIsInternal")
    api.ok("create-storage-pool", {"name": "p1", "type": "dir", "path": "/srv/p1"})
    api.services.pools.create("local", "p1_templates_", "dir", "/srv/p1/_templates_", internal=True)
    err = api.error("delete-storage-pool", {"name": "p1"}, status=409, code="StoragePoolInUse")
    assert err["details"]["internal_pool"] == "p1_templates_"


# -- protected directories (issue 14, finding 8) ----------------------------------------------------------------
@pytest.mark.parametrize("path", ["/var/run", "/var/run/libvirt", "/var/lock/x", "/root/.ssh", "/home/u/.ssh",
                                  "/var/lib/jvp", "{data}/auth", "{data}", "{data}/../data/tasks"])
def test_protected_pool_paths_are_refused_and_nothing_is_defined(api, path):
    before = sorted(p["name"] for p in api.ok("list-storage-pools", {"include_internal": True})["pools"])
    path = path.format(data=api.services.settings.data_dir)
    err = api.error("create-storage-pool", {"name": "p1", "type": "dir", "path": path}, status=400,
                    code="InvalidPoolPath")
    assert err["details"]["field_errors"]["path"]
    assert sorted(p["name"] for p in api.ok("list-storage-pools", {"include_internal": True})["pools"]) == before


def test_a_symlink_to_a_protected_directory_is_refused(api, tmp_path):
    """The node is this machine (a test:/// URI): the path is resolved before the deny-list is applied."""
    (tmp_path / "to-auth").symlink_to(api.services.settings.data_path / "auth")
    (tmp_path / "to-etc").symlink_to("/etc")
    for link in ("to-auth", "to-etc"):
        err = api.error("create-storage-pool", {"name": "p1", "type": "dir", "path": str(tmp_path / link)},
                        status=400, code="InvalidPoolPath")
        assert "resolves to" in err["message"]
    api.ok("create-storage-pool", {"name": "p1", "type": "dir", "path": str(tmp_path / "plain")})


def test_ipv6_source_hosts_read_back_whole(api):
    """A netfs host and rbd monitors given as IPv6 addresses were cut at their first colon on the way back
    ("2001:db8::5" read as "2001")."""
    api.ok("create-storage-pool", {"name": "p6", "type": "netfs", "path": "/srv/jvp/p6",
                                   "source": {"host": "2001:db8::5", "dir": "/export", "format": "nfs"}})
    src = api.ok("describe-storage-pool", {"name": "p6"})["pool"]["source"]
    assert src["host"] == "2001:db8::5" and src["hosts"] == ["2001:db8::5"]
    api.ok("create-storage-pool", {"name": "r6", "type": "rbd", "source": {
        "hosts": ["[2001:db8::6]:6789", "mon2.example.org"], "name": "vms"}})
    src = api.ok("describe-storage-pool", {"name": "r6"})["pool"]["source"]
    assert src["host"] == "2001:db8::6" and src["hosts"] == ["[2001:db8::6]:6789", "mon2.example.org"]
