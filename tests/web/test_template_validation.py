"""The start-up validation in the browser (tier 4): a template whose image changed while JVP was down is shown
broken after the next start (list and details, with the reason and the history entry), its Rebuild VMs is
disabled, create-vm from it is refused, and Verify image from the details makes it ready again.

It needs a restart of `jvp serve`, so it runs its own server (its own data dir) instead of the session's,
against the same real libvirtd and the tests' image server."""
from __future__ import annotations

import os
from typing import Iterator

import libvirt
import pytest
from playwright.sync_api import expect

from tests.conftest import stop_server, unique
from tests.imageserver import ImageServer
from tests.templateutil import images  # noqa: F401 - pytest fixture
from tests.web.conftest import CHROMIUM_ARGS, UI_TIMEOUT_MS, Api, _start, login  # noqa: F401
from tests.host.storage_util import remove_domain, remove_pool
from tests.web.test_templates import row, wait_task

pytestmark = pytest.mark.web


@pytest.fixture
def own_server(web_server, tmp_path) -> Iterator[dict]:
    """A second `jvp serve` of its own (restartable), a test pool on it; everything removed afterwards.
    (web_server first: its checks that the UI is built and libvirtd answers apply here too.)"""
    (tmp_path / "jvp").mkdir()
    state = {"server": _start(tmp_path / "jvp"), "pool": unique("wval-"), "tmp": tmp_path, "vm": unique("wval-vm-")}
    api = Api(state["server"])
    api.ok("create-storage-pool", {"name": state["pool"], "type": "dir", "path": str(tmp_path / state["pool"])})
    try:
        yield state
    finally:
        server = state["server"]
        if server.proc.poll() is None:
            Api(server).post("delete-template", {"name": "golden"})
            stop_server(server)
        conn = libvirt.open("qemu:///system")
        try:
            remove_domain(conn, state["vm"])
            remove_pool(conn, state["pool"] + "_templates_")
            remove_pool(conn, state["pool"])
        finally:
            conn.close()


def test_a_template_changed_while_jvp_was_down_is_broken_until_verified(browser, own_server, images):
    srv = ImageServer().start()
    try:
        srv.add_file("/img/small.qcow2", images.small)
        api = Api(own_server["server"])
        task = api.ok("register-template", {"pool": own_server["pool"], "name": "golden", "source": {
            "type": "url", "url": srv.url("/img/small.qcow2"), "sha256": images.small_sha}})["task"]
        assert wait_task(api, task["id"])["state"] == "succeeded"
    finally:
        srv.stop()
    path = api.ok("describe-template", {"name": "golden"})["template"]["storage"]["path"]

    # JVP stops, the image file is touched (same bytes, another mtime), JVP starts again on the same data
    stop_server(own_server["server"])
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    own_server["server"] = server = _start(own_server["tmp"] / "jvp")
    api = Api(server)
    resp = api.post("create-vm", {"name": own_server["vm"], "template": "golden", "pool": own_server["pool"],
                                  "start": False})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "TemplateBroken", resp.text

    context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        pg = context.new_page()
        login(pg, server.token)
        pg.goto("/templates/")
        expect(row(pg, "golden").get_by_test_id("template-state")).to_have_attribute("data-state", "broken")
        row(pg, "golden").get_by_test_id("template-name").click()
        details = pg.get_by_test_id("template-details")
        expect(details.get_by_test_id("template-details-state")).to_have_attribute("data-state", "broken")
        expect(details.get_by_test_id("template-details-broken")).to_contain_text("The image is broken")
        expect(details.get_by_test_id("template-details-broken")).to_contain_text("refused")
        entry = details.get_by_test_id("template-details-history-entry").first
        expect(entry).to_have_attribute("data-event", "validate")
        expect(entry).to_have_attribute("data-outcome", "broken")
        expect(entry).to_contain_text("jvp")   # by: the start-up validation itself
        details.get_by_test_id("template-details-verify").click()

        # verify-template reads the whole image: the checksum is the recorded one, the template is usable again
        expect(row(pg, "golden").get_by_test_id("template-state")).to_have_attribute("data-state", "ready",
                                                                                     timeout=60_000)
        t = api.ok("describe-template", {"name": "golden"})["template"]
        assert t["state"] == "ready" and t["integrity"]["state"] == "ok"
        events = [(e["event"], e["outcome"]) for e in api.ok("list-template-history", {"name": "golden"})["entries"]]
        assert events == [("verify", "ok"), ("validate", "broken")]
    finally:
        context.close()
