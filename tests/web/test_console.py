"""The console page in headless chromium against the real server (tier 4), on one REAL booted guest: noVNC
draws the guest's screen (pixels sampled from the canvas), xterm.js shows the serial console and takes a
login, the terminal follows the window's size, API errors show in the error banner, and the end of a session
(the VM destroyed) is explained. The last test destroys the guest."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jvp.hypervisor.xml import element, sub, to_string
from tests.conftest import unique
from tests.host import vmutil
from tests.host.console_guest import booted_guest

pytestmark = pytest.mark.web
BOOT_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def guest(web_server, tmp_path_factory):
    conn = vmutil.open_conn()
    try:
        with booted_guest(web_server, conn, tmp_path_factory.mktemp("web-console")) as g:
            yield g
    finally:
        conn.close()


def open_console(pg, name: str, type_: str, node: str = "local") -> None:
    pg.goto(f"/vms/console/?node={node}&name={name}&type={type_}")


def connected(pg) -> None:
    expect(pg.get_by_test_id("console-phase")).to_have_attribute("data-phase", "connected", timeout=BOOT_TIMEOUT_MS)


CANVAS_COLOURS = """() => {
  const c = document.querySelector('[data-testid="vnc-screen"] canvas');
  if (!c || !c.width || !c.height) return 0;
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4 * 211) seen.add(data[i] << 16 | data[i + 1] << 8 | data[i + 2]);
  return seen.size;
}"""


def test_the_vnc_console_shows_the_guests_screen(logged_in_page, guest):
    pg = logged_in_page
    open_console(pg, guest.name, "vnc")
    connected(pg)
    expect(pg.get_by_test_id("page-title")).to_contain_text(guest.name)
    expect(pg.get_by_test_id("console-type").get_by_test_id("tab-vnc")).to_have_attribute("aria-selected", "true")
    # a text console (light text on black): more than one colour in the sampled pixels
    pg.wait_for_function(f"({CANVAS_COLOURS})() >= 2", timeout=BOOT_TIMEOUT_MS)
    size = pg.evaluate("""() => { const c = document.querySelector('[data-testid="vnc-screen"] canvas');
                                 return [c.width, c.height, c.clientWidth]; }""")
    assert size[0] >= 640 and size[1] >= 400
    expect(pg.get_by_test_id("console-cad")).to_be_enabled()
    expect(pg.get_by_test_id("console-fullscreen")).to_be_enabled()
    pg.get_by_test_id("console-scale").uncheck()  # unscaled: the canvas keeps the guest's size
    pg.wait_for_function("""() => { const c = document.querySelector('[data-testid="vnc-screen"] canvas');
                                   return c.clientWidth === c.width; }""")
    pg.get_by_test_id("console-scale").check()
    pg.get_by_test_id("console-clipboard-text").fill("hello")
    expect(pg.get_by_test_id("console-type-text")).to_be_enabled()
    expect(pg.get_by_test_id("console-error")).to_have_count(0)


def test_the_serial_console_shows_text_and_takes_a_login(logged_in_page, guest):
    pg = logged_in_page
    open_console(pg, guest.name, "vnc")
    connected(pg)
    pg.get_by_test_id("console-type").get_by_test_id("tab-serial").click()
    expect(pg).to_have_url(re.compile(r".*type=serial"))
    connected(pg)
    rows = pg.locator('[data-testid="serial-terminal"] .xterm-rows')
    pg.get_by_test_id("serial-terminal").click()
    for _ in range(12):  # a getty prints its prompt again on Enter
        pg.keyboard.press("Enter")
        try:
            expect(rows).to_contain_text("login:", timeout=5_000)
            break
        except AssertionError:
            continue
    expect(rows).to_contain_text(f"{guest.name} login:")
    pg.keyboard.type(guest.user + "\n")
    expect(rows).to_contain_text("Password:")
    pg.keyboard.type(guest.password + "\n")
    expect(rows).to_contain_text(f"{guest.user}@{guest.name}", timeout=30_000)
    pg.get_by_test_id("console-clipboard-text").fill("echo jvp-$((6*7))\n")
    pg.get_by_test_id("console-paste").click()
    expect(rows).to_contain_text("jvp-42")
    pg.keyboard.type("exit\n")  # leave the serial console logged out for whoever comes next
    expect(rows).to_contain_text("login:")


def test_the_terminal_follows_the_window_size(logged_in_page, guest):
    pg = logged_in_page
    open_console(pg, guest.name, "serial")
    connected(pg)
    count = 'document.querySelectorAll(\'[data-testid="serial-terminal"] .xterm-rows > div\').length'
    width = "document.querySelector('[data-testid=\"serial-terminal\"] .xterm-screen').clientWidth"
    big_rows, big_width = pg.evaluate(f"[{count}, {width}]")
    pg.set_viewport_size({"width": 1000, "height": 640})
    pg.wait_for_function(f"{count} < {big_rows} && {width} < {big_width}")


def test_api_errors_show_in_the_banner(logged_in_page, guest):
    pg = logged_in_page
    conn = vmutil.open_conn()
    stopped = unique("wstop-")
    dom = element("domain", {"type": "qemu"})
    sub(dom, "name", text_=stopped)
    sub(dom, "memory", {"unit": "MiB"}, 64)
    sub(sub(dom, "os"), "type", text_="hvm")
    sub(sub(dom, "devices"), "graphics", {"type": "vnc", "autoport": "yes", "listen": "127.0.0.1"})
    conn.defineXML(to_string(dom))
    try:
        open_console(pg, stopped, "vnc")
        banner = pg.get_by_test_id("console-error")
        expect(banner).to_have_attribute("data-error-code", "InvalidState")
        expect(pg.get_by_test_id("console-error-message")).to_contain_text("is stopped")
        expect(pg.get_by_test_id("console-phase")).to_have_attribute("data-phase", "ended")
        open_console(pg, "jvptest-no-such-vm", "serial")
        expect(banner).to_have_attribute("data-error-code", "VmNotFound")
    finally:
        vmutil.drop_domain(conn, stopped)
        conn.close()


def test_a_destroyed_vm_ends_the_session_with_a_message(logged_in_page, web_api, guest):
    pg = logged_in_page
    open_console(pg, guest.name, "serial")
    connected(pg)
    web_api.ok("stop-vm", {"name": guest.name, "force": True})
    ended = pg.get_by_test_id("console-ended")
    expect(ended).to_have_attribute("data-close-code", "4000", timeout=30_000)
    expect(ended).to_contain_text("The VM stopped")
    expect(pg.get_by_test_id("console-ended-text")).to_have_text(f"vm '{guest.name}' is no longer running (now stopped)")
    pg.get_by_test_id("console-reconnect").click()
    expect(pg.get_by_test_id("console-error")).to_have_attribute("data-error-code", "InvalidState")
