"""The image lifecycle on libvirt's test driver: rebuild-vm, rebuild-template-vms, check-template-updates, the
template history and the start-up validation (broken templates).

The test driver cannot upload volumes, so a VM here has no cloud-init seed (create-vm with start=false and no
cloud_init); a rebuild with new cloud-init settings fails at the seed upload, which is how these tests force a
failure mid-rebuild. tests/host/test_rebuild_host.py covers the real rebuild of a booted guest.
"""
from __future__ import annotations


from tests.api.test_template import TPOOL, add_volume, plant, updated, url_source
from tests.templateutil import image_server, images  # noqa: F401 - pytest fixtures


def wait(api, resp, state: str = "succeeded") -> dict:
    assert resp.status_code == 202, resp.get_json()
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], 60)
    assert done["state"] == state, done
    return done


def create_vm(api, name: str, template: str = "deb12", **extra) -> dict:
    wait(api, api.call("create-vm", {"name": name, "template": template, "start": False, **extra},
                       role="operator"))
    return api.ok("describe-vm", {"name": name})["vm"]


def system_disk(vm: dict) -> dict:
    return next(d for d in vm["disks"] if d.get("system"))


def volumes(api, pool: str = "default") -> set[str]:
    return {v["name"] for v in api.ok("list-volumes", {"pool": pool, "include_internal": True})["volumes"]}


def history(api, name: str, **extra) -> list[dict]:
    return api.ok("list-template-history", {"name": name, **extra})["entries"]


def test_rebuild_vm_replaces_the_system_disk_and_keeps_the_rest(api):
    doc = plant(api, "deb12")
    vm = create_vm(api, "app1", nics=[{"network": "demo-nat"}])
    add_volume(api, "default", "app1-data.qcow2", size=2**20)
    api.ok("attach-volume", {"name": "app1", "pool": "default", "volume": "app1-data.qcow2"}, role="operator")
    before = api.ok("describe-vm", {"name": "app1"})["vm"]
    assert system_disk(before)["volume"] == "app1-root.qcow2"

    done = wait(api, api.call("rebuild-vm", {"name": "app1"}, role="operator"))
    res = done["result"]
    assert res["system_disk"] == {"pool": "default", "volume": "app1-root-1.qcow2"}
    assert res["replaced"] == {"pool": "default", "volume": "app1-root.qcow2"}
    assert res["removed_volumes"] == ["default/app1-root.qcow2"] and res["vm"]["state"] == "stopped"
    assert any("no cloud-init seed" in n for n in res["notes"])
    after = api.ok("describe-vm", {"name": "app1"})["vm"]
    assert after["uuid"] == vm["uuid"] and [n["mac"] for n in after["nics"]] == [n["mac"] for n in vm["nics"]]
    assert system_disk(after)["volume"] == "app1-root-1.qcow2" and system_disk(after)["target"] == "vda"
    data = [d for d in after["disks"] if d["device"] == "disk" and not d.get("system")]
    assert [(d["pool"], d["volume"]) for d in data] == [("default", "app1-data.qcow2")]
    assert after["template"] == "deb12"
    assert "app1-root.qcow2" not in volumes(api) and "app1-root-1.qcow2" in volumes(api)
    vol = api.ok("describe-volume", {"pool": "default", "name": "app1-root-1.qcow2"})["volume"]
    assert vol["backing"]["path"] == doc["storage"]["path"]

    # a second rebuild alternates back to the original name
    done = wait(api, api.call("rebuild-vm", {"name": "app1"}, role="operator"))
    assert done["result"]["system_disk"]["volume"] == "app1-root.qcow2"
    assert "app1-root-1.qcow2" not in volumes(api)
    entries = history(api, "deb12")
    assert [(e["event"], e["outcome"], e["vm"]) for e in entries] == [("rebuild", "succeeded", "app1")] * 2
    assert entries[0]["by"] == "t-operator" and entries[0]["task"] == done["id"]
    assert entries[0]["old"]["volume"] == entries[0]["new"]["volume"] == "deb12-v1.qcow2"


def test_a_rebuild_takes_the_templates_new_image_and_a_running_vm_runs_again(api):
    plant(api, "deb12")
    create_vm(api, "app1")
    api.ok("start-vm", {"name": "app1"}, role="operator")
    new = updated(api, "deb12")   # v2 is current now, v1 kept for app1
    done = wait(api, api.call("rebuild-vm", {"name": "app1", "stop_timeout_s": 5}, role="operator"))
    assert done["result"]["vm"]["state"] == "running"
    assert done["result"]["image"] == f"{TPOOL}/deb12-v2.qcow2"
    vol = api.ok("describe-volume", {"pool": "default", "name": done["result"]["system_disk"]["volume"]})["volume"]
    assert vol["backing"]["path"] == new["storage"]["path"]
    assert api.ok("describe-vm", {"name": "app1"})["vm"]["state"] == "running"
    entry = history(api, "deb12")[0]
    assert entry["old"]["volume"] == "deb12-v1.qcow2" and entry["new"]["volume"] == "deb12-v2.qcow2"
    assert entry["new"]["version"] == 2
    # app1 was the last VM on v1: the old image went with the rebuild
    assert "removed old images" in entry["message"]
    assert api.ok("describe-template", {"name": "deb12"})["template"]["previous"] == []
    assert "deb12-v1.qcow2" not in volumes(api, TPOOL)


def test_an_interrupted_rebuild_gets_the_old_config_back_from_its_cleanup(api):
    """JVP killed after the new disk was put in the config: the task's "vm-definition" cleanup (run at the next
    start) defines the old config again and starts the VM when it ran."""
    plant(api, "deb12")
    create_vm(api, "app1")
    gw = api.services.gateway
    vol = gw.create_vm_volume("local", "default", "app1-root-1.qcow2", 2**30, "qcow2", None)
    before = gw.replace_vm_system_disk("local", "app1", "vda", vol["path"], "qcow2", None, None, {})
    assert system_disk(api.ok("describe-vm", {"name": "app1"})["vm"])["volume"] == "app1-root-1.qcow2"
    uuid = api.ok("describe-vm", {"name": "app1"})["vm"]["uuid"]
    api.services.vm_rebuilder.cleanup_definition({"type": "vm-definition", "node": "local", "name": "app1",
                                                  "uuid": uuid, "xml": before, "start": True})
    vm = api.ok("describe-vm", {"name": "app1"})["vm"]
    assert system_disk(vm)["volume"] == "app1-root.qcow2" and vm["state"] == "running"
    # another VM took the name meanwhile (another UUID): nothing is restored
    assert gw.restore_vm_definition("local", "app1", "00000000-0000-0000-0000-000000000000", before) is False


def test_a_rebuild_onto_another_template(api):
    plant(api, "deb12")
    other = plant(api, "alma9")
    create_vm(api, "app1")
    done = wait(api, api.call("rebuild-vm", {"name": "app1", "template": "alma9"}, role="operator"))
    assert done["result"]["template"] == "alma9"
    vm = api.ok("describe-vm", {"name": "app1"})["vm"]
    assert vm["template"] == "alma9"
    vol = api.ok("describe-volume", {"pool": "default", "name": system_disk(vm)["volume"]})["volume"]
    assert vol["backing"]["path"] == other["storage"]["path"]
    assert history(api, "alma9")[0]["message"].startswith("from template 'deb12'")
    assert api.ok("describe-template", {"name": "alma9"})["template"]["usage"]["vm_count"] == 1


def test_a_volume_the_vm_was_created_on_as_is_is_kept(api):
    plant(api, "deb12")
    add_volume(api, "default", "mine.qcow2", size=2**20)
    wait(api, api.call("create-vm", {"name": "app1", "volume": "mine.qcow2", "start": False}, role="operator"))
    done = wait(api, api.call("rebuild-vm", {"name": "app1", "template": "deb12"}, role="operator"))
    assert done["result"]["system_disk"]["volume"] == "app1-root.qcow2"
    assert done["result"]["kept_volumes"] == ["default/mine.qcow2"] and done["result"]["removed_volumes"] == []
    assert "mine.qcow2" in volumes(api) and any("is kept" in n for n in done["result"]["notes"])


def test_a_failure_mid_rebuild_puts_the_old_disk_back(api):
    plant(api, "deb12")
    create_vm(api, "app1")
    api.ok("start-vm", {"name": "app1"}, role="operator")
    before = api.ok("describe-vm", {"name": "app1"})["vm"]
    vols = volumes(api)
    # the test driver refuses the seed upload: the clone is made, then the task fails
    done = wait(api, api.call("rebuild-vm", {"name": "app1", "cloud_init": {"hostname": "x"}, "stop_timeout_s": 5},
                              role="operator"), state="failed")
    assert done["error"]["code"]
    # the error says which step failed and where the VM is now
    msg = done["error"]["message"]
    assert msg.startswith("rebuilding vm 'app1' on node 'local' failed while writing the new cloud-init seed"), msg
    assert msg.endswith("the VM is back on its old system disk default/app1-root.qcow2 and running"), msg
    assert done["error"]["details"]["restored"] is True and done["error"]["details"]["vm_state"] == "running"
    after = api.ok("describe-vm", {"name": "app1"})["vm"]
    assert after["state"] == "running"   # started again
    assert system_disk(after)["volume"] == "app1-root.qcow2" and after["disks"] == before["disks"]
    assert volumes(api) == vols          # the new clone is gone, the old disk is there
    assert api.services.store.get("task", done["id"]).get("cleanup") in (None, [])
    assert [(e["event"], e["outcome"]) for e in history(api, "deb12")] == [("rebuild", "failed")]


def test_rebuild_refusals_change_nothing(api):
    plant(api, "deb12")
    create_vm(api, "app1")
    vols = volumes(api)
    api.error("rebuild-vm", {"name": "db1"}, role="operator", status=422, code="VmNotFromTemplate")
    api.error("rebuild-vm", {"name": "nope"}, role="operator", status=404, code="VmNotFound")
    api.error("rebuild-vm", {"name": "app1", "template": "nope"}, role="operator", status=404,
              code="TemplateNotFound")
    api.error("rebuild-vm", {"name": "app1", "stop_timeout_s": -1}, role="operator", status=400,
              code="ValidationFailed")
    api.error("rebuild-vm", {"name": "app1", "template": "\u00d2\"n\u00bae"}, role="operator", status=400,
              code="ValidationFailed")  # a template's name, as create-vm's (the fuzz gate's seed 4242 found a 500)
    api.error("rebuild-vm", {"name": "app1"}, role="viewer", status=403)
    api.error("rebuild-vm", {"name": "app1", "cloud_init": {"keypairs": ["nope"]}}, role="operator", status=404,
              code="KeypairNotFound")
    wait(api, api.call("create-snapshot", {"vm": "app1", "name": "s1"}, role="operator"))
    err = api.error("rebuild-vm", {"name": "app1"}, role="operator", status=409, code="VmHasSnapshots")
    assert err["details"]["snapshots"] == ["s1"] and "delete-snapshot" in err["message"]
    api.ok("delete-snapshot", {"vm": "app1", "name": "s1"}, role="operator")
    api.ok("start-vm", {"name": "app1"}, role="operator")
    api.ok("suspend-vm", {"name": "app1"}, role="operator")
    api.error("rebuild-vm", {"name": "app1"}, role="operator", status=409, code="InvalidState")
    api.ok("stop-vm", {"name": "app1", "force": True}, role="operator")
    assert volumes(api) == vols
    assert system_disk(api.ok("describe-vm", {"name": "app1"})["vm"])["volume"] == "app1-root.qcow2"
    assert history(api, "deb12") == []  # refused before the task: nothing happened to record


def test_a_vm_whose_recorded_template_is_no_name_is_refused_as_an_unknown_template(api):
    """A VM's recorded template comes from its definition, which another tool may have written anything into:
    a value no template can be named (not a metadata key) is 404 TemplateNotFound, never a 500."""
    from lxml import etree

    from jvp.hypervisor.domain_xml import ensure_facts, update_facts
    plant(api, "deb12")
    create_vm(api, "app1")

    def rewrite(conn):
        root = etree.fromstring(conn.lookupByName("app1").XMLDesc(0))
        update_facts(ensure_facts(root), template={"name": "../\u00d2\"n\u00bae"})
        conn.defineXML(etree.tostring(root, encoding="unicode"))
    api.services.gateway.run_raw("local", rewrite)
    assert api.ok("describe-vm", {"name": "app1"})["vm"]["template"] == "../\u00d2\"n\u00bae"
    err = api.error("rebuild-vm", {"name": "app1"}, role="operator", status=404, code="TemplateNotFound")
    assert err["message"].startswith("template") and "\u00d2" in err["message"]
    assert system_disk(api.ok("describe-vm", {"name": "app1"})["vm"])["volume"] == "app1-root.qcow2"


def test_a_broken_template_or_a_missing_image_is_refused(api):
    doc = plant(api, "deb12")
    create_vm(api, "app1")
    api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName(TPOOL).storageVolLookupByName(
        doc["storage"]["volume"]).delete(0))
    api.error("rebuild-vm", {"name": "app1"}, role="operator", status=422, code="TemplateImageMissing")
    # the start-up validation marks it broken; from then on create-vm and rebuild-vm say so
    assert api.services.templates.validate_at_start() == {"local": {"deb12": "broken"}}
    t = api.ok("describe-template", {"name": "deb12"})["template"]
    assert t["state"] == "broken" and t["integrity"]["state"] == "broken" and t["integrity"]["by"] == "start-up"
    assert "is gone" in t["integrity"]["reason"]
    err = api.error("rebuild-vm", {"name": "app1"}, role="operator", status=422, code="TemplateBroken")
    assert err["details"]["template"] == "deb12" and "verify-template" in err["message"]
    api.error("create-vm", {"name": "app2", "template": "deb12"}, role="operator", status=422,
              code="TemplateBroken")
    entries = history(api, "deb12")
    assert [(e["event"], e["outcome"], e["by"]) for e in entries] == [("validate", "broken", "jvp")]
    # a second start finds it broken again but records nothing new (the state did not change)
    api.services.templates.validate_at_start()
    assert len(history(api, "deb12")) == 1
    assert [t["state"] for t in api.ok("list-templates", {})["templates"]] == ["broken"]


def test_the_start_up_validation_keeps_good_templates_and_records_nothing_for_them(api):
    plant(api, "good")
    assert api.services.templates.validate_at_start() == {"local": {"good": "ok"}}
    t = api.ok("describe-template", {"name": "good"})["template"]
    assert t["state"] == "ready" and "integrity" not in t   # never judged broken, never verified
    assert history(api, "good") == []


def test_the_start_up_validation_runs_when_the_app_starts(api):
    from jvp.app import create_app
    doc = plant(api, "deb12")
    api.services.gateway.run_raw("local", lambda c: c.storagePoolLookupByName(TPOOL).storageVolLookupByName(
        doc["storage"]["volume"]).delete(0))
    assert api.ok("describe-template", {"name": "deb12"})["template"]["state"] == "image-missing"
    create_app(api.services.settings, services=api.services)  # what `jvp serve` does at start
    t = api.ok("describe-template", {"name": "deb12"})["template"]
    assert t["state"] == "broken" and t["integrity"]["by"] == "start-up"


def test_rebuild_template_vms_per_vm_results(api):
    plant(api, "deb12")
    create_vm(api, "app1")
    create_vm(api, "app2")
    api.ok("start-vm", {"name": "app2"}, role="operator")
    api.error("rebuild-template-vms", {"name": "deb12", "vms": ["db1"]}, role="operator", status=400,
              code="InvalidInput")
    api.error("rebuild-template-vms", {"name": "deb12", "running": "maybe"}, role="operator", status=400,
              code="ValidationFailed")
    api.error("rebuild-template-vms", {"name": "nope"}, role="operator", status=404, code="TemplateNotFound")
    done = wait(api, api.call("rebuild-template-vms", {"name": "deb12", "running": "skip"}, role="operator"))
    got = {r["vm"]: (r["state"], r["outcome"]) for r in done["result"]["vms"]}
    assert got == {"app1": ("stopped", "rebuilt"), "app2": ("running", "skipped")}
    assert done["result"]["counts"] == {"rebuilt": 1, "skipped": 1}
    assert system_disk(api.ok("describe-vm", {"name": "app2"})["vm"])["volume"] == "app2-root.qcow2"
    done = wait(api, api.call("rebuild-template-vms", {"name": "deb12", "vms": ["app2"], "stop_timeout_s": 5},
                              role="operator"))
    assert [(r["vm"], r["outcome"], r["state_after"]) for r in done["result"]["vms"]] == [
        ("app2", "rebuilt", "running")]
    assert system_disk(api.ok("describe-vm", {"name": "app2"})["vm"])["volume"] == "app2-root-1.qcow2"
    # one VM that cannot be rebuilt does not stop the others
    wait(api, api.call("create-snapshot", {"vm": "app1", "name": "s1"}, role="operator"))
    done = wait(api, api.call("rebuild-template-vms", {"name": "deb12"}, role="operator"))
    got = {r["vm"]: (r["outcome"], (r.get("error") or {}).get("code")) for r in done["result"]["vms"]}
    assert got == {"app1": ("failed", "VmHasSnapshots"), "app2": ("rebuilt", None)}
    events = [(e["vm"], e["outcome"]) for e in history(api, "deb12") if e["event"] == "rebuild"]
    assert events[0] == ("app2", "succeeded") and ("app1", "succeeded") in events


def test_check_template_updates_checks_every_template_and_records_history(api, image_server, images):
    reg = api.call("register-template", {"pool": "default", "name": "web", "source": url_source(
        image_server, "/images/small.qcow2")})
    # the test driver cannot take the upload: plant the registered state with the URL source instead
    api.services.tasks.wait(reg.get_json()["task"]["id"], 60)
    remote = api.services.templates.fetcher.probe(image_server.url("/images/small.qcow2"))
    plant(api, "web", source={"type": "url", "url": image_server.url("/images/small.qcow2"), "etag": remote.etag,
                              "last_modified": remote.last_modified, "length": remote.length})
    plant(api, "local-only")
    plant(api, "gone-source", source={"type": "url", "url": image_server.url("/images/none.qcow2")})
    api.error("check-template-updates", {"node": "nope"}, status=404, code="NodeNotFound")
    done = wait(api, api.call("check-template-updates", {}, role="viewer"))
    got = {r["name"]: r["outcome"] for r in done["result"]["templates"]}
    assert got == {"web": "up-to-date", "local-only": "not-updatable", "gone-source": "failed"}
    failed = next(r for r in done["result"]["templates"] if r["name"] == "gone-source")
    assert failed["error"]["code"] == "SourceNotFound"
    assert [(e["event"], e["outcome"], e["by"], e["task"]) for e in history(api, "web")] == [
        ("check", "up-to-date", "t-viewer", done["id"])]
    assert history(api, "gone-source")[0]["outcome"] == "failed"
    assert history(api, "local-only") == []
    api.ok("check-template-update", {"name": "web"}, role="viewer")
    assert len(history(api, "web")) == 2


def test_history_is_bounded_newest_first_and_goes_with_the_template(api):
    plant(api, "deb12")
    h = api.services.templates.history
    for i in range(5):
        h.record("local", "deb12", "check", "up-to-date", by="me", message=f"n{i}")
    assert [e["message"] for e in history(api, "deb12", limit=3)] == ["n4", "n3", "n2"]
    api.error("list-template-history", {"name": "deb12", "limit": 0}, status=400, code="ValidationFailed")
    api.error("list-template-history", {"name": "deb12", "limit": 501}, status=400, code="ValidationFailed")
    api.error("list-template-history", {"name": "nope"}, status=404, code="TemplateNotFound")
    path = api.services.store.path("template_history", "local", "deb12")
    assert path.exists()
    api.ok("delete-template", {"name": "deb12"})
    assert not path.exists() and not path.parent.exists()


def test_verify_template_on_a_driver_without_streams_fails_clearly(api):
    plant(api, "deb12")
    done = wait(api, api.call("verify-template", {"name": "deb12"}), state="failed")
    assert done["error"]["code"] in ("NotSupported",)
    api.error("verify-template", {"name": "deb12"}, role="operator", status=403)
    api.error("verify-template", {"name": "nope"}, status=404, code="TemplateNotFound")
