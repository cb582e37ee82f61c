"""create-vm on libvirt's test driver: disk sources, NICs, metadata, cleanup, and every bad input of the issue
(each asserts the status, the code, and that nothing was left behind)."""
from __future__ import annotations

import pytest

from jvp.hypervisor.domain_xml import NS
from jvp.hypervisor.xml import element, parse, sub, to_string


def inventory(api) -> dict:
    """Every domain and every volume of the test node: what a refused or failed create must not change."""
    def read(conn):
        vols = {(p.name(), v.name()) for p in conn.listAllStoragePools(0) for v in p.listAllVolumes(0)}
        return {"domains": sorted(d.name() for d in conn.listAllDomains(0)), "volumes": sorted(vols)}
    return api.services.gateway.run_raw("local", read)


def add_volume(api, pool: str, name: str, size: int = 2**30, fmt: str = "raw") -> str:
    vol = element("volume")
    sub(vol, "name", text_=name)
    sub(vol, "capacity", {"unit": "bytes"}, size)
    sub(sub(vol, "target"), "format", {"type": fmt})
    return api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName(pool).createXML(
        to_string(vol), 0).path())


def create(api, body: dict, state: str = "succeeded", role: str = "operator") -> dict:
    resp = api.call("create-vm", body, role=role)
    assert resp.status_code == 202, resp.get_json()
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], 30)
    assert done["state"] == state, done
    return done


def domain_xml(api, name: str):
    return parse(api.services.gateway.run_raw("local", lambda c: c.lookupByName(name).XMLDesc(0)))


def test_create_from_an_existing_volume_with_nics_labels_and_description(api):
    done = create(api, {"name": "app1", "vcpus": 2, "memory_mib": 512, "volume": "scratch.raw",
                        "nics": [{"network": "demo-nat", "mac": "52:54:00:AB:CD:01"}, {"bridge": "br0"},
                                 {"direct": "eno1", "model": "e1000"}],
                        "labels": {"env": "dev"}, "description": "a test VM", "autostart": True})
    assert done["resource"] == {"kind": "vm", "node": "local", "name": "app1"}
    assert done["result"]["vm"]["state"] == "running" and done["message"].startswith("vm 'app1' created")
    vm = api.ok("describe-vm", {"name": "app1"}, role="viewer")["vm"]
    assert (vm["vcpus"], vm["memory_mib"], vm["autostart"], vm["created_by"]) == (2, 512, True, "t-operator")
    assert vm["labels"] == {"env": "dev"} and vm["description"] == "a test VM" and vm["created_at"]
    system, cdrom = vm["disks"]
    assert system["volume"] == "scratch.raw" and system["system"] and system["format"] == "raw"
    assert cdrom["device"] == "cdrom" and cdrom["path"] is None  # an empty drive for insert-media
    assert [(n["type"], n["model"]) for n in vm["nics"]] == [("network", "virtio"), ("bridge", "virtio"),
                                                            ("direct", "e1000")]
    assert vm["nics"][0]["mac"] == "52:54:00:ab:cd:01" and vm["nics"][0]["network"] == "demo-nat"
    assert vm["nics"][1]["mac"] != vm["nics"][2]["mac"]
    root = domain_xml(api, "app1")
    assert root.find(f"metadata/{{{NS}}}vm/{{{NS}}}description").text == "a test VM"
    assert root.find("devices/graphics").get("listen") == "127.0.0.1"
    listed = api.ok("list-vms", {"label": "env=dev"}, role="viewer")["vms"]
    assert [v["name"] for v in listed] == ["app1"]
    assert api.ok("list-vms", {"label": "env=prod"}, role="viewer")["vms"] == []
    assert [v["name"] for v in api.ok("list-vms", {"label": "env"}, role="viewer")["vms"]] == ["app1"]


def test_blank_disk_with_an_install_iso(api):
    add_volume(api, "default", "installer.iso")
    create(api, {"name": "inst", "disk_size_gib": 8, "iso": {"volume": "installer.iso"}, "start": False})
    vm = api.ok("describe-vm", {"name": "inst"})["vm"]
    assert vm["state"] == "stopped"
    system, cdrom = vm["disks"]
    assert system["volume"] == "inst-root.qcow2" and system["format"] == "qcow2"
    assert system["capacity_bytes"] == 8 * 2**30
    assert cdrom["volume"] == "installer.iso" and cdrom["target"] == "hda" and cdrom["readonly"]


def test_linked_and_full_clones_and_extra_disks(api):
    # (the test driver's `data` pool is over-allocated: new volumes go to `default`)
    base = add_volume(api, "default", "base.qcow2", 4 * 2**30, "qcow2")
    add_volume(api, "default", "spare.raw")
    create(api, {"name": "lc", "volume": "base.qcow2", "clone": "linked", "disk_size_gib": 6,
                 "extra_disks": [{"size_gib": 3}, {"volume": "spare.raw"}, {"size_gib": 1, "format": "raw"}]})
    vm = api.ok("describe-vm", {"name": "lc"})["vm"]
    disks = {d["target"]: d for d in vm["disks"]}
    assert disks["vda"]["volume"] == "lc-root.qcow2" and disks["vda"]["backing"] == base
    assert disks["vda"]["capacity_bytes"] == 6 * 2**30
    assert (disks["vdb"]["volume"], disks["vdb"]["capacity_bytes"]) == ("lc-disk1.qcow2", 3 * 2**30)
    assert disks["vdc"]["volume"] == "spare.raw"
    assert (disks["vdd"]["volume"], disks["vdd"]["format"]) == ("lc-disk3.raw", "raw")
    create(api, {"name": "fc", "volume": "base.qcow2", "clone": "full"})
    fc = api.ok("describe-vm", {"name": "fc"})["vm"]["disks"][0]
    assert fc["volume"] == "fc-root.qcow2" and fc["backing"] is None
    # delete_volumes removes what the VM owns, never the base image its overlay needs
    res = api.ok("delete-vm", {"name": "lc", "force": True, "delete_volumes": True})
    assert {v["volume"] for v in res["deleted_volumes"]} == {"lc-root.qcow2", "lc-disk1.qcow2", "spare.raw",
                                                             "lc-disk3.raw"}
    assert ("default", "base.qcow2") in inventory(api)["volumes"]


def test_the_base_of_a_linked_clone_cannot_be_used_as_is(api):
    add_volume(api, "default", "golden.qcow2", 2**30, "qcow2")
    create(api, {"name": "child", "volume": "golden.qcow2", "clone": "linked"})
    before = inventory(api)
    err = api.error("create-vm", {"name": "other", "volume": "golden.qcow2"}, status=409,
                    code="VolumeInUse", role="operator")
    assert "child-root.qcow2" in err["message"]
    assert inventory(api) == before


def test_a_failed_create_removes_everything_it_made(api):
    """The test driver cannot upload volumes: the seed ISO step fails after the disks were created."""
    before = inventory(api)
    done = create(api, {"name": "half", "disk_size_gib": 4, "extra_disks": [{"size_gib": 1}],
                        "cloud_init": {"hostname": "half"}}, state="failed")
    assert done["error"]["code"] == "NotSupported"
    assert "cloud-init seed" in done["error"]["message"]
    assert "virStorageVolUpload" in done["error"]["details"]["libvirt_error"]["message"]
    assert inventory(api) == before


def test_start_false_then_start_stop(api):
    create(api, {"name": "idle", "volume": "scratch.raw", "start": False})
    assert api.ok("describe-vm", {"name": "idle"})["vm"]["state"] == "stopped"
    assert api.ok("start-vm", {"name": "idle"}, role="operator")["state"] == "running"
    vm = api.ok("describe-vm", {"name": "idle"})["vm"]
    assert vm["started_at"] and vm["uptime"] is not None


def test_secrets_stay_out_of_the_task_and_the_audit_log(api):
    create(api, {"name": "sec", "volume": "scratch.raw", "start": False})
    # a create refused for another reason still must not write the password anywhere
    api.call("create-vm", {"name": "sec2", "volume": "nope", "user_data": "#cloud-config\npassword: hunter2\n"},
             role="operator")
    tasks = api.ok("list-tasks", {"kind": "create-vm"})["tasks"]
    assert tasks and all("hunter2" not in str(t) for t in tasks)
    events = api.ok("list-audit-events", {"action": "create-vm", "limit": 10})["events"]
    assert events and all("hunter2" not in str(e) for e in events)


# -- bad input ------------------------------------------------------------------------------------------
BAD = [
    ("unknown pool", {"name": "x", "pool": "nopool", "disk_size_gib": 1}, 404, "StoragePoolNotFound"),
    ("unknown volume", {"name": "x", "volume": "missing.qcow2"}, 404, "VolumeNotFound"),
    ("unknown iso", {"name": "x", "disk_size_gib": 1, "iso": {"volume": "missing.iso"}}, 404, "VolumeNotFound"),
    ("unknown network", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "nonet"}]}, 404,
     "NetworkNotFound"),
    ("unknown bridge", {"name": "x", "disk_size_gib": 1, "nics": [{"bridge": "brX"}]}, 404, "BridgeNotFound"),
    ("unknown keypair", {"name": "x", "disk_size_gib": 1, "cloud_init": {"keypairs": ["ghost"]}}, 404,
     "KeypairNotFound"),
    ("name exists", {"name": "web1", "disk_size_gib": 1}, 409, "VmExists"),
    ("too much memory", {"name": "x", "disk_size_gib": 1, "memory_mib": 65536}, 422, "NodeCapacityExceeded"),
    ("too many vcpus", {"name": "x", "disk_size_gib": 1, "vcpus": 17}, 422, "NodeCapacityExceeded"),
    ("malformed user-data YAML", {"name": "x", "disk_size_gib": 1,
                                  "user_data": "#cloud-config\nusers: [unclosed\n"}, 400, "InvalidUserData"),
    ("user-data not a mapping", {"name": "x", "disk_size_gib": 1, "user_data": "#cloud-config\n- a\n- b\n"},
     400, "InvalidUserData"),
    ("structured field of the wrong type", {"name": "x", "disk_size_gib": 1,
                                            "cloud_init": {"users": [{"name": "bob", "sudo": 3}]}}, 400,
     "ValidationFailed"),
    ("user_data with structured users", {"name": "x", "disk_size_gib": 1, "user_data": "#!/bin/sh\n",
                                         "cloud_init": {"users": [{"name": "bob"}]}}, 400, "InvalidInput"),
    ("SSH key that does not parse", {"name": "x", "disk_size_gib": 1, "cloud_init": {
        "users": [{"name": "bob", "ssh_keys": ["ssh-ed25519 AAAAnotbase64!! bob@x"]}]}}, 400, "InvalidSshKey"),
    ("MAC in use", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "demo-nat",
                                                               "mac": "52:54:00:0a:00:02"}]}, 409, "MacInUse"),
    ("same MAC twice", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "demo-nat", "mac": "52:54:00:0f:00:01"},
                                                                  {"network": "demo-nat", "mac": "52:54:00:0f:00:01"}]},
     409, "MacInUse"),
    ("multicast MAC", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "demo-nat", "mac": "01:00:5e:00:00:01"}]},
     400, "InvalidMac"),
    ("static IP outside the network", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "demo-isolated"}],
                                       "cloud_init": {"network": [{"nic": 0, "ipv4": "10.0.0.5/24"}]}}, 400,
     "IpOutsideNetwork"),
    ("static IP is the host address", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "demo-isolated"}],
                                       "cloud_init": {"network": [{"nic": 0, "ipv4": "198.18.11.1"}]}}, 400,
     "IpOutsideNetwork"),
    ("static IP in the DHCP range", {"name": "x", "disk_size_gib": 1, "nics": [{"network": "demo-isolated"}],
                                     "cloud_init": {"network": [{"nic": 0, "ipv4": "198.18.11.60"}]}}, 400,
     "IpInDhcpRange"),
    ("static IP for a NIC that does not exist", {"name": "x", "disk_size_gib": 1,
                                                 "cloud_init": {"network": [{"nic": 0, "ipv4": "198.18.11.5"}]}},
     400, "InvalidInput"),
    ("volume used by another VM", {"name": "x", "volume": "web1-root.qcow2"}, 409, "VolumeInUse"),
    ("no system disk", {"name": "x"}, 400, "InvalidInput"),
    ("clone without a source", {"name": "x", "disk_size_gib": 1, "clone": "linked"}, 400, "InvalidInput"),
    ("resize of a volume used as is", {"name": "x", "volume": "scratch.raw", "disk_size_gib": 20}, 400,
     "InvalidInput"),
    ("clone smaller than its base", {"name": "x", "volume": "scratch.raw", "clone": "full", "disk_size_gib": 1},
     400, "InvalidInput"),
    ("unknown field", {"name": "x", "disk_size_gib": 1, "templat": "debian"}, 400, "ValidationFailed"),
]


@pytest.mark.parametrize("what,body,status,code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_leaves_nothing(api, what, body, status, code):
    before = inventory(api)
    tasks_before = len(api.ok("list-tasks", {})["tasks"])
    err = api.error("create-vm", body, status=status, code=code, role="operator")
    assert err["message"]
    assert inventory(api) == before
    assert len(api.ok("list-tasks", {})["tasks"]) == tasks_before  # refused before any task started


def test_capacity_error_gives_the_numbers(api):
    err = api.error("create-vm", {"name": "big", "disk_size_gib": 1, "memory_mib": 40000}, status=422,
                    code="NodeCapacityExceeded", role="operator")
    assert "40000" in err["message"] and "32768" in err["message"]
    assert err["details"]["requested"] == 40000 and err["details"]["available"] == 32768


def test_node_in_maintenance(api):
    api.ok("disable-node", {"name": "local"})
    before = inventory(api)
    api.error("create-vm", {"name": "x", "disk_size_gib": 1}, status=409, code="NodeInMaintenance",
              role="operator")
    assert inventory(api) == before
    # running VMs stay manageable
    api.ok("stop-vm", {"name": "web1", "force": True}, role="operator")


def test_existing_root_volume_name_is_a_conflict(api):
    add_volume(api, "default", "newvm-root.qcow2")
    before = inventory(api)
    api.error("create-vm", {"name": "newvm", "disk_size_gib": 1}, status=409, code="VolumeExists",
              role="operator")
    assert inventory(api) == before


def test_a_root_volume_made_by_someone_else_after_the_plan_is_left_alone(api, monkeypatch):
    """The overlay is created while its cleanup is written: a volume of that name that appeared after the plan
    found the name free (another client) makes libvirt refuse the creation, and is not removed as ours."""
    add_volume(api, "default", "late-root.qcow2")
    before = inventory(api)
    real = api.services.gateway.vm_volume_exists
    monkeypatch.setattr(api.services.gateway, "vm_volume_exists",
                        lambda node, pool, name: False if name == "late-root.qcow2" else real(node, pool, name))
    done = create(api, {"name": "late", "disk_size_gib": 1}, state="failed")
    assert "exists" in done["error"]["message"]  # VolumeExists on a real node; the test driver's own code here
    assert inventory(api) == before  # the other client's volume is still there, no domain left


def test_viewer_cannot_create(api):
    api.error("create-vm", {"name": "x", "disk_size_gib": 1}, status=403, code="Forbidden", role="viewer")


def test_the_kvm_probe_answer_is_kept_in_the_node_metadata(api):
    assert api.ok("describe-node-summary", {"name": "local"})["summary"]["virtualization"]["kvm_usable"] is None
    api.services.nodes.record_kvm_probe("local", False)
    doc = api.services.store.get("node", "local")
    assert doc["kvm_usable"] is False and doc["kvm_probed_at"] and doc["uri"] == api.services.settings.local_uri
    assert api.ok("describe-node-summary", {"name": "local"})["summary"]["virtualization"]["kvm_usable"] is False
    api.ok("modify-node", {"name": "local", "description": "rack 4"})  # other changes keep the answer
    assert api.services.nodes.record("local").kvm_usable is False


def test_a_linked_clone_writes_its_task_record_twice_and_its_audit_outcome_before_the_final_record(api,
                                                                                                   monkeypatch):
    """The new record carries the cleanups of the overlay and the domain (no write of its own before libvirt
    makes them), the final write carries `running` too: two writes. The audit outcome line is on disk before the
    final record replaces the old one (its fsync overlaps the record's)."""
    add_volume(api, "default", "gold.qcow2", 2**30, "qcow2")
    store, audit = api.services.tasks.store, api.services.audit
    writes, order = [], []
    real_put, real_update, real_hook = store.put, store.update, api.services.tasks._on_final

    def put(kind, *key, doc):
        if kind == "task":
            writes.append(("put", doc["state"], [c["type"] for c in doc["cleanup"]]))
        return real_put(kind, *key, doc=doc)

    def update(kind, *key, fn, durable=True, before_replace=None):
        def recorded(doc):
            new = fn(doc)
            if new is not None and kind == "task":
                writes.append(("update", new["state"], [c["type"] for c in new["cleanup"]]))
            return new

        def before():
            if before_replace is not None:
                before_replace()
            order.append(("replace", key[0]))
        return real_update(kind, *key, fn=recorded, durable=durable, before_replace=before)

    def hook(view):
        synced = real_hook(view)

        def wait():
            if synced is not None:
                synced()
            order.append(("outcome synced", view["id"]))
        return wait
    monkeypatch.setattr(store, "put", put)
    monkeypatch.setattr(store, "update", update)
    monkeypatch.setattr(api.services.tasks, "_on_final", hook)
    done = create(api, {"name": "twice", "volume": "gold.qcow2", "clone": "linked", "start": False})
    assert writes == [("put", "pending", ["vm-volume", "vm-domain"]), ("update", "succeeded", [])]
    assert order == [("outcome synced", done["id"]), ("replace", done["id"])]
    lines = [e for e in audit.read_after(("", 0))[0] if e.get("task_id") == done["id"]]
    # (the task may end before its request's line is written: either order)
    assert sorted(e["entry"] for e in lines) == ["request", "task_outcome"]


def test_a_create_cancelled_before_it_started_leaves_a_late_volume_of_that_name_alone(api, monkeypatch):
    """The overlay's and the domain's cleanups are in the new record; a task cancelled while queued never made
    them, so they are dropped, not run: a volume of that name someone else made meanwhile stays."""
    add_volume(api, "default", "gold2.qcow2", 2**30, "qcow2")
    tasks = api.services.tasks
    real_claim = tasks._claim

    def claim(task_id):
        add_volume(api, "default", "queued-root.qcow2", 2**30, "qcow2")  # another client, after the plan
        tasks.cancel(task_id)
        return real_claim(task_id)
    monkeypatch.setattr(tasks, "_claim", claim)
    before = inventory(api)
    done = create(api, {"name": "queued", "volume": "gold2.qcow2", "clone": "linked", "start": False},
                  state="cancelled")
    assert tasks.store.get("task", done["id"])["cleanup"] == []
    after = inventory(api)
    assert ("default", "queued-root.qcow2") in after["volumes"] and "queued" not in after["domains"]
    assert after["volumes"] == sorted([*before["volumes"], ("default", "queued-root.qcow2")])
