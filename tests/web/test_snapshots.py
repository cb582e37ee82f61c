"""The Snapshots page and the VM page's Snapshots tab against the real server and the real local libvirtd
(tier 4): take snapshots (the tree grows under the current one), the server's refusals shown in the dialog,
revert with its confirmation, clone into a new VM and export a template with the tasks' progress, delete
with children.

No guest OS is booted: the VM has a blank qcow2 disk and stays stopped, so every snapshot is a disk
snapshot libvirt takes with qemu-img on the node. Everything is named jvptest-* and removed afterwards."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.web.test_vms import wait_task

pytestmark = pytest.mark.web
TASK_TIMEOUT_MS = 120_000


@dataclass
class SnapEnv:
    pool: str
    vm: str
    vms: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def env(web_server, web_api, tmp_path_factory) -> Iterator[SnapEnv]:
    """A dir pool and a stopped VM with a blank 1 GiB qcow2 disk, made through the API; the VMs and
    templates the tests make are listed for cleanup, pass or fail."""
    base_dir = tmp_path_factory.mktemp("web-snaps")
    e = SnapEnv(pool=unique("wspool-"), vm=unique("wsvm-"))
    e.vms.append(e.vm)
    try:
        web_api.ok("create-storage-pool", {"name": e.pool, "type": "dir", "path": str(base_dir / e.pool)})
        task = web_api.ok("create-vm", {"name": e.vm, "pool": e.pool, "disk_size_gib": 1, "memory_mib": 128,
                                        "start": False})["task"]
        assert wait_task(web_api, task["id"])["state"] == "succeeded"
        yield e
    finally:
        for name in e.vms:
            resp = web_api.post("delete-vm", {"name": name, "force": True, "delete_volumes": True})
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)
        for name in e.templates:
            resp = web_api.post("delete-template", {"name": name})
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)
        resp = web_api.post("delete-storage-pool", {"name": e.pool, "delete_volumes": True})
        assert resp.status_code in (200, 404), resp.text


def snapshot_names(web_api, vm: str) -> list[str]:
    return [s["name"] for s in web_api.ok("list-snapshots", {"vm": vm})["snapshots"]]


def take(pg, *, name: str, vm: str | None = None) -> None:
    """Fill and submit the open create dialog, wait for its task, close it."""
    dialog = pg.get_by_test_id("snapshot-create")
    if vm:
        dialog.get_by_test_id("snapshot-vm-input").select_option(vm)
    expect(dialog.get_by_test_id("snapshot-memory-input")).to_be_disabled()  # a stopped VM has no memory
    dialog.get_by_test_id("snapshot-name-input").fill(name)
    dialog.get_by_test_id("snapshot-description-input").fill(f"{name} by the browser")
    dialog.get_by_test_id("snapshot-create-submit").click()
    expect(dialog.get_by_test_id("snapshot-create-task")).to_have_attribute("data-state", "succeeded",
                                                                            timeout=TASK_TIMEOUT_MS)
    dialog.get_by_test_id("snapshot-create-cancel").click()
    expect(dialog).to_have_count(0)


def test_the_snapshots_page_takes_reverts_and_deletes_a_tree(logged_in_page, web_api, env):
    pg = logged_in_page
    pg.get_by_test_id("nav-snapshots").click()
    expect(pg).to_have_url(re.compile(r".*/snapshots/$"))
    expect(pg.get_by_test_id("nav-snapshots")).to_have_attribute("aria-current", "page")
    pg.get_by_test_id("snapshots-vm").select_option(env.vm)
    expect(pg.get_by_test_id("snapshots-empty")).to_be_visible()

    pg.get_by_test_id("snapshot-take").click()
    take(pg, name="first")
    tree = pg.get_by_test_id(f"snapshot-tree-{env.vm}")
    expect(tree.get_by_test_id("snapshot-row-first").get_by_test_id("snapshot-current")).to_be_visible()
    pg.get_by_test_id(f"snapshot-take-{env.vm}").click()
    take(pg, name="second")
    second = tree.get_by_test_id("snapshot-row-second")
    expect(second).to_have_attribute("data-parent", "first")
    expect(second).to_have_attribute("data-depth", "1")
    expect(second.get_by_test_id("snapshot-state")).to_have_text("stopped")
    expect(second.get_by_test_id("snapshot-memory")).to_have_text("no")
    assert snapshot_names(web_api, env.vm) == ["first", "second"]

    # the server's refusal of a duplicate name, next to the field
    pg.get_by_test_id("snapshot-take").click()
    dialog = pg.get_by_test_id("snapshot-create")
    dialog.get_by_test_id("snapshot-name-input").fill("first")
    dialog.get_by_test_id("snapshot-create-submit").click()
    expect(dialog.get_by_test_id("field-snapshot-name-error")).to_contain_text("already has a snapshot named 'first'")
    expect(dialog.get_by_test_id("snapshot-create-error")).to_contain_text("SnapshotExists")
    dialog.get_by_test_id("snapshot-create-cancel").click()

    # revert to the root: the dialog says where the VM ends
    tree.get_by_test_id("snapshot-revert-first").click()
    revert = pg.get_by_test_id("snapshot-revert")
    expect(revert.get_by_test_id("snapshot-revert-ends")).to_have_text("stopped")  # as recorded
    after = revert.get_by_test_id("snapshot-revert-after")
    expect(after.locator("option:checked")).to_have_text("As the snapshot recorded (stopped)")
    after.select_option("run")
    expect(revert.get_by_test_id("snapshot-revert-ends")).to_have_text("running")
    after.select_option("recorded")
    revert.get_by_test_id("snapshot-revert-confirm").click()
    expect(revert).to_have_count(0)
    expect(tree.get_by_test_id("snapshot-row-first").get_by_test_id("snapshot-current")).to_be_visible()
    expect(second.get_by_test_id("snapshot-current")).to_have_count(0)
    assert web_api.ok("describe-vm", {"name": env.vm})["vm"]["state"] == "stopped"  # the recorded state

    # delete the root with its children (typed confirmation)
    tree.get_by_test_id("snapshot-delete-first").click()
    delete = pg.get_by_test_id("snapshot-delete")
    delete.get_by_test_id("snapshot-delete-children").check()
    expect(delete.get_by_test_id("snapshot-delete-confirm")).to_be_disabled()
    delete.get_by_test_id("snapshot-delete-input").fill("first")
    delete.get_by_test_id("snapshot-delete-confirm").click()
    expect(pg.get_by_test_id("snapshots-empty")).to_be_visible()
    assert snapshot_names(web_api, env.vm) == []


def test_clone_and_export_from_the_vm_page_show_their_tasks(logged_in_page, web_api, env):
    pg = logged_in_page
    clone, template = unique("wsclone-"), unique("wstmpl-")
    env.vms.append(clone)
    env.templates.append(template)
    pg.goto(f"/vms/detail/?node=local&name={env.vm}")
    tabs = pg.get_by_test_id("vm-tabs")
    expect(tabs.get_by_test_id("tab-overview")).to_have_attribute("aria-selected", "true")
    expect(pg.get_by_test_id("card-compute")).to_be_visible()
    expect(pg.get_by_test_id("vm-snapshots")).to_have_count(0)
    tabs.get_by_test_id("tab-snapshots").click()
    expect(pg).to_have_url(re.compile(rf".*/vms/detail/\?node=local&name={env.vm}&tab=snapshots$"))
    expect(pg.get_by_test_id("card-compute")).to_have_count(0)
    pg.reload()  # the tab is in the URL: a link or a reload opens it
    expect(tabs.get_by_test_id("tab-snapshots")).to_have_attribute("aria-selected", "true")
    card = pg.get_by_test_id("vm-snapshots")
    expect(card.get_by_test_id("vm-snapshots-empty")).to_be_visible()
    card.get_by_test_id("vm-snapshot-take").click()
    take(pg, name="golden")
    expect(card.get_by_test_id("snapshot-row-golden")).to_be_visible()

    card.get_by_test_id("snapshot-clone-golden").click()
    dialog = pg.get_by_test_id("snapshot-clone")
    dialog.get_by_test_id("snapshot-clone-name-input").fill(env.vm)  # taken: the server says so
    dialog.get_by_test_id("snapshot-clone-start").uncheck()
    dialog.get_by_test_id("snapshot-clone-submit").click()
    expect(dialog.get_by_test_id("field-snapshot-clone-name-error")).to_contain_text("already exists")
    dialog.get_by_test_id("snapshot-clone-name-input").fill(clone)
    dialog.get_by_test_id("snapshot-clone-submit").click()
    expect(dialog.get_by_test_id("snapshot-clone-task")).to_have_attribute("data-state", "succeeded",
                                                                           timeout=TASK_TIMEOUT_MS)
    dialog.get_by_test_id("snapshot-clone-cancel").click()
    vm = web_api.ok("describe-vm", {"name": clone})["vm"]
    assert vm["state"] == "stopped" and next(d for d in vm["disks"] if d["system"])["backing"] is None

    card.get_by_test_id("snapshot-export-golden").click()
    dialog = pg.get_by_test_id("snapshot-export")
    dialog.get_by_test_id("snapshot-export-name-input").fill(template)
    dialog.get_by_test_id("snapshot-export-submit").click()
    expect(dialog.get_by_test_id("snapshot-export-task")).to_have_attribute("data-state", "succeeded",
                                                                            timeout=TASK_TIMEOUT_MS)
    dialog.get_by_test_id("snapshot-export-cancel").click()
    tmpl = web_api.ok("describe-template", {"name": template})["template"]
    assert tmpl["type"] == "snapshot" and tmpl["source"]["vm"] == env.vm and tmpl["source"]["snapshot"] == "golden"

    card.get_by_test_id("vm-snapshots-page").click()
    expect(pg).to_have_url(re.compile(rf".*/snapshots/\?node=local&vm={env.vm}$"))
    expect(pg.get_by_test_id(f"snapshot-tree-{env.vm}").get_by_test_id("snapshot-row-golden")).to_be_visible()
