"""The console relay with in-memory websocket and channel doubles, and the SSH tunnel against a real SSH
server on loopback (tests/sshserver.py): host keys checked against known_hosts, never learned."""
from __future__ import annotations

import hashlib
import hmac
import base64
import queue
import threading
import time

import pytest

from jvp.errors import JvpError
from jvp.hypervisor.console import NodeTransport
from jvp.hypervisor.ssh_tunnel import known_hosts_files, open_tunnel
from jvp.service.console.relay import (CLOSE_CONSOLE_ENDED, CLOSE_IDLE, CLOSE_VM_STOPPED, ClientGone,
                                       ConsoleRelay, serial_user_input, vnc_user_input)
from tests.consoleutil import RFB_VERSION, FakeRfbServer
from tests.sshserver import SshForwarder


class FakeWs:
    def __init__(self) -> None:
        self.inbox: "queue.Queue[object]" = queue.Queue()
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    def receive(self, timeout: float):
        if self.closed:
            raise ClientGone()
        try:
            item = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is ClientGone:
            self.closed = (1000, "")
            raise ClientGone()
        return item

    def send(self, data: bytes) -> None:
        if self.closed:
            raise ClientGone()
        self.sent.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class FakeChannel:
    def __init__(self) -> None:
        self.out: "queue.Queue[bytes]" = queue.Queue()
        self.received: list[bytes] = []
        self.closed = threading.Event()

    def recv(self) -> bytes:
        return self.out.get()

    def send(self, data: bytes) -> None:
        if self.closed.is_set():
            raise BrokenPipeError()
        self.received.append(data)

    def close(self) -> None:
        self.closed.set()
        self.out.put(b"")


def run(relay: ConsoleRelay):
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", relay.run()), daemon=True)
    t.start()
    return t, box


def test_bytes_flow_both_ways_until_the_client_leaves():
    ws, ch = FakeWs(), FakeChannel()
    t, box = run(ConsoleRelay(ws, ch, name="t", idle_timeout_s=60, user_input=serial_user_input,
                              console_ended=lambda: (CLOSE_CONSOLE_ENDED, "x", "console")))
    ws.inbox.put("ls\r")            # text frames are taken as UTF-8
    ws.inbox.put(b"\x1b[A")
    ch.out.put(b"login: ")
    time.sleep(0.5)
    ws.inbox.put(ClientGone)
    t.join(5)
    r = box["r"]
    assert ch.received == [b"ls\r", b"\x1b[A"] and ws.sent == [b"login: "]
    assert (r.closed_by, r.code, r.bytes_in, r.bytes_out) == ("client", 1000, 6, 7) and ch.closed.is_set()


def test_the_console_ending_closes_the_websocket_with_the_sessions_reason():
    ws, ch = FakeWs(), FakeChannel()
    t, box = run(ConsoleRelay(ws, ch, name="t", idle_timeout_s=60, user_input=serial_user_input,
                              console_ended=lambda: (CLOSE_VM_STOPPED, "vm 'v' is no longer running", "vm")))
    ch.out.put(b"bye")
    ch.out.put(b"")                 # EOF from the VM's side
    t.join(5)
    assert ws.closed == (CLOSE_VM_STOPPED, "vm 'v' is no longer running") and box["r"].closed_by == "vm"


def test_idle_means_no_user_input_even_with_traffic():
    ws, ch = FakeWs(), FakeChannel()
    t, box = run(ConsoleRelay(ws, ch, name="t", idle_timeout_s=0.8, user_input=vnc_user_input,
                              console_ended=lambda: (CLOSE_CONSOLE_ENDED, "x", "console")))
    t0 = time.monotonic()
    while t.is_alive() and time.monotonic() - t0 < 5:
        ws.inbox.put(b"\x03\x01" + b"\x00" * 8)  # screen update requests
        ch.out.put(b"\x00" * 100)               # and screen updates
        time.sleep(0.1)
    t.join(5)
    assert ws.closed[0] == CLOSE_IDLE and box["r"].closed_by == "idle" and 0.8 <= time.monotonic() - t0 < 4


def test_input_keeps_a_console_open():
    ws, ch = FakeWs(), FakeChannel()
    t, box = run(ConsoleRelay(ws, ch, name="t", idle_timeout_s=1.5, user_input=serial_user_input,
                              console_ended=lambda: (CLOSE_CONSOLE_ENDED, "x", "console")))
    for _ in range(25):  # 2.5 s of typing: longer than the idle timeout
        ws.inbox.put(b"a")
        time.sleep(0.1)
    assert t.is_alive()
    t.join(5)
    assert box["r"].closed_by == "idle"


def test_a_console_that_refuses_input_ends_the_session():
    ws, ch = FakeWs(), FakeChannel()
    ch.closed.set()
    t, box = run(ConsoleRelay(ws, ch, name="t", idle_timeout_s=60, user_input=serial_user_input,
                              console_ended=lambda: (CLOSE_CONSOLE_ENDED, "the console went away", "console")))
    ws.inbox.put(b"x")
    t.join(5)
    assert ws.closed == (CLOSE_CONSOLE_ENDED, "the console went away")


# -- the SSH tunnel ----------------------------------------------------------------------------------
@pytest.fixture
def sshd(tmp_path):
    srv = SshForwarder(tmp_path)
    yield srv
    srv.close()


@pytest.fixture
def vnc():
    fake = FakeRfbServer()
    yield fake
    fake.close()


def transport(sshd, known_hosts, user="root", keyfile=None) -> NodeTransport:
    return NodeTransport("ssh", "ssh", host="127.0.0.1", port=sshd.port, user=user,
                         params={"keyfile": str(keyfile or sshd.key_file), "known_hosts": str(known_hosts)})


def test_the_tunnel_reaches_the_nodes_loopback_with_a_known_host_key(sshd, vnc, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line)
    chan = open_tunnel(transport(sshd, kh), "kvm2", "127.0.0.1", vnc.port, timeout_s=10)
    try:
        assert chan.recv() == RFB_VERSION
        chan.send(b"RFB 003.008\n")
        deadline = time.monotonic() + 5
        while bytes(vnc.received) != b"RFB 003.008\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bytes(vnc.received) == b"RFB 003.008\n" and sshd.opened == [("127.0.0.1", vnc.port)]
    finally:
        chan.close()
    assert chan.recv() == b""


def test_hashed_known_hosts_entries_work(sshd, vnc, tmp_path):
    salt = b"0123456789abcdefghij"
    name = f"[127.0.0.1]:{sshd.port}".encode()
    digest = hmac.new(salt, name, hashlib.sha1).digest()
    line = (f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()} "
            f"{sshd.host_key.get_name()} {sshd.host_key.get_base64()}\n")
    kh = tmp_path / "known_hosts"
    kh.write_text(line)
    chan = open_tunnel(transport(sshd, kh), "kvm2", "127.0.0.1", vnc.port, timeout_s=10)
    assert chan.recv() == RFB_VERSION
    chan.close()


def test_an_unknown_host_key_is_rejected_never_learned(sshd, vnc, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    with pytest.raises(JvpError) as err:
        open_tunnel(transport(sshd, kh), "kvm2", "127.0.0.1", vnc.port, timeout_s=10)
    assert (err.value.code, err.value.status) == ("SshHostKeyUnknown", 422)
    assert "ssh-keyscan" in err.value.message and kh.read_text() == "" and sshd.opened == []


def test_a_changed_host_key_is_rejected(sshd, vnc, tmp_path):
    import paramiko
    other = paramiko.ECDSAKey.generate()
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(JvpError) as err:
        open_tunnel(transport(sshd, kh), "kvm2", "127.0.0.1", vnc.port, timeout_s=10)
    assert (err.value.code, err.value.status) == ("SshHostKeyMismatch", 422) and sshd.opened == []


def test_a_refused_key_and_a_closed_port(sshd, tmp_path):
    import paramiko
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line)
    stranger = tmp_path / "stranger"
    paramiko.ECDSAKey.generate().write_private_key_file(str(stranger))
    with pytest.raises(JvpError) as err:
        open_tunnel(transport(sshd, kh, keyfile=stranger), "kvm2", "127.0.0.1", 1, timeout_s=10)
    assert (err.value.code, err.value.status) == ("NodeAuthFailed", 502)
    with pytest.raises(JvpError) as err:  # nothing listens on port 1 of the node
        open_tunnel(transport(sshd, kh), "kvm2", "127.0.0.1", 1, timeout_s=10)
    assert (err.value.code, err.value.status) == ("ConsoleUnreachable", 502)


def test_known_hosts_files_follow_the_uri_or_openssh():
    assert [str(p) for p in known_hosts_files(NodeTransport("ssh", "ssh", params={"known_hosts": "/k"}))] == ["/k"]
    paths = [str(p) for p in known_hosts_files(NodeTransport("ssh", "ssh"))]
    assert paths[0] == "/etc/ssh/ssh_known_hosts" and paths[1].endswith("/.ssh/known_hosts")
