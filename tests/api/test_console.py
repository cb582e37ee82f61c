"""Consoles on libvirt's test driver (tier 2): get-vm-console and its tokens, and the /ws/ websockets served by
a real (Werkzeug, threaded) HTTP server around the same app. The test driver has no QEMU, so a small RFB
server on loopback stands in for the VNC display (the test domains' <graphics> point at its port), and the
driver has no console streams (get-vm-console refuses a serial console there with the reason, and the serial
websocket, reached with a token issued directly, answers the same after the token checks)."""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from jvp.hypervisor.xml import element, sub, to_string
from jvp.timeutil import now, parse_rfc3339
from tests.conftest import unique
from tests.consoleutil import FakeRfbServer, RFB_VERSION, connect, read_until, refused, wait_close


@pytest.fixture
def server(api):
    """The app on a real loopback HTTP server (websockets need a socket, not the test client)."""
    srv = make_server("127.0.0.1", 0, api.app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def rfb():
    fake = FakeRfbServer()
    yield fake
    fake.close()


def define_vm(api, name: str, *, vnc_port: int | None = None, listen: str | None = "127.0.0.1",
              serial: str | None = "pty", start: bool = True) -> str:
    dom = element("domain", {"type": "test"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, 128)
    sub(sub(dom, "os"), "type", text_="hvm")
    devices = sub(dom, "devices")
    if serial:
        ser = sub(devices, "serial", {"type": serial})
        if serial == "file":
            sub(ser, "source", {"path": "/tmp/jvptest-serial.log"})
        sub(ser, "target", {"port": 0})
    if vnc_port is not None:
        g = sub(devices, "graphics", {"type": "vnc", "port": vnc_port, "autoport": "no"})
        sub(g, "listen", {"type": "address", "address": listen} if listen else {"type": "none"})

    def define(conn):
        d = conn.defineXML(to_string(dom))
        if start:
            d.create()
    api.services.gateway.run_raw("local", define)
    return name


@pytest.fixture
def vm(api, rfb):
    return define_vm(api, unique("con-"), vnc_port=rfb.port)


def ticket(api, vm: str, type_: str = "vnc", role: str = "operator", node: str = "local") -> dict:
    return api.ok("get-vm-console", {"node": node, "name": vm, "type": type_}, role=role)


def serial_ticket(api, vm: str, node: str = "local") -> dict:
    """A serial console token as get-vm-console would hand it out. get-vm-console itself refuses a serial
    console on the test driver (ConsoleNotAvailable, reason test-driver: it has no console stream), so the
    websocket's own checks are reached with a token issued directly, as the operator's token would get it."""
    from urllib.parse import urlencode
    token, _grant = api.services.consoles.tokens.issue(node, vm, "serial", "operator", "t-operator")
    return {"token": token, "ws_url": f"/ws/serial?{urlencode({'token': token, 'node': node, 'name': vm})}"}


def audit(api, action: str, wait_s: float = 0) -> list[dict]:
    """The entries of that action, newest first (waiting a little for one: a session's close entry is
    written just after the websocket closed)."""
    deadline = time.monotonic() + wait_s
    while True:
        events = api.ok("list-audit-events", {"action": action}, role="admin")["events"]
        if events or time.monotonic() >= deadline:
            return events
        time.sleep(0.05)


def test_get_vm_console_hands_out_a_short_lived_token_stored_only_hashed(api, vm):
    t = ticket(api, vm)
    assert set(t) == {"token", "ws_url", "expires_at", "node", "name", "type"}
    assert t["token"].startswith("jvpc_") and len(t["token"]) > 40
    assert t["ws_url"] == f"/ws/vnc?token={t['token']}&node=local&name={vm}"
    ttl = (parse_rfc3339(t["expires_at"]) - now()).total_seconds()
    assert 55 <= ttl <= 60
    files = list((api.services.settings.data_path / "consoles").iterdir())
    digest = hashlib.sha256(t["token"].encode()).hexdigest()
    assert [f.name for f in files] == [f"{digest}.yaml"] and oct(files[0].stat().st_mode)[-3:] == "600"
    stored = files[0].read_text()
    assert t["token"] not in stored and f"vm: {vm}" in stored and "token_name: t-operator" in stored
    entry = audit(api, "get-vm-console")[0]
    assert entry["outcome"] == "ok" and entry["token_name"] == "t-operator"
    assert entry["target"] == {"kind": "vm", "node": "local", "name": vm} and t["token"] not in str(entry)
    assert ticket(api, vm, role="admin")["token"] != t["token"]


def test_vnc_websocket_relays_both_ways_and_is_audited(api, server, vm, rfb):
    t = ticket(api, vm)
    ws = connect(server, t["ws_url"])
    assert read_until(ws, RFB_VERSION, timeout=10) == RFB_VERSION
    ws.send_binary(b"RFB 003.008\n")
    deadline = time.monotonic() + 10
    while bytes(rfb.received) != b"RFB 003.008\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bytes(rfb.received) == b"RFB 003.008\n"
    ws.close()
    opened, closed = audit(api, "open-vm-console")[0], audit(api, "close-vm-console", wait_s=10)[0]
    assert opened["outcome"] == "ok" and opened["status"] == 101 and opened["params"]["route"] == "tcp"
    assert opened["target"] == {"kind": "vm", "node": "local", "name": vm}
    assert closed["params"]["closed_by"] == "client" and closed["params"]["bytes_in"] == 12
    assert closed["params"]["bytes_out"] == 12 and closed["request_id"] == opened["request_id"]
    assert api.services.consoles.open_sessions == 0


def test_a_token_opens_one_console_once(api, server, vm):
    t = ticket(api, vm)
    ws = connect(server, t["ws_url"])
    read_until(ws, RFB_VERSION, timeout=10)
    r = refused(server, t["ws_url"])
    assert (r.status, r.code) == (401, "InvalidConsoleToken") and "already used" in r.message
    ws.close()
    r = refused(server, t["ws_url"])
    assert (r.status, r.code) == (401, "InvalidConsoleToken")
    events = audit(api, "open-vm-console")
    assert [e["outcome"] for e in events] == ["error", "error", "ok"]
    assert events[0]["error_code"] == "InvalidConsoleToken" and events[0]["target"] is None


def test_an_expired_token_is_refused(api, server, vm, monkeypatch):
    t = ticket(api, vm)
    tokens = api.services.consoles.tokens
    monkeypatch.setattr(tokens, "clock", lambda: now() + timedelta(seconds=61))
    r = refused(server, t["ws_url"])
    assert (r.status, r.code) == (401, "ConsoleTokenExpired") and "expired" in r.message
    monkeypatch.setattr(tokens, "clock", now)
    assert refused(server, t["ws_url"]).code == "InvalidConsoleToken"  # used up by the failed try


def test_expired_tokens_nobody_used_are_swept(api, vm, monkeypatch):
    ticket(api, vm)
    tokens = api.services.consoles.tokens
    monkeypatch.setattr(tokens, "clock", lambda: now() + timedelta(seconds=120))
    ticket(api, vm)
    assert len(list((api.services.settings.data_path / "consoles").iterdir())) == 1


def test_a_token_for_another_type_or_vm_is_refused_and_used_up(api, server, vm, rfb):
    other = define_vm(api, unique("con-"), vnc_port=rfb.port)
    serial = serial_ticket(api, vm)
    r = refused(server, serial["ws_url"].replace("/ws/serial", "/ws/vnc"))
    assert (r.status, r.code) == (403, "ConsoleTokenMismatch") and "serial console" in r.message
    assert refused(server, serial["ws_url"]).code == "InvalidConsoleToken"
    vnc = ticket(api, vm)
    r = refused(server, vnc["ws_url"].replace(f"name={vm}", f"name={other}"))
    assert (r.status, r.code) == (403, "ConsoleTokenMismatch") and other in r.message
    assert refused(server, vnc["ws_url"]).code == "InvalidConsoleToken"
    r = refused(server, ticket(api, vm)["ws_url"].replace("node=local", "node=elsewhere"))
    assert (r.status, r.code) == (403, "ConsoleTokenMismatch")


def test_bad_tokens_and_plain_requests(api, server):
    assert refused(server, "/ws/vnc").code == "ConsoleTokenMissing"
    assert refused(server, "/ws/serial?token=").status == 401
    r = refused(server, "/ws/vnc?token=" + api.tokens["admin"])  # an API token is not a console token
    assert (r.status, r.code) == (401, "InvalidConsoleToken")
    assert refused(server, "/ws/vnc?token=jvpc_" + "x" * 43).code == "InvalidConsoleToken"
    resp = api.client.get("/ws/serial?token=abc")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "WebSocketRequired"


def test_a_viewer_cannot_get_a_console(api, vm):
    err = api.error("get-vm-console", {"name": vm}, status=403, code="Forbidden", role="viewer")
    assert err["details"]["required_role"] == "operator"
    assert not (api.services.settings.data_path / "consoles").exists()


def test_a_revoked_api_token_can_no_longer_open_its_consoles(api, server, vm):
    t = ticket(api, vm)
    api.services.tokens.revoke("t-operator")
    r = refused(server, t["ws_url"])
    assert (r.status, r.code) == (401, "InvalidToken") and "revoked" in r.message


def test_a_stopped_vm_has_no_console(api, server, vm):
    api.error("get-vm-console", {"name": "db1"}, status=409, code="InvalidState", role="operator")
    t = ticket(api, vm)
    api.ok("stop-vm", {"name": vm, "force": True}, role="operator")
    err = api.error("get-vm-console", {"name": vm}, status=409, code="InvalidState", role="operator")
    assert err["details"]["state"] == "stopped"
    r = refused(server, t["ws_url"])  # stopped between token and websocket
    assert (r.status, r.code) == (409, "InvalidState")
    api.error("get-vm-console", {"name": "ghost"}, status=404, code="VmNotFound", role="operator")
    api.error("get-vm-console", {"node": "ghost", "name": vm}, status=404, code="NodeNotFound", role="operator")
    api.error("get-vm-console", {"name": vm, "type": "spice"}, status=400, code="ValidationFailed",
              role="operator")


def test_a_vm_without_that_console_is_refused(api, rfb):
    bare = define_vm(api, unique("con-"), serial=None)
    err = api.error("get-vm-console", {"name": bare}, status=422, code="ConsoleNotAvailable", role="operator")
    assert "no VNC display" in err["message"] and err["details"]["type"] == "vnc"
    err = api.error("get-vm-console", {"name": bare, "type": "serial"}, status=422, code="ConsoleNotAvailable",
                    role="operator")
    assert "no serial console" in err["message"]
    file_serial = define_vm(api, unique("con-"), serial="file", vnc_port=rfb.port, listen=None)
    err = api.error("get-vm-console", {"name": file_serial, "type": "serial"}, status=422,
                    code="ConsoleNotAvailable", role="operator")
    assert "'file' device" in err["message"]
    err = api.error("get-vm-console", {"name": file_serial}, status=422, code="ConsoleNotAvailable",
                    role="operator")
    assert "no listener" in err["message"]
    # the demo's web1: autoport on a driver that never assigns one
    api.error("get-vm-console", {"name": "web1"}, status=422, code="ConsoleNotAvailable", role="operator")


def test_get_vm_console_says_the_test_driver_has_no_serial_stream(api, vm):
    err = api.error("get-vm-console", {"name": vm, "type": "serial"}, status=422, code="ConsoleNotAvailable",
                    role="operator")
    assert "test driver" in err["message"] and "no console stream" in err["message"], err
    assert err["details"]["reason"] == "test-driver"


def test_the_serial_websocket_checks_the_token_before_the_driver(api, server, vm):
    t = serial_ticket(api, vm)
    r = refused(server, t["ws_url"])
    # the token first, then the console: the test driver has no console stream (the websocket checks again)
    assert (r.status, r.code) == (422, "ConsoleNotAvailable") and "test driver" in r.message
    assert refused(server, t["ws_url"]).code == "InvalidConsoleToken"


def test_a_foreign_origin_is_refused_before_the_token_is_used(api, server, vm):
    t = ticket(api, vm)
    for origin in ("http://evil.example", "null", f"{server.replace('127.0.0.1', 'localhost')}",
                   server.replace("http:", "https:").rsplit(":", 1)[0] + ":1"):
        r = refused(server, t["ws_url"], origin=origin)
        assert (r.status, r.code) == (403, "OriginNotAllowed"), origin
    ws = connect(server, t["ws_url"], origin=server)  # the UI's own origin; the token still works
    read_until(ws, RFB_VERSION, timeout=10)
    ws.close()
    assert audit(api, "open-vm-console")[1]["error_code"] == "OriginNotAllowed"


def test_listed_origins_are_allowed(tmp_path, rfb):
    from tests.conftest import build_api, make_settings
    api = build_api(make_settings(tmp_path, console={"allowed_origins": ["http://ui.example:3000"]}))
    try:
        srv = make_server("127.0.0.1", 0, api.app, threaded=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{srv.server_port}"
        vm = define_vm(api, unique("con-"), vnc_port=rfb.port)
        ws = connect(base, ticket(api, vm)["ws_url"], origin="http://UI.example:3000")
        read_until(ws, RFB_VERSION, timeout=10)
        ws.close()
        assert refused(base, ticket(api, vm)["ws_url"], origin="http://ui.example:3001").code == "OriginNotAllowed"
        srv.shutdown()
    finally:
        api.services.close()


def test_an_idle_console_is_closed(api, server, vm, monkeypatch):
    monkeypatch.setattr(api.services.consoles, "idle_timeout_s", 1.0)
    ws = connect(server, ticket(api, vm)["ws_url"])
    started = time.monotonic()
    for _ in range(6):  # screen update requests alone are not activity
        ws.send_binary(b"\x03\x01\x00\x00\x00\x00\x04\x00\x03\x00")
        time.sleep(0.1)
    code, reason = wait_close(ws, timeout=10)
    assert code == 4001 and "without input" in reason and 1.0 <= time.monotonic() - started < 5
    assert audit(api, "close-vm-console", wait_s=10)[0]["params"]["closed_by"] == "idle"


def test_the_console_closes_with_a_reason_when_the_vm_is_destroyed(api, server, vm, rfb):
    ws = connect(server, ticket(api, vm)["ws_url"])
    read_until(ws, RFB_VERSION, timeout=10)
    api.ok("stop-vm", {"name": vm, "force": True}, role="operator")
    rfb.drop_clients()  # QEMU's display goes with the VM
    code, reason = wait_close(ws, timeout=10)
    assert code == 4000 and reason == f"vm '{vm}' is no longer running (now stopped)"


def test_the_vnc_server_going_away_alone_is_not_a_stopped_vm(api, server, vm, rfb, monkeypatch):
    monkeypatch.setattr(api.services.consoles, "stop_settle_s", 0.2)
    ws = connect(server, ticket(api, vm)["ws_url"])
    read_until(ws, RFB_VERSION, timeout=10)
    rfb.drop_clients()
    assert wait_close(ws, timeout=10) == (4002, "the VNC server closed the connection")


def test_consoles_per_process_are_bounded_and_refusals_keep_the_token(api, server, vm, monkeypatch):
    from jvp.service.console.service import ConsoleService
    consoles: ConsoleService = api.services.consoles
    monkeypatch.setattr(consoles, "_slots", threading.BoundedSemaphore(1))
    first = connect(server, ticket(api, vm)["ws_url"])
    read_until(first, RFB_VERSION, timeout=10)
    t = ticket(api, vm)
    r = refused(server, t["ws_url"])
    assert (r.status, r.code) == (503, "ConsoleLimitReached")
    assert api.ok("list-vms", {}, role="viewer")["vms"]  # the API still answers
    first.close()
    deadline = time.monotonic() + 10
    while consoles.open_sessions and time.monotonic() < deadline:
        time.sleep(0.05)
    second = connect(server, t["ws_url"])
    read_until(second, RFB_VERSION, timeout=10)
    second.close()


def test_an_api_token_demoted_to_viewer_can_no_longer_open_its_consoles(api, server, vm):
    t = ticket(api, vm)  # issued to t-operator

    def demote(doc):
        return {**doc, "tokens": [{**tok, "role": "viewer"} if tok["name"] == "t-operator" else tok
                                  for tok in doc["tokens"]]}
    api.services.store.update("tokens", fn=demote)  # what an admin editing the token's role does
    r = refused(server, t["ws_url"])
    assert (r.status, r.code) == (403, "Forbidden") and "no longer has a role that may open consoles" in r.message
    assert refused(server, t["ws_url"]).code == "InvalidConsoleToken"  # tried once, used up
    assert audit(api, "open-vm-console")[1]["error_code"] == "Forbidden"


def test_get_vm_console_reports_a_display_that_does_not_answer(api):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = define_vm(api, unique("con-"), vnc_port=port)
    err = api.error("get-vm-console", {"name": dead}, status=502, code="ConsoleUnreachable", role="operator")
    assert err["details"]["endpoint"] == f"127.0.0.1:{port}" and dead in err["message"]
    consoles = api.services.settings.data_path / "consoles"
    assert not consoles.exists() or not list(consoles.iterdir())  # no token was handed out


@pytest.fixture
def ssh_node(api, tmp_path, rfb):
    """A node registered with a qemu+ssh URI whose libvirt connection is the test driver's (there is no
    libvirtd behind the SSH server), so that get-vm-console and /ws/vnc take the SSH route end to end:
    the tunnel goes through a real SSH server on loopback to the fake VNC display."""
    from jvp.domain.node import NodeRecord
    from jvp.timeutil import rfc3339 as now_text
    from tests.sshserver import SshForwarder
    sshd = SshForwarder(tmp_path)
    known = tmp_path / "known_hosts"
    known.write_text("")
    name = unique("ssh-")
    uri = (f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?keyfile={sshd.key_file}&known_hosts={known}")
    api.services.store.create("node", name, doc=NodeRecord(name=name, uri=uri, created_at=now_text(),
                                                            updated_at=now_text()).to_doc())
    nc = api.services.connections.get(name, uri)
    nc._conn = api.services.gateway.connection("local").get()
    try:
        yield name, sshd, known
    finally:
        nc._conn = None  # the test driver's connection belongs to the local node
        api.services.connections.forget(name)
        sshd.close()


def test_an_ssh_node_reports_host_key_problems_at_get_vm_console_and_tunnels(api, server, vm, rfb, ssh_node):
    node, sshd, known = ssh_node
    err = api.error("get-vm-console", {"node": node, "name": vm}, status=422, code="SshHostKeyUnknown",
                    role="operator")
    assert "ssh-keyscan" in err["message"] and err["details"]["known_hosts"] == [str(known)]
    assert known.read_text() == ""  # never learned
    other = sshd.known_hosts_line.split()[0] + " ssh-ed25519 " + \
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    known.write_text(other)
    api.error("get-vm-console", {"node": node, "name": vm}, status=422, code="SshHostKeyMismatch", role="operator")
    known.write_text(sshd.known_hosts_line)
    t = ticket(api, vm, node=node)
    assert sshd.opened == [("127.0.0.1", rfb.port)]  # get-vm-console opened the tunnel once to check it
    ws = connect(server, t["ws_url"])
    try:
        assert read_until(ws, RFB_VERSION, timeout=10) == RFB_VERSION
    finally:
        ws.close()
    assert sshd.opened == [("127.0.0.1", rfb.port)] * 2
    opened = audit(api, "open-vm-console")[0]
    assert opened["params"]["route"] == "ssh" and opened["target"]["node"] == node


@pytest.fixture
def tcp_node(api):
    """A node registered as qemu+tcp://127.0.0.1:16510/system (which could be an `ssh -L` port forward to any
    machine) whose libvirt connection is the test driver's."""
    from jvp.domain.node import NodeRecord
    from jvp.timeutil import rfc3339 as now_text
    name = unique("fwd-")
    uri = "qemu+tcp://127.0.0.1:16510/system"
    api.services.store.create("node", name, doc=NodeRecord(name=name, uri=uri, created_at=now_text(),
                                                            updated_at=now_text()).to_doc())
    nc = api.services.connections.get(name, uri)
    nc._conn = api.services.gateway.connection("local").get()
    try:
        yield name
    finally:
        nc._conn = None
        api.services.connections.forget(name)


def test_a_loopback_tcp_node_is_this_host_only_when_libvirt_says_so(api, server, vm, rfb, tcp_node, monkeypatch):
    """Not by its address: compared with this host's own libvirtd (stood in for by test driver instances)."""
    from jvp.hypervisor import console as hv
    from jvp.hypervisor.connection import NodeConnection
    gateway = api.services.gateway
    other = NodeConnection("elsewhere", "test:///default")  # another libvirtd
    monkeypatch.setattr(gateway, "this_host_connection", lambda uri: other)
    try:
        # the test driver reports no host UUID: an identity that cannot be compared is not this host
        err = api.error("get-vm-console", {"node": tcp_node, "name": vm}, status=422, code="ConsoleNotAvailable",
                        role="operator")
        assert "node's loopback" in err["message"] and "is not this host" in err["message"]
        assert "host UUID is None" in err["details"]["this_host"] and err["details"]["transport"] == "tcp"
        # the same host UUID and name (a cloned image), but that libvirtd does not run the domain: not this host
        monkeypatch.setattr(gateway, "host_identity", lambda conn: hv.HostIdentity("h-1", "kvm1", None))
        err = api.error("get-vm-console", {"node": tcp_node, "name": vm}, status=422, code="ConsoleNotAvailable",
                        role="operator")
        assert "has no domain" in err["details"]["this_host"]
    finally:
        other.close()
    # this host's libvirtd is the one behind the node, and runs that domain with that display: reached
    monkeypatch.setattr(gateway, "this_host_connection", lambda uri: gateway.connection("local"))
    t = ticket(api, vm, node=tcp_node)
    ws = connect(server, t["ws_url"])
    try:
        assert read_until(ws, RFB_VERSION, timeout=10) == RFB_VERSION
    finally:
        ws.close()
    opened = audit(api, "open-vm-console")[0]
    assert opened["params"]["route"] == "tcp" and opened["target"]["node"] == tcp_node
