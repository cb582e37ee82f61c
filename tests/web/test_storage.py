"""The Storage and Tasks pages against the real server and the real local libvirtd (tier 4). Test pools are
dir pools under a temporary directory, named jvptest-*, and removed through libvirt afterwards."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import libvirt
import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.host.storage_util import GIB, MIB, filled_image, remove_pool, sha256, sparse_image
from tests.web.conftest import PHONE, actions_folded, fits_width

pytestmark = pytest.mark.web


@pytest.fixture
def pools(tmp_path) -> Iterator[list[str]]:
    """Names of pools a test makes; each is removed (with its volumes) through libvirt afterwards."""
    names: list[str] = []
    yield names
    conn = libvirt.open("qemu:///system")
    try:
        for name in names:
            remove_pool(conn, name)
    finally:
        conn.close()


def make_pool(web_api, pools: list[str], base: Path) -> str:
    name = unique("wpool-")
    pools.append(name)
    web_api.ok("create-storage-pool", {"name": name, "type": "dir", "path": str(base / name)})
    return name


def pool_row(pg, name: str):
    return pg.locator(f'[data-testid="pool-row"][data-key="{name}"]')


def volume_row(pg, name: str):
    return pg.locator(f'[data-testid="volume-row"][data-key="{name}"]')


def open_detail(pg, name: str) -> None:
    pg.goto(f"/storage/detail/?node=local&name={name}")
    expect(pg.get_by_test_id("pool-name")).to_have_text(name)


def test_create_pool_shows_the_apis_path_errors_then_lists_it_with_a_capacity_bar(logged_in_page, web_api, pools,
                                                                                   tmp_path):
    pg = logged_in_page
    name = unique("wpool-")
    pools.append(name)
    pg.get_by_test_id("nav-storage").click()
    expect(pg).to_have_url(re.compile(r".*/storage/$"))
    expect(pg.get_by_test_id("nav-storage")).to_have_attribute("aria-current", "page")
    pg.get_by_test_id("add-pool").click()
    dialog = pg.get_by_test_id("create-pool-dialog")
    dialog.get_by_test_id("pool-name-input").fill(name)
    dialog.get_by_test_id("pool-path-input").fill("/srv/a/../b")
    dialog.get_by_test_id("create-pool-dialog-submit").click()
    expect(dialog.get_by_test_id("create-pool-dialog-error-code")).to_have_text("InvalidPoolPath")
    expect(dialog.get_by_test_id("field-pool-path-error")).to_contain_text("..")
    dialog.get_by_test_id("pool-path-input").fill("/etc")
    dialog.get_by_test_id("create-pool-dialog-submit").click()
    expect(dialog.get_by_test_id("field-pool-path-error")).to_contain_text("system directory")
    names = {p["name"] for p in web_api.ok("list-storage-pools")["pools"]}
    assert name not in names

    dialog.get_by_test_id("pool-path-input").fill(str(tmp_path / name))
    dialog.get_by_test_id("create-pool-dialog-submit").click()
    expect(dialog).to_have_count(0)
    expect(pg.get_by_test_id("toast-success")).to_contain_text(name)
    row = pool_row(pg, name)
    expect(row.get_by_test_id("pool-state")).to_have_attribute("data-state", "running")
    expect(row.get_by_test_id("pool-type")).to_have_text("dir")
    expect(row.get_by_test_id("pool-volumes")).to_have_text("0")
    expect(row.get_by_test_id("pool-capacity-percent")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    assert (tmp_path / name).is_dir()


def test_stop_start_refresh_and_delete_with_confirmation(logged_in_page, web_api, pools, tmp_path):
    pg = logged_in_page
    name = make_pool(web_api, pools, tmp_path)
    web_api.ok("create-volume", {"pool": name, "name": "keep.qcow2", "size_gib": 1})
    pg.goto("/storage/")
    row = pool_row(pg, name)
    row.get_by_test_id("pool-stop").click()
    pg.get_by_test_id("stop-pool-dialog-confirm").click()
    expect(row.get_by_test_id("pool-state")).to_have_attribute("data-state", "inactive")
    expect(row.get_by_test_id("pool-volumes")).to_have_text("—")
    row.get_by_test_id("pool-start").click()
    expect(row.get_by_test_id("pool-state")).to_have_attribute("data-state", "running")
    (tmp_path / name / "outside.img").write_bytes(b"x" * 4096)
    row.get_by_test_id("pool-refresh").click()
    expect(row.get_by_test_id("pool-volumes")).to_have_text("2")

    row.get_by_test_id("pool-delete").click()
    dialog = pg.get_by_test_id("delete-pool-dialog")
    expect(dialog.get_by_test_id("delete-pool-dialog-confirm")).to_be_disabled()
    dialog.get_by_test_id("delete-pool-dialog-input").fill(name)
    dialog.get_by_test_id("delete-pool-dialog-confirm").click()
    expect(dialog.get_by_test_id("delete-pool-dialog-error-code")).to_have_text("StoragePoolNotEmpty")
    dialog.get_by_test_id("delete-pool-volumes").check()
    dialog.get_by_test_id("delete-pool-dialog-confirm").click()
    expect(dialog).to_have_count(0)
    expect(row).to_have_count(0)
    assert not (tmp_path / name).exists()


def test_volumes_create_resize_clone_with_task_progress_and_delete(logged_in_page, web_api, pools, tmp_path):
    pg = logged_in_page
    name = make_pool(web_api, pools, tmp_path)
    pg.goto("/storage/")
    pool_row(pg, name).get_by_test_id("pool-link").click()
    expect(pg.get_by_test_id("pool-name")).to_have_text(name)
    expect(pg.get_by_test_id("volumes-empty")).to_be_visible()

    pg.get_by_test_id("add-volume").click()
    dialog = pg.get_by_test_id("create-volume-dialog")
    dialog.get_by_test_id("vol-name-input").fill("bad/name")
    dialog.get_by_test_id("vol-size-input").fill("1")
    dialog.get_by_test_id("create-volume-dialog-submit").click()
    expect(dialog.get_by_test_id("create-volume-dialog-error-code")).to_have_text("ValidationFailed")
    dialog.get_by_test_id("vol-name-input").fill("disk.qcow2")
    dialog.get_by_test_id("create-volume-dialog-submit").click()
    expect(dialog).to_have_count(0)
    row = volume_row(pg, "disk.qcow2")
    expect(row.get_by_test_id("volume-format")).to_have_text("qcow2")
    expect(row.get_by_test_id("volume-capacity")).to_have_text("1.0 GiB")

    row.get_by_test_id("volume-resize").click()
    resize = pg.get_by_test_id("resize-volume-dialog")
    resize.get_by_test_id("resize-size-input").fill("3")
    resize.get_by_test_id("resize-volume-dialog-submit").click()
    expect(resize).to_have_count(0)
    expect(row.get_by_test_id("volume-capacity")).to_have_text("3.0 GiB")

    # Clone a filled raw volume so the copy takes long enough to show progress.
    web_api.ok("create-volume", {"pool": name, "name": "big.raw", "size_gib": 1, "format": "raw"})
    filled_image(tmp_path / name / "big.raw", GIB)
    web_api.ok("refresh-storage-pool", {"name": name})
    pg.reload()
    volume_row(pg, "big.raw").get_by_test_id("volume-clone").click()
    clone = pg.get_by_test_id("clone-volume-dialog")
    expect(clone.get_by_test_id("clone-name-input")).to_have_value("big-copy.raw")
    clone.get_by_test_id("clone-volume-dialog-submit").click()
    expect(clone.get_by_test_id("clone-task-bar")).to_be_visible()
    expect(clone.get_by_test_id("clone-task")).to_have_attribute("data-state", "succeeded", timeout=120_000)
    expect(clone.get_by_test_id("clone-task-bytes")).to_contain_text("1.0 GiB")
    clone.get_by_test_id("clone-volume-dialog-cancel").click()
    copy = volume_row(pg, "big-copy.raw")
    expect(copy.get_by_test_id("volume-format")).to_have_text("raw")
    assert sha256(tmp_path / name / "big-copy.raw") == sha256(tmp_path / name / "big.raw")

    copy.get_by_test_id("volume-delete").click()
    confirm = pg.get_by_test_id("delete-volume-dialog")
    confirm.get_by_test_id("delete-volume-dialog-input").fill("big-copy.raw")
    confirm.get_by_test_id("delete-volume-dialog-confirm").click()
    expect(copy).to_have_count(0)
    assert not (tmp_path / name / "big-copy.raw").exists()


def test_upload_with_a_progress_bar_then_download(logged_in_page, web_api, pools, tmp_path):
    pg = logged_in_page
    name = make_pool(web_api, pools, tmp_path)
    image = sparse_image(tmp_path / "upload.raw", 24 * MIB, [0, 10 * MIB, 23 * MIB], island_size=MIB)
    open_detail(pg, name)
    # A slow uplink (4 MiB/s) so the progress bar has time to move.
    cdp = pg.context.new_cdp_session(pg)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                   "uploadThroughput": 4 * MIB})
    pg.get_by_test_id("upload-file-input").set_input_files(str(image))
    expect(pg.get_by_test_id("upload-name-input")).to_have_value("upload.raw")
    pg.get_by_test_id("upload-submit").click()
    bar = pg.get_by_test_id("upload-progress")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("data-progress", re.compile(r"^(?:[1-9]\d?(?:\.\d+)?)$"))  # strictly between 0 and 100
    expect(pg.get_by_test_id("toast-success")).to_contain_text("Uploaded upload.raw", timeout=60_000)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                   "uploadThroughput": -1})
    row = volume_row(pg, "upload.raw")
    expect(row.get_by_test_id("volume-capacity")).to_have_text("24.0 MiB")
    with pg.expect_download() as info:
        row.get_by_test_id("volume-download").click()
    saved = tmp_path / "downloaded.raw"
    info.value.save_as(saved)
    assert sha256(saved) == sha256(image)

    # Uploading under the same name again: the API's refusal shows, nothing changes.
    pg.get_by_test_id("upload-file-input").set_input_files(str(image))
    pg.get_by_test_id("upload-name-input").fill("upload.raw")
    pg.get_by_test_id("upload-submit").click()
    expect(pg.get_by_test_id("upload-error-code")).to_have_text("VolumeExists")


def test_tasks_page_shows_progress_and_cancels(logged_in_page, web_api, pools, tmp_path):
    pg = logged_in_page
    name = make_pool(web_api, pools, tmp_path)
    web_api.ok("create-volume", {"pool": name, "name": "src.raw", "size_gib": 2, "format": "raw"})
    filled_image(tmp_path / name / "src.raw", 2 * GIB)
    web_api.ok("refresh-storage-pool", {"name": name})
    task = web_api.ok("clone-volume", {"pool": name, "name": "src.raw", "new_name": "c.raw"})["task"]
    pg.get_by_test_id("nav-tasks").click()
    expect(pg).to_have_url(re.compile(r".*/tasks/$"))
    row = pg.locator(f'[data-testid="task-row"][data-key="{task["id"]}"]')
    expect(row.get_by_test_id("task-kind")).to_have_text("clone-volume")
    expect(row.get_by_test_id("task-resource")).to_contain_text(f"{name}/c.raw")
    expect(row.get_by_test_id("task-bar")).to_have_attribute("data-state", "running")
    row.get_by_test_id("task-cancel").click()
    expect(row.get_by_test_id("task-bar")).to_have_attribute("data-state", "cancelled", timeout=120_000)
    expect(row.get_by_test_id("task-cancel")).to_have_count(0)
    assert not (tmp_path / name / "c.raw").exists()
    pg.get_by_test_id("tasks-state").select_option("cancelled")
    expect(pg).to_have_url(re.compile(r".*/tasks/\?state=cancelled$"))
    expect(row).to_be_visible()


def test_a_pool_whose_free_space_libvirt_reports_wrapped_shows_unknown(logged_in_page, web_api, node_name):
    """The demo inventory's pool 'data' allocates 200 GiB of the test driver's 100 GiB: libvirt reports
    `available` wrapped (16 EiB). The page says "unknown" with the problem, never "16384 PiB free" or
    "200 GiB of 100 GiB"."""
    from jvp.demo import INVENTORY
    web_api.ok("create-node", {"name": node_name, "uri": f"test://{INVENTORY}"})
    pool = web_api.ok("describe-storage-pool", {"node": node_name, "name": "data"})["pool"]
    assert pool["available_bytes"] is None and {p["code"] for p in pool["problems"]} >= {"FigureUnknown"}
    pg = logged_in_page
    pg.goto(f"/storage/?node={node_name}")
    row = pool_row(pg, "data")
    expect(row.get_by_test_id("pool-free")).to_have_text("unknown")
    expect(row.get_by_test_id("pool-capacity-used")).to_have_text("unknown")
    expect(row.get_by_test_id("pool-problems")).to_be_visible()
    expect(row).not_to_contain_text("PiB")
    expect(pool_row(pg, "default").get_by_test_id("pool-free")).not_to_have_text("unknown")
    pg.goto(f"/storage/detail/?node={node_name}&name=data")
    expect(pg.get_by_test_id("detail-free")).to_have_text("unknown")
    expect(pg.get_by_test_id("pool-detail-capacity-used")).to_have_text("unknown")


def test_on_a_phone_the_actions_of_a_pool_and_a_volume_are_one_menu(logged_in_page, web_api, pools, tmp_path):
    """At phone size a row's buttons fold into one menu (a narrow column: the row's other cells stay in view
    instead of scrolling under three or four buttons); its items run the same operations, confirmations
    included."""
    pg = logged_in_page
    pg.set_viewport_size(PHONE)
    name = make_pool(web_api, pools, tmp_path)
    open_detail(pg, name)   # an empty list says so across the card, not across the (wider) table
    fits_width(pg.get_by_test_id("volumes-empty").bounding_box())
    web_api.ok("create-volume", {"pool": name, "name": "keep.qcow2", "size_gib": 1})
    pg.goto("/storage/")
    row = pool_row(pg, name)
    expect(row.get_by_test_id("pool-state")).to_have_attribute("data-state", "running")
    expect(row.get_by_test_id("pool-stop")).to_be_hidden()
    actions_folded(row)
    row.get_by_test_id("pools-table-row-menu").click()
    menu = pg.get_by_test_id("pools-table-row-menu-menu")
    expect(menu.get_by_role("menuitem")).to_have_text(["Refresh", "Stop…", "Delete pool…"])
    menu.get_by_test_id("pools-table-row-menu-stop").click()
    pg.get_by_test_id("stop-pool-dialog-confirm").click()     # the same confirmation as the button's
    expect(row.get_by_test_id("pool-state")).to_have_attribute("data-state", "inactive")
    row.get_by_test_id("pools-table-row-menu").click()
    expect(menu.get_by_role("menuitem")).to_have_text(["Start", "Delete pool…"])
    menu.get_by_test_id("pools-table-row-menu-start").click()
    expect(row.get_by_test_id("pool-state")).to_have_attribute("data-state", "running")

    open_detail(pg, name)
    vrow = volume_row(pg, "keep.qcow2")
    expect(vrow.get_by_test_id("volume-resize")).to_be_hidden()
    actions_folded(vrow)
    vrow.get_by_test_id("volumes-table-row-menu").click()
    vmenu = pg.get_by_test_id("volumes-table-row-menu-menu")
    expect(vmenu.get_by_role("menuitem")).to_have_text(["Resize…", "Clone…", "Download", "Delete volume…"])
    vmenu.get_by_test_id("volumes-table-row-menu-resize").click()
    resize = pg.get_by_test_id("resize-volume-dialog")
    fits_width(resize.bounding_box())
    resize.get_by_test_id("resize-size-input").fill("2")
    resize.get_by_test_id("resize-volume-dialog-submit").click()
    expect(resize).to_have_count(0)
    expect(vrow.get_by_test_id("volume-capacity")).to_have_text("2.0 GiB")
