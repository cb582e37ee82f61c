"""The VM service's rules on a fake gateway (no libvirt): state rules of the power actions, modify's bounds,
device checks, password reset, delete-vm's choice of what to remove, and listing over several nodes."""
from __future__ import annotations

import logging

import pytest

from jvp.domain.vm import CloudInitView, NicView
from jvp.errors import Conflict, InvalidInput, JvpError, NodeUnreachable, PreconditionFailed
from jvp.service.vm.service import VmService
from tests.unit.fakes.vm import FakeGuest, FakeVmGateway, FakeVmNodes, disk, vm_view

SYSTEM = disk("vda", "/pools/default/app-root.qcow2", volume="app-root.qcow2", system=True)
DATA = disk("vdb", "/pools/default/data.qcow2", volume="data.qcow2")


def service(*views, nodes: FakeVmNodes | None = None, on_deleted=None, **gw_kw) -> tuple[VmService, FakeVmGateway]:
    gw = FakeVmGateway([FakeGuest(v) for v in views], **gw_kw)
    return VmService(nodes or FakeVmNodes(), gw, on_deleted=on_deleted), gw


# -- power ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("state,hint", [("running", "only a stopped or crashed VM"), ("paused", "use resume-vm"),
                                        ("pmsuspended", "use resume-vm"), ("shutting-down", "only a stopped")])
def test_start_needs_a_stopped_vm(state, hint):
    svc, gw = service(vm_view("a", state))
    with pytest.raises(Conflict, match=hint) as e:
        svc.start("local", "a")
    assert e.value.details == {"vm": "a", "node": "local", "state": state, "required": "stopped"}
    assert gw.calls == []


def test_start_answers_the_vm_and_its_state():
    svc, gw = service(vm_view("a", "stopped"))
    res = svc.start("local", "a")
    assert res["state"] == "running" and res["vm"].state == "running" and res["message"] == "vm 'a' started"
    assert gw.calls == [("start_vm", "a")]


def test_a_crashed_vm_is_started_again():
    """crashed -> start-vm is a way out (the gateway powers a kept QEMU process off first)."""
    svc, gw = service(vm_view("a", "crashed"))
    res = svc.start("local", "a")
    assert res["state"] == "running" and "had crashed" in res["message"]
    assert gw.calls == [("start_vm", "a")]


def test_a_crashed_vm_stops_with_force_only():
    svc, gw = service(vm_view("a", "crashed"))
    with pytest.raises(Conflict, match="stop it with force") as e:
        svc.stop("local", "a")
    assert e.value.code == "InvalidState" and gw.calls == []
    res = svc.stop("local", "a", force=True)
    assert res["stopped"] is True and res["gone"] is False and res["state"] == "stopped"
    assert gw.calls == [("power_vm", "a", "destroy")]


@pytest.mark.parametrize("action", ["reboot", "reset", "suspend", "resume"])
def test_power_actions_on_a_crashed_vm_say_the_way_out(action):
    svc, gw = service(vm_view("a", "crashed"))
    with pytest.raises(Conflict, match="stop-vm \\(force\\) or start-vm") as e:
        svc.power("local", "a", action)
    assert e.value.code == "InvalidState" and e.value.details["state"] == "crashed" and gw.calls == []


def test_resume_wakes_a_pm_suspended_guest():
    svc, gw = service(vm_view("a", "pmsuspended"))
    res = svc.power("local", "a", "resume")
    assert res["state"] == "running" and res["message"] == "vm 'a': woken up"
    assert gw.calls == [("power_vm", "a", "wakeup")]


def test_a_pm_suspended_guest_is_not_suspended_again_nor_shut_down():
    svc, gw = service(vm_view("a", "pmsuspended"))
    with pytest.raises(Conflict, match="woken with resume-vm"):
        svc.power("local", "a", "suspend")
    with pytest.raises(Conflict, match="resume it first or stop with force"):
        svc.stop("local", "a")
    assert gw.calls == []


@pytest.mark.parametrize("force", [True, False])
def test_stopping_a_transient_vm_answers_its_last_view_and_gone(force):
    svc, gw = service(vm_view("t", "running", persistent=False, ips=["198.18.0.9"]))
    res = svc.stop("local", "t", force=force)
    assert res["gone"] is True and res["stopped"] is True and res["state"] == "stopped"
    assert res["vm"].name == "t" and res["vm"].state == "stopped" and res["vm"].persistent is False
    assert res["vm"].ips == [] and "no longer exists" in res["message"]
    assert "t" not in gw.guests


@pytest.mark.parametrize("action,state,ok", [
    ("reboot", "running", True), ("reboot", "paused", False), ("reset", "paused", True),
    ("suspend", "running", True), ("suspend", "stopped", False), ("resume", "paused", True),
    ("resume", "running", False)])
def test_power_actions_need_their_states(action, state, ok):
    svc, gw = service(vm_view("a", state))
    if ok:
        assert svc.power("local", "a", action)["message"] == f"vm 'a': {action} done"
        assert gw.calls == [("power_vm", "a", action)]
    else:
        with pytest.raises(Conflict) as e:
            svc.power("local", "a", action)
        assert e.value.code == "InvalidState" and gw.calls == []


# -- modify -----------------------------------------------------------------------------------------------
def test_modify_is_bounded_by_the_node():
    svc, gw = service(vm_view("a"), figures={"arch": "x86_64", "cpus": 2, "memory_mib": 1024})
    for kw, field in (({"vcpus": 3}, "vcpus"), ({"memory_mib": 2048}, "memory_mib")):
        with pytest.raises(PreconditionFailed) as e:
            svc.modify("local", "a", **kw)
        assert e.value.code == "NodeCapacityExceeded" and e.value.details["field"] == field
    assert gw.calls == []


def test_modify_applies_each_change_and_says_how():
    svc, gw = service(vm_view("a"))
    res = svc.modify("local", "a", vcpus=2, labels={"env": "prod"}, autostart=True, new_name="b")
    assert res["vm"].name == "b" and res["vm"].labels == {"env": "prod"} and res["vm"].vcpus == 2
    assert res["next_boot"] == ["vcpus"] and res["applied_live"] == ["labels", "autostart", "name"]
    assert [c[0] for c in gw.calls] == ["resize_vm", "update_vm_facts", "set_vm_autostart", "rename_vm"]


def test_rename_needs_a_stopped_vm_and_a_free_name():
    svc, gw = service(vm_view("a", "running"), vm_view("b"))
    with pytest.raises(Conflict) as e:
        svc.modify("local", "a", new_name="c")
    assert e.value.code == "InvalidState"
    with pytest.raises(Conflict) as e:
        svc.modify("local", "b", new_name="a")
    assert e.value.code == "VmExists" and gw.calls == []


# -- devices ----------------------------------------------------------------------------------------------
def test_attach_volume_checks_the_target_and_the_volume():
    vol = {"pool": "default", "volume": "data.qcow2", "path": DATA.path, "format": "qcow2", "capacity_bytes": 1,
           "backing": None}
    svc, gw = service(vm_view("a", disks=[SYSTEM]), vm_view("b"), volumes=[vol], users={DATA.path: ["b"]})
    with pytest.raises(InvalidInput):
        svc.attach_volume("local", "a", "default", "data.qcow2", target="sdb", bus="virtio")
    with pytest.raises(Conflict) as e:
        svc.attach_volume("local", "a", "default", "data.qcow2")
    assert e.value.code == "VolumeInUse" and e.value.details["vms"] == ["b"]
    gw.users, gw.dependents = {}, {DATA.path: ["/pools/default/c.qcow2"]}
    with pytest.raises(Conflict, match="attach a copy instead"):
        svc.attach_volume("local", "a", "default", "data.qcow2")
    gw.dependents = {}
    res = svc.attach_volume("local", "a", "default", "data.qcow2")
    assert res["target"] == "vdb" and res["live"] == "not-running"


def test_the_system_disk_cannot_be_detached():
    svc, gw = service(vm_view("a", disks=[SYSTEM, DATA]))
    with pytest.raises(Conflict) as e:
        svc.detach_volume("local", "a", target="vda")
    assert e.value.code == "SystemDisk"
    with pytest.raises(JvpError) as e:
        svc.detach_volume("local", "a", target="vdz")
    assert e.value.code == "DiskNotFound"
    with pytest.raises(InvalidInput):
        svc.detach_volume("local", "a")
    assert svc.detach_volume("local", "a", target="vdb")["target"] == "vdb"
    assert gw.calls == [("detach_vm_disk", "a", "vdb")]


def test_nics_need_a_known_source_and_a_free_mac():
    nic = NicView(mac="52:54:00:00:00:01", type="network", network="lab")
    svc, gw = service(vm_view("a"), vm_view("b", nics=[nic]),
                      networks={"lab": {"name": "lab", "active": True}})
    with pytest.raises(Conflict) as e:
        svc.attach_nic("local", "a", "network", "lab", mac="52:54:00:00:00:01")
    assert e.value.code == "MacInUse" and e.value.details["vm"] == "b"
    res = svc.attach_nic("local", "a", "network", "lab")
    assert res["mac"].startswith("52:54:00:") and res["mac"] != nic.mac
    with pytest.raises(JvpError) as e:
        svc.detach_nic("local", "a", "52:54:00:99:99:99")
    assert e.value.code == "NicNotFound"
    assert svc.detach_nic("local", "a", res["mac"].upper())["mac"] == res["mac"]


def test_media_changes_only_on_cdrom_drives():
    svc, gw = service(vm_view("a", disks=[SYSTEM, disk("hda", None, device="cdrom")]))
    with pytest.raises(JvpError) as e:
        svc.change_media("local", "a", "vda")
    assert e.value.code == "CdromNotFound"
    assert svc.change_media("local", "a", "hda")["live"] == "not-running"
    assert gw.calls == [("change_vm_media", "a", "hda", None)]


@pytest.mark.parametrize("state,agent,code", [("stopped", None, "InvalidState"),
                                              ("running", None, "GuestAgentUnavailable"),
                                              ("running", False, "GuestAgentUnavailable")])
def test_password_reset_needs_a_running_guest_agent(state, agent, code):
    svc, gw = service(vm_view("a", state, guest_agent=agent))
    with pytest.raises(JvpError) as e:
        svc.reset_password("local", "a", "root", "pw")
    assert e.value.code == code and gw.calls == []


def test_password_reset():
    svc, gw = service(vm_view("a", "running", guest_agent=True))
    assert svc.reset_password("local", "a", "root", "pw") == {"ok": True, "vm": "a", "user": "root"}
    assert gw.guests["a"].password == {"root": "pw"}


# -- delete -----------------------------------------------------------------------------------------------
SEED = CloudInitView(instance_id="i-1", seed_pool="default", seed_volume=".jvp-cidata-a-1.iso")


def test_delete_refuses_a_running_vm_unless_forced():
    svc, gw = service(vm_view("a", "running"))
    with pytest.raises(Conflict) as e:
        svc.delete("local", "a")
    assert e.value.code == "InvalidState" and gw.calls == []
    assert svc.delete("local", "a", force=True)["kept_volumes"] == []


def test_delete_removes_the_seed_and_keeps_disks_unless_asked():
    told = []
    svc, gw = service(vm_view("a", disks=[SYSTEM, DATA], cloud_init=SEED), on_deleted=lambda n, v: told.append(v))
    res = svc.delete("local", "a")
    assert [d["volume"] for d in res["deleted_volumes"]] == [".jvp-cidata-a-1.iso"]
    assert {d["volume"]: d["reason"] for d in res["kept_volumes"]} == {
        "app-root.qcow2": "delete_volumes is false", "data.qcow2": "delete_volumes is false"}
    assert told == ["a"] and gw.calls[0] == ("undefine_vm", "a")


def test_delete_volumes_keeps_what_something_else_needs():
    tpl = disk("vdc", "/pools/default/_templates_/deb.qcow2", pool="default_templates_", volume="deb.qcow2")
    foreign = disk("vdd", "/srv/loose.img")
    svc, gw = service(vm_view("a", disks=[SYSTEM, DATA, tpl, foreign]), users={DATA.path: ["b"]},
                      dependents={SYSTEM.path: ["/pools/default/c.qcow2"]})
    res = svc.delete("local", "a", delete_volumes=True)
    assert res["deleted_volumes"] == []
    assert {d["path"]: d["reason"] for d in res["kept_volumes"]} == {
        SYSTEM.path: "the backing file of /pools/default/c.qcow2", DATA.path: "still used by vm(s) b",
        tpl.path: "a template's base image", foreign.path: "not a volume of any storage pool on the node"}


def test_delete_volumes_removes_free_disks_and_a_failing_listener_never_fails_the_delete(caplog):
    def boom(node, name):
        raise RuntimeError("disk on fire")
    svc, gw = service(vm_view("a", disks=[SYSTEM]), on_deleted=boom,
                      volumes=[{"pool": "default", "volume": "app-root.qcow2", "path": SYSTEM.path}])
    with caplog.at_level(logging.ERROR):
        res = svc.delete("local", "a", delete_volumes=True)
    assert [d["volume"] for d in res["deleted_volumes"]] == ["app-root.qcow2"] and "a" not in gw.guests
    assert "after-delete hook failed" in caplog.text


# -- listing ----------------------------------------------------------------------------------------------
def test_list_reports_a_failing_node_beside_the_others_and_filters():
    down = NodeUnreachable("node 'second' is unreachable: test", details={"node": "second"})
    svc, gw = service(vm_view("a", "running", labels={"env": "prod"}), vm_view("b", labels={"env": "dev"}),
                      nodes=FakeVmNodes(("local", "second")), failing_nodes={"second": down})
    res = svc.list()
    assert [v["name"] for v in res["vms"]] == ["a", "b"]
    assert res["errors"] == [{"node": "second", "code": "NodeUnreachable",
                              "message": "node 'second' is unreachable: test"}]
    assert [v["name"] for v in svc.list(node="local", label="env=dev")["vms"]] == ["b"]
    assert [v["name"] for v in svc.list(state="running", label="env")["vms"]] == ["a"]
    with pytest.raises(JvpError) as e:
        svc.list(node="ghost")
    assert e.value.code == "NodeNotFound"
