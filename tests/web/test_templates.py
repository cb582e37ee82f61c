"""The Templates page against the real server, the real local libvirtd and the local image server (tier 4):
registering from the image server with a progress bar that survives a reload, the update check that shows
what it would affect and asks before updating, and a delete refused while a VM is on the template."""
from __future__ import annotations

import re
from typing import Iterator

import libvirt
import pytest
from playwright.sync_api import expect

from tests.web.conftest import PHONE, actions_folded, fits_width, wait_task
from tests.conftest import unique
from tests.host.storage_util import remove_domain, remove_pool
from tests.imageserver import ImageServer
from tests.templateutil import MIB, images, sums  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.web


@pytest.fixture
def server(images) -> Iterator[ImageServer]:
    srv = ImageServer().start()
    srv.add_file("/img/small.qcow2", images.small)
    srv.add_file("/img/big.qcow2", images.big)
    srv.add_bytes("/img/SHA256SUMS", sums((images.small_sha, "small.qcow2"), (images.big_sha, "big.qcow2")))
    yield srv
    srv.stop()


@pytest.fixture
def place(web_api, tmp_path) -> Iterator[dict]:
    """A test pool; afterwards every template, VM and pool the test made is removed."""
    made = {"pool": unique("wtpl-"), "templates": [], "vms": []}
    web_api.ok("create-storage-pool", {"name": made["pool"], "type": "dir", "path": str(tmp_path / made["pool"])})
    yield made
    for vm in made["vms"]:
        web_api.post("delete-vm", {"name": vm, "force": True, "delete_volumes": True})
    for name in made["templates"]:
        web_api.post("delete-template", {"name": name})
    conn = libvirt.open("qemu:///system")
    try:
        for vm in made["vms"]:
            remove_domain(conn, vm)
        remove_pool(conn, made["pool"] + "_templates_")
        remove_pool(conn, made["pool"])
    finally:
        conn.close()


def register(web_api, place: dict, name: str, source: dict) -> None:
    place["templates"].append(name)
    task = web_api.ok("register-template", {"pool": place["pool"], "name": name, "source": source})["task"]
    assert wait_task(web_api, task["id"])["state"] == "succeeded"


def vm_from(web_api, place: dict, template: str) -> str:
    vm = unique("wvm-")
    place["vms"].append(vm)
    task = web_api.ok("create-vm", {"name": vm, "template": template, "pool": place["pool"], "start": False})["task"]
    assert wait_task(web_api, task["id"])["state"] == "succeeded"
    return vm


def row(pg, name: str):
    return pg.locator(f'[data-testid="template-row"][data-key="local/{name}"]')


def test_register_from_the_local_server_with_progress_that_survives_a_reload(logged_in_page, web_api, place, server,
                                                                           images):
    pg = logged_in_page
    name = unique("t-")
    place["templates"].append(name)
    server.resources["/img/big.qcow2"].throttle_bps = 3 * MIB  # slow enough to watch (about 9 s)
    pg.get_by_test_id("nav-templates").click()
    expect(pg).to_have_url(re.compile(r".*/templates/$"))
    pg.get_by_test_id("register-template-open").click()
    dialog = pg.get_by_test_id("register-template")
    dialog.get_by_test_id("tpl-preset").select_option("debian-12")          # a preset fills every field...
    expect(dialog.get_by_test_id("tpl-url")).to_have_value(re.compile(r"^https://cloud\.debian\.org/.*genericcloud"))
    expect(dialog.get_by_test_id("tpl-os-name")).to_have_value("debian")
    dialog.get_by_test_id("tpl-pool").select_option(place["pool"])
    dialog.get_by_test_id("tpl-name").fill(name)
    dialog.get_by_test_id("tpl-url").fill("ftp://127.0.0.1/x.qcow2")        # ...and each stays editable
    dialog.get_by_test_id("register-template-submit").click()
    expect(dialog.get_by_test_id("register-template-error")).to_have_attribute("data-error-code", "UnsupportedUrlScheme")
    dialog.get_by_test_id("tpl-url").fill(server.url("/img/big.qcow2"))
    dialog.get_by_test_id("tpl-checksum-mode").select_option("sha256")
    dialog.get_by_test_id("tpl-sha256").fill(images.big_sha)
    dialog.get_by_test_id("register-template-submit").click()
    expect(dialog).to_have_count(0)

    task = pg.locator(f'[data-testid="template-task"][data-name="{name}"]')
    progress = task.get_by_test_id("template-task-progress")
    expect(progress).to_have_attribute("data-state", "running")
    expect(progress.get_by_test_id("template-task-progress-bytes")).to_contain_text(" of ")
    pg.reload()                                                          # the bar comes back from list-tasks
    task = pg.locator(f'[data-testid="template-task"][data-name="{name}"]')
    expect(task.get_by_test_id("template-task-progress")).to_have_attribute("data-state", "running")
    expect(task.get_by_test_id("template-task-progress")).to_have_attribute("data-state", "succeeded", timeout=90_000)
    r = row(pg, name)
    expect(r.get_by_test_id("template-state")).to_have_attribute("data-state", "ready")
    expect(r.get_by_test_id("template-os")).to_have_text("debian 12 x86_64")
    expect(r.get_by_test_id("template-source")).to_contain_text("verified")
    expect(r.get_by_test_id("template-usage")).to_contain_text("0 VMs")
    expect(r.get_by_test_id("template-size")).to_contain_text("qcow2")


def test_check_for_update_shows_what_it_affects_and_asks_before_updating(logged_in_page, web_api, place, server,
                                                                         images):
    pg = logged_in_page
    name = unique("t-")
    register(web_api, place, name, {"type": "url", "url": server.url("/img/small.qcow2"),
                                    "checksum_url": server.url("/img/SHA256SUMS")})
    vm = vm_from(web_api, place, name)
    server.replace_file("/img/small.qcow2", images.other)                      # a new build at the same URL
    server.add_bytes("/img/SHA256SUMS", sums((images.other_sha, "small.qcow2")))
    pg.goto("/templates/")
    row(pg, name).get_by_test_id("template-check").click()
    dialog = pg.get_by_test_id("template-update")
    expect(dialog.get_by_test_id("template-update-result")).to_have_attribute("data-available", "true")
    expect(dialog.get_by_test_id("template-update-verdict")).to_contain_text("newer image")
    expect(dialog.get_by_test_id("template-update-change").first).to_contain_text("checksum")
    expect(dialog.get_by_test_id("template-update-affected")).to_contain_text(vm)
    gets = len(server.gets("/img/small.qcow2"))
    dialog.get_by_test_id("template-update-start").click()                      # first click only asks
    expect(dialog.get_by_test_id("template-update-confirm-text")).to_contain_text("keep their current base")
    assert len(server.gets("/img/small.qcow2")) == gets and web_api.ok("describe-template", {"name": name})[
        "template"]["storage"]["version"] == 1
    dialog.get_by_test_id("template-update-confirm").click()
    expect(dialog).to_have_count(0)
    task = pg.locator(f'[data-testid="template-task"][data-kind="update-template-image"][data-name="{name}"]')
    expect(task.get_by_test_id("template-task-progress")).to_have_attribute("data-state", "succeeded", timeout=90_000)
    expect(row(pg, name).get_by_test_id("template-size")).to_contain_text("v2")
    t = web_api.ok("describe-template", {"name": name})["template"]
    assert t["storage"]["volume"] == f"{name}-v2.qcow2" and [p["volume"] for p in t["previous"]] == [f"{name}-v1.qcow2"]


def test_delete_shows_the_dependency_error_then_succeeds(logged_in_page, web_api, place, server, images):
    pg = logged_in_page
    name = unique("t-")
    register(web_api, place, name, {"type": "url", "url": server.url("/img/small.qcow2"), "sha256": images.small_sha})
    vm = vm_from(web_api, place, name)
    pg.goto("/templates/")
    expect(row(pg, name).get_by_test_id("template-usage")).to_contain_text("1 VM")
    row(pg, name).get_by_test_id("template-delete").click()
    dialog = pg.get_by_test_id("delete-template")
    dialog.locator("input").last.fill(name)
    dialog.get_by_test_id("delete-template-confirm").click()
    expect(dialog.get_by_test_id("delete-template-error")).to_have_attribute("data-error-code", "TemplateInUse")
    expect(dialog.get_by_test_id("dependent-vm")).to_have_text(vm)
    expect(dialog.get_by_test_id("dependent-volume")).to_have_text(f"{place['pool']}/{vm}-root.qcow2")
    dialog.get_by_test_id("delete-template-cancel").click()
    expect(row(pg, name)).to_have_count(1)

    web_api.ok("delete-vm", {"name": vm, "delete_volumes": True})
    place["vms"].remove(vm)
    pg.get_by_test_id("templates-reload").click()
    expect(row(pg, name).get_by_test_id("template-usage")).to_contain_text("0 VMs")
    row(pg, name).get_by_test_id("template-delete").click()
    dialog.locator("input").last.fill(name)
    dialog.get_by_test_id("delete-template-confirm").click()
    expect(pg.get_by_test_id("toast-success")).to_contain_text(name)
    expect(row(pg, name)).to_have_count(0)
    place["templates"].remove(name)


def test_details_show_the_image_checksums_and_what_is_built_from_it(logged_in_page, web_api, place, server, images):
    """describe-template in the UI: the sha256 checksum with the sha512 it was verified with, the VM and the
    volume built from the template."""
    import hashlib
    pg = logged_in_page
    name = unique("t-")
    sha512 = hashlib.sha512(images.small.read_bytes()).hexdigest()
    register(web_api, place, name, {"type": "url", "url": server.url("/img/small.qcow2"),
                                    "checksum": f"sha512:{sha512}"})
    vm = vm_from(web_api, place, name)
    pg.goto("/templates/")
    row(pg, name).get_by_test_id("template-details-open").click()
    dialog = pg.get_by_test_id("template-details")
    expect(dialog.get_by_test_id("template-details-image")).to_have_text(f"{place['pool']}_templates_/{name}-v1.qcow2")
    expect(dialog.get_by_test_id("template-details-checksum")).to_contain_text(f"sha256:{images.small_sha}")
    expect(dialog.get_by_test_id("template-details-verified-checksum")).to_contain_text(f"sha512:{sha512}")
    expect(dialog.locator(f'[data-testid="template-details-vm"][data-name="{vm}"]')).to_contain_text(
        f"{vm}-root.qcow2")
    expect(dialog.get_by_test_id("template-details-volume")).to_contain_text(f"{place['pool']}/{vm}-root.qcow2")
    dialog.get_by_test_id("template-details-close").click()
    expect(dialog).to_have_count(0)
    row(pg, name).get_by_test_id("template-name").click()              # the name opens it too
    expect(pg.get_by_test_id("template-details-body")).to_be_visible()


def test_the_edit_dialog_saves_os_features_tags_and_description(logged_in_page, web_api, place, server, images):
    pg = logged_in_page
    name = unique("t-")
    register(web_api, place, name, {"type": "url", "url": server.url("/img/small.qcow2"), "sha256": images.small_sha})
    pg.goto("/templates/")
    row(pg, name).get_by_test_id("template-edit").click()
    dialog = pg.get_by_test_id("edit-template")
    dialog.get_by_test_id("edit-tags").fill("lts, bad tag")                # a tag with a space: refused
    dialog.get_by_test_id("edit-template-submit").click()
    expect(dialog.get_by_test_id("edit-template-error")).to_have_attribute("data-error-code", "ValidationFailed")
    assert web_api.ok("describe-template", {"name": name})["template"]["tags"] == []
    dialog.get_by_test_id("edit-os-name").fill("ubuntu")
    dialog.get_by_test_id("edit-os-version").fill("24.04")
    dialog.get_by_test_id("edit-os-arch").fill("x86_64")
    dialog.get_by_test_id("edit-cloud-init").check()
    dialog.get_by_test_id("edit-tags").fill("lts, base, lts")
    dialog.get_by_test_id("edit-description").fill("Ubuntu 24.04 base")
    dialog.get_by_test_id("edit-template-submit").click()
    expect(dialog).to_have_count(0)
    expect(pg.get_by_test_id("toast-success")).to_contain_text(name)
    r = row(pg, name)
    expect(r.get_by_test_id("template-os")).to_have_text("ubuntu 24.04 x86_64")
    expect(r).to_contain_text("Ubuntu 24.04 base")
    t = web_api.ok("describe-template", {"name": name})["template"]
    assert t["os"] == {"name": "ubuntu", "version": "24.04", "arch": "x86_64", "kernel": None}
    assert t["features"]["cloud_init"] is True and t["tags"] == ["lts", "base"]
    assert t["description"] == "Ubuntu 24.04 base"
    row(pg, name).get_by_test_id("template-edit").click()                  # the dialog shows what was saved
    expect(dialog.get_by_test_id("edit-tags")).to_have_value("lts, base")
    expect(dialog.get_by_test_id("edit-cloud-init")).to_be_checked()


def test_on_a_phone_a_templates_actions_are_one_menu(logged_in_page, web_api, place, server):
    pg = logged_in_page
    pg.set_viewport_size(PHONE)
    name = unique("t-")
    register(web_api, place, name, {"type": "url", "url": server.url("/img/small.qcow2"),
                                    "checksum_url": server.url("/img/SHA256SUMS")})
    pg.goto("/templates/")
    r = row(pg, name)
    expect(r.get_by_test_id("template-check")).to_be_hidden()
    actions_folded(r)
    r.get_by_test_id("templates-table-row-menu").click()
    menu = pg.get_by_test_id("templates-table-row-menu-menu")
    expect(menu.get_by_role("menuitem")).to_have_text(["Check for update…", "Details", "Edit…", "Delete template…"])
    menu.get_by_test_id("templates-table-row-menu-check").click()
    dialog = pg.get_by_test_id("template-update")
    expect(dialog.get_by_test_id("template-update-result")).to_have_attribute("data-available", "false")
    fits_width(dialog.bounding_box())
