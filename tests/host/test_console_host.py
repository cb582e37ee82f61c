"""Consoles of a REAL booted guest (tier 3) through a real `jvp serve` (gunicorn, two worker processes):
the serial console's login prompt and a login with the cloud-init user, the VNC handshake and a framebuffer
update, both consoles of the same guest through a node reached over loopback TCP (shown by libvirt to be this
host), a VNC unix socket, the consoles of a domain on the second real libvirt node (tests/host/second_node.py:
another host, so its loopback display is refused and a display on its own address is reached), the SSH tunnel to its VNC (against an SSH server on loopback: this machine has no
sshd), consoles that do not starve the API, and consoles closed with a reason when the VM is destroyed. One
guest for the whole module; the tests run in file order and the last one destroys it."""
from __future__ import annotations

import concurrent.futures
import time

import libvirt
import pytest

from jvp.hypervisor.console import NodeTransport, vnc_endpoint
from jvp.hypervisor.ssh_tunnel import open_tunnel
from jvp.hypervisor.xml import element, parse, sub, to_string
from tests.conftest import start_server, stop_server, unique
from tests.consoleutil import (connect, rfb_handshake_and_update, read_until, refused, serial_login,
                               wait_close)
from tests.host import vmutil
from tests.host.console_guest import booted_guest
from tests.sshserver import SshForwarder

LOOPBACK = "qemu+tcp://127.0.0.1/system"
PROMPTS = (b"login: ", b"$ ")  # a serial console keeps its session: whatever the last client left


@pytest.fixture(scope="module")
def env(real_libvirt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    server = start_server(tmp, real_libvirt, workers=2)
    conn = vmutil.open_conn()
    try:
        with booted_guest(server, conn, tmp) as guest:
            yield server, conn, guest
    finally:
        stop_server(server)
        conn.close()


def ticket(server, guest, type_: str, node: str = "local", status: int = 200) -> dict:
    resp = server.post("get-vm-console", {"node": node, "name": guest.name, "type": type_})
    assert resp.status_code == status, resp.text
    return resp.json()


def test_the_serial_console_shows_the_login_prompt_and_logs_in(env):
    server, conn, guest = env
    ws = connect(server.url, ticket(server, guest, "serial")["ws_url"])
    try:
        out = serial_login(ws, guest.user, guest.password, timeout=180)
        assert f"{guest.name} login: ".encode() in out
        mark = len(out)
        ws.send_binary(b"echo jvp-$((6*7)) $(id -un)\r")
        read_until(ws, f"jvp-42 {guest.user}".encode(), timeout=30, buf=out, since=mark)
        mark = len(out)
        ws.send_binary(b"exit\r")  # the session outlives the websocket: leave the console as we found it
        read_until(ws, b"login: ", timeout=30, buf=out, since=mark)
    finally:
        ws.close()
    # closing the websocket aborted JVP's libvirt stream: the console is free for a client that does not force
    dom, deadline = conn.lookupByName(guest.name), time.monotonic() + 10
    while True:
        stream = conn.newStream(0)
        try:
            dom.openConsole(None, stream, 0)
            stream.abort()
            break
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_vnc_completes_the_rfb_handshake_and_sends_a_picture(env):
    server, _, guest = env
    ws = connect(server.url, ticket(server, guest, "vnc")["ws_url"], origin=server.url)
    try:
        fb = rfb_handshake_and_update(ws)
    finally:
        ws.close()
    assert fb.width >= 640 and fb.height >= 400 and guest.name in fb.name
    assert sum(w * h for _, _, w, h, _ in fb.rects) >= fb.width * fb.height
    pixels = {fb.pixels[i:i + 3] for i in range(0, len(fb.pixels), 4 * 97)}
    assert len(pixels) >= 2, "the screen is one flat colour"  # the guest's text console: text on black


def test_tokens_are_single_use_across_worker_processes(env):
    server, _, guest = env
    t = ticket(server, guest, "vnc")
    ws = connect(server.url, t["ws_url"])
    try:
        assert read_until(ws, b"RFB 003.008\n", timeout=20)
        for _ in range(4):  # whichever of the two workers takes the connection
            r = refused(server.url, t["ws_url"])
            assert (r.status, r.code) == (401, "InvalidConsoleToken")
    finally:
        ws.close()
    r = refused(server.url, ticket(server, guest, "serial")["ws_url"], origin="https://evil.example")
    assert (r.status, r.code) == (403, "OriginNotAllowed")
    log = server.log.read_text()
    assert "console opened: vnc console of vm " + guest.name in log and "console refused" in log
    assert "/ws/vnc?token=***&node=local" in log and t["token"] not in log  # access log lines are masked


def test_a_second_serial_console_takes_over_the_first(env):
    server, _, guest = env
    first = connect(server.url, ticket(server, guest, "serial")["ws_url"])
    read_until(first, PROMPTS, timeout=60, poke=b"\r")
    second = connect(server.url, ticket(server, guest, "serial")["ws_url"])
    try:
        code, reason = wait_close(first, timeout=20)
        assert code == 4002 and "another client may have taken it over" in reason
        read_until(second, PROMPTS, timeout=60, poke=b"\r")
    finally:
        second.close()


def audit_entry(server, route: str, node: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        events = server.post("list-audit-events", {"action": "open-vm-console", "limit": 50}).json()["events"]
        found = [e for e in events if e["outcome"] == "ok" and e["target"]["node"] == node
                 and e["params"].get("route") == route]
        if found or time.monotonic() > deadline:
            assert found, events[:5]
            return found[0]
        time.sleep(0.2)


def test_a_node_on_loopback_tcp_serves_both_consoles(env):
    """The node's URI is remote (qemu+tcp), its VNC listens on the node's loopback: reachable because libvirt
    shows the node to be this very host (same host UUID and name as qemu:///system, and the same domain with
    the same display there), not because its URI says 127.0.0.1."""
    server, _, guest = env
    node = unique("tcp-")
    assert server.post("create-node", {"name": node, "uri": LOOPBACK}).status_code == 200
    try:
        ws = connect(server.url, ticket(server, guest, "serial", node=node)["ws_url"])
        try:
            read_until(ws, PROMPTS, timeout=60, poke=b"\r")
        finally:
            ws.close()
        ws = connect(server.url, ticket(server, guest, "vnc", node=node)["ws_url"], origin=server.url)
        try:
            fb = rfb_handshake_and_update(ws)
        finally:
            ws.close()
        assert fb.width >= 640 and fb.height >= 400 and guest.name in fb.name
        assert sum(w * h for _, _, w, h, _ in fb.rects) >= fb.width * fb.height
        assert len({fb.pixels[i:i + 3] for i in range(0, len(fb.pixels), 4 * 97)}) >= 2
        assert audit_entry(server, "tcp", node)["target"]["name"] == guest.name
    finally:
        server.post("delete-node", {"name": node})


def test_a_vnc_unix_socket_is_reached_by_its_path(env):
    """A domain whose VNC listens on a unix socket (libvirt picks the path), on the local node and on the
    loopback-TCP node (this host): the relay connects to the socket. No OS needed: the firmware draws."""
    server, conn, _ = env
    name, node = unique("vncsock-"), unique("tcp-")
    dom = element("domain", {"type": "qemu"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, 64)
    sub(sub(dom, "os"), "type", text_="hvm")
    sub(sub(sub(dom, "devices"), "graphics", {"type": "vnc"}), "listen", {"type": "socket"})
    assert server.post("create-node", {"name": node, "uri": LOOPBACK}).status_code == 200
    try:
        conn.createXML(to_string(dom), 0)  # transient: gone once destroyed
        ep = vnc_endpoint(parse(conn.lookupByName(name).XMLDesc(0)))
        assert ep.kind == "socket" and ep.socket
        for where in ("local", node):
            resp = server.post("get-vm-console", {"node": where, "name": name, "type": "vnc"})
            assert resp.status_code == 200, resp.text
            ws = connect(server.url, resp.json()["ws_url"], origin=server.url)
            try:
                fb = rfb_handshake_and_update(ws)
            finally:
                ws.close()
            assert fb.width >= 320 and name in fb.name
            assert audit_entry(server, "unix", where)["target"]["name"] == name
    finally:
        vmutil.drop_domain(conn, name)
        server.post("delete-node", {"name": node})


def _firmware_domain(name: str, vnc_listen: str) -> str:
    """A transient domain that needs no OS (the firmware draws on the display), with a serial console."""
    dom = element("domain", {"type": "qemu"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, 64)
    sub(sub(dom, "os"), "type", text_="hvm")
    devices = sub(dom, "devices")
    sub(devices, "serial", {"type": "pty"})
    sub(devices, "console", {"type": "pty"})
    sub(sub(devices, "graphics", {"type": "vnc", "autoport": "yes"}), "listen",
        {"type": "address", "address": vnc_listen})
    return to_string(dom)


def _console_busy(conn: libvirt.virConnect, name: str) -> bool:
    """Whether another client holds the domain's console (an open without FORCE is refused)."""
    stream = conn.newStream(0)
    try:
        conn.lookupByName(name).openConsole(None, stream, 0)
    except libvirt.libvirtError:
        return True
    stream.abort()
    return False


def test_a_node_on_another_host_serves_its_consoles(env, second_node):
    """The second real libvirtd (another host UUID and hostname, its own network namespace): the serial
    console goes through its libvirt stream; a display listening on all its addresses is reached on the
    address its URI names; a display on its own loopback is refused, libvirt showing it is not this host."""
    server, _, _ = env
    node, shown, hidden = unique("K-twin-"), unique("K-vncall-"), unique("K-vnclo-")
    twin = vmutil.open_conn(second_node.uri)
    assert server.post("create-node", {"name": node, "uri": second_node.uri}).status_code == 200
    try:
        twin.createXML(_firmware_domain(shown, "0.0.0.0"), 0)  # transient: gone once destroyed
        twin.createXML(_firmware_domain(hidden, "127.0.0.1"), 0)

        resp = server.post("get-vm-console", {"node": node, "name": shown, "type": "vnc"})
        assert resp.status_code == 200, resp.text
        ws = connect(server.url, resp.json()["ws_url"], origin=server.url)
        try:
            fb = rfb_handshake_and_update(ws)
        finally:
            ws.close()
        assert fb.width >= 320 and shown in fb.name
        assert audit_entry(server, "tcp", node)["target"]["name"] == shown

        resp = server.post("get-vm-console", {"node": node, "name": hidden, "type": "vnc"})
        assert resp.status_code == 422, resp.text
        err = resp.json()["error"]
        assert err["code"] == "ConsoleNotAvailable" and second_node.host_uuid in err["details"]["this_host"]

        assert not _console_busy(twin, shown)
        resp = server.post("get-vm-console", {"node": node, "name": shown, "type": "serial"})
        assert resp.status_code == 200, resp.text
        ws = connect(server.url, resp.json()["ws_url"])
        try:
            deadline = time.monotonic() + 20  # JVP holds the console on the second daemon
            while not _console_busy(twin, shown):
                assert time.monotonic() < deadline, "JVP did not open the console on the second node"
                time.sleep(0.2)
        finally:
            ws.close()
        deadline = time.monotonic() + 20  # and lets it go with the websocket
        while _console_busy(twin, shown):
            assert time.monotonic() < deadline, "the console stayed open on the second node"
            time.sleep(0.2)
        assert audit_entry(server, "serial-stream", node)["target"]["name"] == shown
    finally:
        for name in (shown, hidden):
            vmutil.drop_domain(twin, name)
        twin.close()
        server.post("delete-node", {"name": node})


def test_the_ssh_tunnel_reaches_the_real_vnc(env, tmp_path):
    _, conn, guest = env
    ep = vnc_endpoint(parse(conn.lookupByName(guest.name).XMLDesc(0)))
    assert ep.address == "127.0.0.1" and ep.port >= 5900
    sshd = SshForwarder(tmp_path)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line)
    tr = NodeTransport("ssh", "ssh", host="127.0.0.1", port=sshd.port, user="root",
                       params={"keyfile": str(sshd.key_file), "known_hosts": str(known)})
    try:
        chan = open_tunnel(tr, "sshnode", ep.address, ep.port, timeout_s=10)
        try:
            assert chan.recv().startswith(b"RFB 003.00")
        finally:
            chan.close()
        assert sshd.opened == [("127.0.0.1", ep.port)]
    finally:
        sshd.close()


def test_open_consoles_do_not_block_the_api_and_are_bounded(env, tmp_path):
    """2 API threads and 3 console slots per worker: three consoles held open, six API calls at once still
    answer promptly, a fourth console is refused."""
    _, _, guest = env
    small = start_server(tmp_path, "qemu:///system", workers=1,
                         extra_env={"JVP_THREADS": "2", "JVP_CONSOLE_MAX_SESSIONS": "3"})
    held = []
    try:
        for _ in range(3):
            ws = connect(small.url, ticket(small, guest, "vnc")["ws_url"])
            read_until(ws, b"RFB 003.008\n", timeout=20)
            held.append(ws)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: small.post("describe-vm", {"name": guest.name}).status_code,
                                    range(6)))
        assert answers == [200] * 6 and time.monotonic() - t0 < 10
        r = refused(small.url, ticket(small, guest, "vnc")["ws_url"])
        assert (r.status, r.code) == (503, "ConsoleLimitReached")
    finally:
        for ws in held:
            ws.close()
        stop_server(small)


def test_destroying_the_vm_closes_its_consoles_with_a_reason(env):
    server, conn, guest = env
    serial = connect(server.url, ticket(server, guest, "serial")["ws_url"])
    vnc = connect(server.url, ticket(server, guest, "vnc")["ws_url"])
    read_until(serial, PROMPTS, timeout=60, poke=b"\r")
    read_until(vnc, b"RFB 003.008\n", timeout=20)
    assert server.post("stop-vm", {"name": guest.name, "force": True}).status_code == 200
    for ws in (serial, vnc):
        code, reason = wait_close(ws, timeout=30)
        assert (code, reason) == (4000, f"vm '{guest.name}' is no longer running (now stopped)")
    err = ticket(server, guest, "serial", status=409)["error"]
    assert err["code"] == "InvalidState" and err["details"]["state"] == "stopped"
    deadline = time.monotonic() + 10
    while True:  # each close entry is written once its relay has wound down, a moment after the close frame
        events = server.post("list-audit-events", {"action": "close-vm-console", "limit": 20}).json()["events"]
        by_vm = [e for e in events if e["params"]["closed_by"] == "vm"]
        if len(by_vm) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(e["params"]["type"] for e in by_vm) == ["serial", "vnc"]
    assert all(e["params"]["close_code"] == 4000 for e in by_vm)
