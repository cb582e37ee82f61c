"""The console page in headless chromium against the real server (tier 4), on one REAL booted guest: noVNC
draws the guest's screen (pixels sampled from the canvas), its toolbar types into the VM (a login on tty1,
seen by the guest), sends the clipboard and Ctrl+Alt+Del (the guest reboots); xterm.js shows the serial
console and takes a login, the terminal follows the window's size; both consoles through a node reached
over loopback TCP; the VM list's console link; API errors show in the error banner, also the real error
behind a refused websocket; and the end of a session (the VM destroyed) is explained. The last test
destroys the guest."""
from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from jvp.hypervisor.xml import element, sub, to_string
from tests.web.conftest import choose
from tests.conftest import unique
from tests.host import vmutil
from tests.host.console_guest import booted_guest

pytestmark = pytest.mark.web
BOOT_TIMEOUT_MS = 60_000
LOOPBACK = "qemu+tcp://127.0.0.1/system"


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


def sent_frames(pg) -> list[bytes]:
    """Every binary frame the page sends on its websockets from now on (the RFB client messages)."""
    frames: list[bytes] = []
    pg.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(
        payload if isinstance(payload, bytes) else payload.encode())))
    return frames


def wait_in_guest(dom, argv: list[str], needle: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        _, out, _ = vmutil.guest_exec(dom, *argv, timeout_s=30)
        if needle in out:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in the output of {argv} after {timeout_s}s: {out!r}")
        time.sleep(1)


def test_the_vnc_toolbar_types_logs_in_and_sends_the_clipboard(logged_in_page, guest):
    """"Type into the VM" reaches the guest's tty1 as key strokes: a login there is seen by the guest itself
    (agetty hands the typed user name to login(1), then who(1) lists the session on tty1); "Send to the VM's
    clipboard" sends an RFB ClientCutText."""
    pg = logged_in_page
    frames = sent_frames(pg)
    open_console(pg, guest.name, "vnc")
    connected(pg)
    conn = vmutil.open_conn()
    try:
        dom = conn.lookupByName(guest.name)
        text = pg.get_by_test_id("console-clipboard-text")
        text.fill(guest.user + "\n")
        pg.get_by_test_id("console-type-text").click()
        wait_in_guest(dom, ["/usr/bin/pgrep", "-a", "^login$"], "/bin/login")  # agetty took the user name
        text.fill(guest.password + "\n")
        pg.get_by_test_id("console-type-text").click()
        wait_in_guest(dom, ["/usr/bin/who"], "tty1")
        assert any(line.split()[:2] == [guest.user, "tty1"]
                   for line in vmutil.guest_exec(dom, "/usr/bin/who")[1].splitlines())
        text.fill("exit\n")  # leave tty1 at its login prompt
        pg.get_by_test_id("console-type-text").click()
    finally:
        conn.close()
    assert any(f[:1] in (b"\x04", b"\xff") for f in frames)  # RFB KeyEvent (or QEMU's extended one)
    before = len(frames)
    text.fill("from the browser")
    pg.get_by_test_id("console-set-clipboard").click()
    deadline = time.monotonic() + 10
    while not any(f[:1] == b"\x06" for f in frames[before:]) and time.monotonic() < deadline:
        pg.wait_for_timeout(100)
    assert any(f[:1] == b"\x06" for f in frames[before:]), "no ClientCutText sent"
    expect(pg.get_by_test_id("console-error")).to_have_count(0)
    expect(pg.get_by_test_id("console-phase")).to_have_attribute("data-phase", "connected")


def test_the_vm_list_opens_the_console_tab(logged_in_page, guest):
    pg = logged_in_page
    pg.goto("/vms/")
    r = pg.locator(f'[data-testid="vm-row"][data-key="local/{guest.name}"]')
    choose(pg, r.get_by_test_id("vm-row-menu"), "vm-menu-serial")  # the VM page's Console tab
    expect(pg).to_have_url(re.compile(rf".*/vms/detail/\?node=local&name={guest.name}&tab=console&type=serial$"))
    connected(pg)
    pg.go_back()
    choose(pg, r.get_by_test_id("vm-row-menu"), "vm-menu-console")
    expect(pg).to_have_url(re.compile(rf".*/vms/detail/\?node=local&name={guest.name}&tab=console$"))
    connected(pg)
    pg.wait_for_function(f"({CANVAS_COLOURS})() >= 2", timeout=BOOT_TIMEOUT_MS)


def test_both_consoles_work_on_a_node_reached_over_loopback_tcp(logged_in_page, web_api, guest):
    """A qemu+tcp node that libvirt shows to be this host: its loopback VNC is reached too."""
    pg = logged_in_page
    node = unique("tcp-")
    web_api.ok("create-node", {"name": node, "uri": LOOPBACK})
    try:
        open_console(pg, guest.name, "vnc", node=node)
        connected(pg)
        expect(pg.get_by_test_id("console-error")).to_have_count(0)
        pg.wait_for_function(f"({CANVAS_COLOURS})() >= 2", timeout=BOOT_TIMEOUT_MS)
        pg.get_by_test_id("console-type").get_by_test_id("tab-serial").click()
        connected(pg)
        rows = pg.locator('[data-testid="serial-terminal"] .xterm-rows')
        pg.get_by_test_id("serial-terminal").click()
        for _ in range(12):
            pg.keyboard.press("Enter")
            try:
                expect(rows).to_contain_text("login:", timeout=5_000)
                break
            except AssertionError:
                continue
        expect(rows).to_contain_text(f"{guest.name} login:")
    finally:
        pg.goto("/vms/")  # close the consoles before the node goes
        web_api.post("delete-node", {"name": node})


def test_a_refused_websocket_shows_the_real_error(logged_in_page, guest):
    """The websocket is refused (here: its token is bogus): the page asks get-vm-console again and shows
    that answer's error when there is one, else explains the refusal."""
    pg = logged_in_page
    calls: list[str] = []

    def bogus_ticket(route):
        calls.append(route.request.url)
        if len(calls) > 1:
            route.continue_()  # the page's second question goes to the server
            return
        body = json.loads(route.request.post_data or "{}")
        route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "token": "jvpc_" + "x" * 43, "ws_url": f"/ws/vnc?token={'jvpc_' + 'x' * 43}&node=local&name="
            + body["name"], "expires_at": "2099-01-01T00:00:00Z", "node": "local", "name": body["name"],
            "type": "vnc"}))
    pg.route("**/api/get-vm-console", bogus_ticket)
    open_console(pg, "jvptest-gone-meanwhile", "vnc")  # the VM "went away" after its token was issued
    banner = pg.get_by_test_id("console-error")
    expect(banner).to_have_attribute("data-error-code", "VmNotFound")
    expect(pg.get_by_test_id("console-phase")).to_have_attribute("data-phase", "ended")
    calls.clear()
    open_console(pg, guest.name, "vnc")  # nothing wrong with the console: the refusal itself is explained
    ended = pg.get_by_test_id("console-ended")
    expect(ended).to_contain_text("The server refused the console connection")
    expect(banner).to_have_count(0)
    assert len(calls) == 2


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


def test_ctrl_alt_del_reboots_the_guest(logged_in_page, guest):
    pg = logged_in_page
    conn = vmutil.open_conn()
    try:
        dom = conn.lookupByName(guest.name)
        boot_id = vmutil.guest_exec(dom, "/bin/cat", "/proc/sys/kernel/random/boot_id")[1].strip()
        open_console(pg, guest.name, "vnc")
        connected(pg)
        pg.get_by_test_id("console-cad").click()  # systemd's ctrl-alt-del.target: a reboot
        deadline, now_id = time.monotonic() + 300, boot_id
        while now_id == boot_id:
            assert time.monotonic() < deadline, "the guest did not reboot after Ctrl+Alt+Del"
            time.sleep(2)
            try:
                now_id = vmutil.guest_exec(dom, "/bin/cat", "/proc/sys/kernel/random/boot_id",
                                           timeout_s=10)[1].strip() or boot_id
            except Exception:  # noqa: BLE001 - the agent is away while the guest reboots
                continue
        # the display stayed connected through the guest's reboot (QEMU kept running)
        expect(pg.get_by_test_id("console-phase")).to_have_attribute("data-phase", "connected")
        code, out, _ = vmutil.guest_exec(dom, "/usr/bin/cloud-init", "status", "--wait", timeout_s=300)
        assert "done" in out, (code, out)
    finally:
        conn.close()


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
        # a console that cannot open in the VM's state is a notice with the server's code and message, not an error
        notice = pg.get_by_test_id("console-unavailable")
        expect(notice).to_have_attribute("data-error-code", "InvalidState")
        expect(pg.get_by_test_id("console-unavailable-message")).to_contain_text("is stopped")
        expect(pg.get_by_test_id("console-error")).to_have_count(0)
        expect(pg.get_by_test_id("console-phase")).to_have_attribute("data-phase", "ended")
        open_console(pg, "jvptest-no-such-vm", "serial")
        banner = pg.get_by_test_id("console-error")  # an error proper: a banner, once
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
    expect(pg.get_by_test_id("console-unavailable")).to_have_attribute("data-error-code", "InvalidState")
