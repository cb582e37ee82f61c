"""The rules of the template service on a fake gateway (tests/unit/fakes/template.py): deleting and pruning
never guess while a pool's volumes cannot be seen, sources other modules provide, create-vm's base image."""
from __future__ import annotations

import pytest

from jvp.domain.template import NodeUsage
from jvp.errors import JvpError
from jvp.service.storage.pool import StoragePoolService
from jvp.service.storage.volume import VolumeService
from jvp.service.template.install import TemplateInstaller
from jvp.service.template.register import TemplateSources
from jvp.service.template.service import TemplateService
from jvp.settings import REPO_ROOT
from jvp.store import YamlMetadataStore
from tests.unit.fakes.storage import pool_view, vol_view
from tests.unit.fakes.template import FakeNodes, FakeTasks, FakeTemplateGateway

TPOOL = "default_templates_"
IMAGE = f"/srv/{TPOOL}/deb-v1.qcow2"
DOWNLOAD = {"max_bytes": 2**30, "max_redirects": 3, "timeout_s": 5, "allow_file_urls": False,
            "allow_private": True}


def make(tmp_path, gw: FakeTemplateGateway, sources: TemplateSources | None = None) -> TemplateService:
    nodes, tasks = FakeNodes(), FakeTasks()
    volumes = VolumeService(nodes, gw, tasks)
    return TemplateService(YamlMetadataStore(tmp_path, REPO_ROOT / "metadata_schema"), nodes, gw, tasks, volumes,
                           StoragePoolService(nodes, gw, volumes), tmp_path, DOWNLOAD, sources or TemplateSources())


def plant(svc: TemplateService, name: str = "deb") -> dict:
    vol = vol_view(TPOOL, f"{name}-v1.qcow2", path=f"/srv/{TPOOL}/{name}-v1.qcow2")
    doc = TemplateInstaller.new_doc("local", "default", name, "cloud", vol, "qcow2", 5, 2**30,
                                    {"type": "volume", "pool": "default", "volume": "x"},
                                    {"os": {}, "features": {}, "tags": [], "description": ""})
    assert svc.store.create("template", "local", name, doc=doc)
    return doc


def gateway(**kwargs) -> FakeTemplateGateway:
    return FakeTemplateGateway(pools=[pool_view("default"), pool_view(TPOOL)],
                               volumes=[vol_view(TPOOL, "deb-v1.qcow2", path=IMAGE)], **kwargs)


def code_of(fn, *args, **kwargs) -> JvpError:
    with pytest.raises(JvpError) as err:
        fn(*args, **kwargs)
    return err.value


def test_delete_refuses_while_a_pool_cannot_be_listed(tmp_path):
    usage = NodeUsage(volumes=[vol_view(TPOOL, "deb-v1.qcow2", path=IMAGE)],
                      unreadable_pools=[{"pool": "data", "error": "cannot open directory '/srv/nfs': Stale file "
                                                                  "handle"}])
    gw = gateway(usage=usage)
    svc = make(tmp_path, gw)
    plant(svc)
    err = code_of(svc.delete, "local", "deb")
    assert err.code == "TemplateUsageUnknown" and err.details["pools"] == ["data"]
    assert "Stale file handle" in err.message and "'data' (unreadable" in err.message
    assert gw.calls == [] and svc.store.get("template", "local", "deb")
    gw.usage = None  # the pool is readable again
    res = svc.delete("local", "deb")
    assert res == {"ok": True, "deleted_volumes": [f"{TPOOL}/deb-v1.qcow2"], "template_pool_removed": True}
    assert svc.store.get("template", "local", "deb") is None and TPOOL not in gw.pools


def test_delete_refuses_while_a_volume_is_backed_by_the_image(tmp_path):
    gw = gateway()
    gw.vols[("default", "clone.qcow2")] = vol_view("default", "clone.qcow2", backing=IMAGE)
    svc = make(tmp_path, gw)
    plant(svc)
    err = code_of(svc.delete, "local", "deb")
    assert err.code == "TemplateInUse" and err.details["volumes"] == ["default/clone.qcow2"]
    assert gw.calls == []


def test_old_images_are_kept_while_a_pool_is_unseen_and_pruned_after_the_last_vm(tmp_path):
    gw = gateway()
    gw.vols[(TPOOL, "deb-v2.qcow2")] = vol_view(TPOOL, "deb-v2.qcow2")
    gw.pools["cold"] = pool_view("cold", active=False)
    svc = make(tmp_path, gw)
    plant(svc)
    svc.store.update("template", "local", "deb", fn=lambda d: {
        **d, "storage": {**d["storage"], "volume": "deb-v2.qcow2", "path": f"/srv/{TPOOL}/deb-v2.qcow2",
                         "version": 2},
        "previous": [{"volume": "deb-v1.qcow2", "path": IMAGE, "format": "qcow2", "size": 5, "virtual_size": 2**30,
                      "version": 1}]})
    assert svc.after_vm_deleted("local", "app1") == []
    assert ("delete_volume", TPOOL, "deb-v1.qcow2") not in gw.calls
    del gw.pools["cold"]
    assert svc.after_vm_deleted("local", "app1") == [f"{TPOOL}/deb-v1.qcow2"]
    assert svc.store.get("template", "local", "deb")["previous"] == []


def test_snapshot_sources_come_from_the_registry_given_to_the_constructor(tmp_path):
    svc = make(tmp_path, gateway())
    source = {"type": "snapshot", "vm": "web1", "snapshot": "s1"}
    assert code_of(svc.registrar.check_source, "local", source).code == "NotSupported"
    sources = TemplateSources()
    sources.add("snapshot", lambda node, vm, snap, handle: {"pool": "default", "volume": "x", "remove": True})
    svc = make(tmp_path, gateway(), sources)
    assert svc.registrar.check_source("local", source)["type"] == "snapshot"


def test_base_image_of_a_template_whose_image_is_gone(tmp_path):
    gw = gateway()
    svc = make(tmp_path, gw)
    plant(svc)
    base = svc.base_image("local", "deb")
    assert (base.pool, base.volume, base.path) == (TPOOL, "deb-v1.qcow2", IMAGE)
    del gw.vols[(TPOOL, "deb-v1.qcow2")]
    assert code_of(svc.base_image, "local", "deb").code == "TemplateImageMissing"


def test_base_image_of_a_template_whose_image_reads_as_another_format_now(tmp_path):
    """libvirt re-probes a file's format at each pool refresh: a qcow2 image whose header was damaged reads as
    raw. The clone must never take the probed format (the new disk would read the file as raw)."""
    gw = gateway()
    svc = make(tmp_path, gw)
    plant(svc)
    gw.vols[(TPOOL, "deb-v1.qcow2")] = vol_view(TPOOL, "deb-v1.qcow2", path=IMAGE, fmt="raw")
    err = code_of(svc.base_image, "local", "deb")
    assert err.code == "TemplateBroken" and err.status == 422
    assert "reads as raw" in err.message and "registered as qcow2" in err.message and "verify-template" in err.message
