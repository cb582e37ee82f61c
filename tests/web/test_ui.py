"""The web console against the real server and the real local libvirtd (tier 4)."""
from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect

from tests.web.conftest import HOME_URL

pytestmark = pytest.mark.web

LOOPBACK_URI = "qemu+tcp://127.0.0.1/system"   # libvirtd listens on loopback TCP here (scripts/host-setup.sh)
DEAD_URI = "qemu+tcp://127.0.0.1:1/system"     # nothing listens on port 1


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], check=True, capture_output=True,
                          text=True, timeout=30).stdout


def node_row(pg, name: str):
    return pg.locator(f'[data-testid="node-row"][data-key="{name}"]')


def test_wrong_token_shows_the_servers_message_and_keeps_the_user_out(page, web_api):
    expected = web_api.post("list-nodes", {}, token="jvp_not-a-real-token").json()["error"]
    page.goto("/login/")
    page.get_by_test_id("login-token").fill("jvp_not-a-real-token")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error-message")).to_have_text(expected["message"])
    expect(page.get_by_test_id("login-error-code")).to_have_text(expected["code"])
    assert page.url.endswith("/login/")
    assert page.evaluate("localStorage.getItem('jvp.token')") is None


def test_pages_need_a_token_and_root_redirects(page, web_server):
    page.goto("/nodes/")
    expect(page).to_have_url(re.compile(r".*/login/\?next=%2Fnodes%2F$"))
    page.get_by_test_id("login-token").fill(web_server.token)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r".*/nodes/$"))
    page.goto("/")  # the dashboard, with the sidebar's entry active
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_test_id("nav-dashboard")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("nav-nodes")).not_to_have_attribute("aria-current", "page")
    # A token the server stops accepting sends the user back to the login page with a notice.
    page.evaluate("localStorage.setItem('jvp.token', 'jvp_revoked-or-wrong')")
    page.goto("/audit/")
    expect(page).to_have_url(re.compile(r".*/login/\?next=%2Faudit%2F&expired=1$"))
    expect(page.get_by_test_id("login-expired")).to_be_visible()


def test_local_node_is_online_with_the_hosts_hostname_and_cpus(logged_in_page):
    pg = logged_in_page
    info = virsh("nodeinfo")
    cpus = re.search(r"^CPU\(s\):\s+(\d+)", info, re.M).group(1)
    hostname = virsh("hostname").strip()
    row = node_row(pg, "local")
    expect(row.get_by_test_id("node-state")).to_have_attribute("data-state", "online")
    expect(row.get_by_test_id("node-hostname")).to_have_text(hostname)
    expect(row.get_by_test_id("node-cpus")).to_have_text(cpus)
    expect(row.get_by_test_id("node-memory")).to_have_text(re.compile(r"^\d+(\.\d)? (MiB|GiB|TiB)$"))
    # `local` cannot be deleted: no delete button on its row.
    expect(row.get_by_test_id("node-delete")).to_have_count(0)
    # The top bar knows the token's role; the sidebar marks the active page.
    expect(pg.get_by_test_id("identity-role")).to_have_text("admin")
    expect(pg.get_by_test_id("nav-nodes")).to_have_attribute("aria-current", "page")


def test_add_a_node_see_it_online_then_delete_it_with_confirmation(logged_in_page, web_api, node_name):
    pg = logged_in_page
    pg.get_by_test_id("add-node").click()
    dialog = pg.get_by_test_id("add-node-dialog")
    expect(dialog.get_by_test_id("node-uri-input")).to_have_attribute("placeholder", "qemu+ssh://root@host/system")
    dialog.get_by_test_id("node-name-input").fill(node_name)
    dialog.get_by_test_id("node-uri-input").fill(LOOPBACK_URI)
    dialog.get_by_test_id("node-description-input").fill("browser test node")
    dialog.get_by_test_id("node-labels-input").fill("env=test\nrack=r1")
    dialog.get_by_test_id("add-node-dialog-submit").click()
    expect(dialog).to_have_count(0)
    expect(pg.get_by_test_id("toast-success")).to_contain_text(node_name)

    row = node_row(pg, node_name)
    expect(row.get_by_test_id("node-state")).to_have_attribute("data-state", "online")
    expect(row).to_contain_text(LOOPBACK_URI)
    expect(row).to_contain_text("env=test")
    expect(row).to_contain_text("browser test node")
    saved = web_api.ok("describe-node", {"name": node_name})["node"]
    assert saved["uri"] == LOOPBACK_URI and saved["labels"] == {"env": "test", "rack": "r1"}
    assert saved["state"] == "online"

    row.get_by_test_id("node-delete").click()
    confirm = pg.get_by_test_id("delete-node-dialog")
    button = confirm.get_by_test_id("delete-node-dialog-confirm")
    expect(button).to_be_disabled()
    confirm.get_by_test_id("delete-node-dialog-input").fill(node_name[:-1])
    expect(button).to_be_disabled()
    confirm.get_by_test_id("delete-node-dialog-input").fill(node_name)
    expect(button).to_be_enabled()
    button.click()
    expect(confirm).to_have_count(0)
    expect(row).to_have_count(0)
    assert web_api.post("describe-node", {"name": node_name}).status_code == 404


def test_add_node_with_a_dead_uri_shows_the_api_error_in_the_dialog(logged_in_page, web_api, node_name):
    pg = logged_in_page
    pg.get_by_test_id("add-node").click()
    dialog = pg.get_by_test_id("add-node-dialog")
    dialog.get_by_test_id("node-name-input").fill(node_name)
    dialog.get_by_test_id("node-uri-input").fill(DEAD_URI)
    dialog.get_by_test_id("add-node-dialog-submit").click()
    error = dialog.get_by_test_id("add-node-dialog-error")
    expect(error.get_by_test_id("add-node-dialog-error-code")).to_have_text("NodeUnreachable")
    message = error.get_by_test_id("add-node-dialog-error-message")
    expect(message).to_contain_text(DEAD_URI)
    expect(message).to_contain_text("Connection refused")  # libvirt's own words are kept
    expect(error.get_by_test_id("add-node-dialog-error-request-id")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    # The dialog stays open with the input kept; nothing was created.
    expect(dialog.get_by_test_id("node-uri-input")).to_have_value(DEAD_URI)
    assert node_name not in web_api.node_names()
    dialog.get_by_test_id("add-node-dialog-cancel").click()
    expect(dialog).to_have_count(0)
    expect(node_row(pg, node_name)).to_have_count(0)


def test_invalid_name_shows_the_field_error(logged_in_page, web_api):
    pg = logged_in_page
    pg.get_by_test_id("add-node").click()
    dialog = pg.get_by_test_id("add-node-dialog")
    dialog.get_by_test_id("node-name-input").fill("jvptest-bad/name")
    dialog.get_by_test_id("node-uri-input").fill(LOOPBACK_URI)
    dialog.get_by_test_id("add-node-dialog-submit").click()
    expect(dialog.get_by_test_id("add-node-dialog-error-code")).to_have_text("ValidationFailed")
    expect(dialog.get_by_test_id("field-node-name-error")).to_contain_text("Invalid name")
    assert "jvptest-bad/name" not in web_api.node_names()


def test_local_node_detail_shows_cpu_memory_and_pci(logged_in_page, web_api):
    pg = logged_in_page
    summary = web_api.ok("describe-node-summary", {"name": "local"})["summary"]
    pci = web_api.ok("describe-node-pci", {"name": "local"})["pci"]
    assert pci, "the host has PCI devices"
    node_row(pg, "local").get_by_test_id("node-link").click()
    expect(pg).to_have_url(re.compile(r".*/nodes/detail/\?name=local$"))
    expect(pg.get_by_test_id("node-detail-state")).to_have_attribute("data-state", "online")
    expect(pg.get_by_test_id("cpu-model")).to_have_text(summary["cpu"]["model"] or "—")
    expect(pg.get_by_test_id("cpu-count")).to_have_text(str(summary["cpu"]["count"]))
    expect(pg.get_by_test_id("card-memory")).to_be_visible()
    expect(pg.get_by_test_id("memory-total")).to_have_text(re.compile(r"^\d+(\.\d)? (MiB|GiB|TiB)$"))
    expect(pg.get_by_test_id("memory-bar-percent")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    pg.get_by_test_id("tab-pci").click()
    rows = pg.get_by_test_id("pci-table").get_by_test_id("pci-table-row")
    expect(rows).to_have_count(len(pci))
    expect(pg.get_by_test_id("pci-table")).to_contain_text(pci[0]["address"])
    # The local node has no delete button; an unknown node shows the API's 404 message.
    expect(pg.get_by_test_id("node-delete")).to_have_count(0)
    pg.goto("/nodes/detail/?name=jvptest-no-such-node")
    expect(pg.get_by_test_id("node-error-message")).to_have_text(
        web_api.post("describe-node", {"name": "jvptest-no-such-node"}).json()["error"]["message"])


def test_disable_and_enable_maintenance(logged_in_page, web_api, node_name):
    pg = logged_in_page
    web_api.ok("create-node", {"name": node_name, "uri": LOOPBACK_URI})
    pg.get_by_test_id("nodes-refresh").click()
    row = node_row(pg, node_name)
    expect(row.get_by_test_id("node-state")).to_have_attribute("data-state", "online")

    row.get_by_test_id("node-disable").click()
    dialog = pg.get_by_test_id("disable-node-dialog")
    dialog.get_by_test_id("disable-node-dialog-cancel").click()  # cancelling changes nothing
    expect(dialog).to_have_count(0)
    assert web_api.ok("describe-node", {"name": node_name})["node"]["maintenance"] is False

    row.get_by_test_id("node-disable").click()
    dialog.get_by_test_id("disable-node-dialog-confirm").click()
    expect(row.get_by_test_id("node-state")).to_have_attribute("data-state", "maintenance")
    assert web_api.ok("describe-node", {"name": node_name})["node"]["state"] == "maintenance"

    # Leaving maintenance asks too; cancelling keeps the node in maintenance.
    row.get_by_test_id("node-enable").click()
    enable = pg.get_by_test_id("enable-node-dialog")
    expect(enable).to_contain_text(node_name)
    enable.get_by_test_id("enable-node-dialog-cancel").click()
    expect(enable).to_have_count(0)
    assert web_api.ok("describe-node", {"name": node_name})["node"]["maintenance"] is True
    expect(row.get_by_test_id("node-state")).to_have_attribute("data-state", "maintenance")

    row.get_by_test_id("node-enable").click()
    enable.get_by_test_id("enable-node-dialog-confirm").click()
    expect(row.get_by_test_id("node-state")).to_have_attribute("data-state", "online")
    assert web_api.ok("describe-node", {"name": node_name})["node"]["maintenance"] is False


def test_edit_node_description_and_labels_on_the_detail_page(logged_in_page, web_api, node_name):
    pg = logged_in_page
    web_api.ok("create-node", {"name": node_name, "uri": LOOPBACK_URI, "labels": {"a": "1"}})
    pg.goto(f"/nodes/detail/?name={node_name}")
    expect(pg.get_by_test_id("node-name")).to_have_text(node_name)
    pg.get_by_test_id("node-edit").click()
    dialog = pg.get_by_test_id("edit-node-dialog")
    expect(dialog.get_by_test_id("node-labels-input")).to_have_value("a=1")
    dialog.get_by_test_id("node-description-input").fill("edited in the browser")
    dialog.get_by_test_id("node-labels-input").fill("a=2\nb=x")
    dialog.get_by_test_id("edit-node-dialog-submit").click()
    expect(dialog).to_have_count(0)
    expect(pg.get_by_test_id("card-host")).to_contain_text("edited in the browser")
    saved = web_api.ok("describe-node", {"name": node_name})["node"]
    assert saved["description"] == "edited in the browser" and saved["labels"] == {"a": "2", "b": "x"}


def test_audit_page_shows_the_create_node_entry(logged_in_page, web_api, node_name):
    pg = logged_in_page
    web_api.ok("create-node", {"name": node_name, "uri": LOOPBACK_URI})
    pg.get_by_test_id("nav-audit").click()
    expect(pg).to_have_url(re.compile(r".*/audit/$"))
    expect(pg.get_by_test_id("nav-audit")).to_have_attribute("aria-current", "page")
    pg.get_by_test_id("audit-filter-action").select_option("create-node")
    pg.get_by_test_id("audit-filter-target").fill(node_name)
    pg.get_by_test_id("audit-apply").click()
    rows = pg.get_by_test_id("audit-row")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("audit-action")).to_have_text("create-node")
    expect(rows.first.get_by_test_id("audit-target")).to_contain_text(node_name)
    expect(rows.first.get_by_test_id("audit-outcome")).to_have_attribute("data-state", "ok")
    expect(rows.first).to_contain_text("admin")
    # Outcome filter: the successful create is not among the errors.
    pg.get_by_test_id("audit-filter-outcome").select_option("error")
    expect(pg.get_by_test_id("audit-empty")).to_be_visible()


def test_logout_forgets_the_token(logged_in_page):
    pg = logged_in_page
    pg.get_by_test_id("logout").click()
    expect(pg).to_have_url(re.compile(r".*/login/$"))
    assert pg.evaluate("localStorage.getItem('jvp.token')") is None
    pg.goto("/nodes/")
    expect(pg).to_have_url(re.compile(r".*/login/.*"))
