"""Console rules without libvirt: console endpoints read from domain XML, the route to a VNC listener per node
transport, the Origin check, what counts as user input, and one-time tokens on a real metadata store
(single use even when threads and processes race for one token)."""
from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest

from jvp.api.console_ws import origin_allowed
from jvp.errors import JvpError, Unauthorized
from jvp.hypervisor.console import (NodeTransport, VncEndpoint, local_twin_uri, node_transport, serial_device,
                                    this_host_mismatch, vnc_endpoint, vnc_route)
from jvp.hypervisor.xml import parse
from jvp.service.console.relay import close_reason, vnc_user_input
from jvp.service.console.tokens import ConsoleTokens
from jvp.settings import REPO_ROOT
from jvp.store import YamlMetadataStore
from jvp.timeutil import now, parse_rfc3339

SCHEMAS = REPO_ROOT / "metadata_schema"


def dom(devices: str) -> object:
    return parse(f"<domain type='kvm'><name>v</name><devices>{devices}</devices></domain>")


# -- endpoints from the live XML -----------------------------------------------------------------------
@pytest.mark.parametrize("xml, expected", [
    ("<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>"
     "<listen type='address' address='127.0.0.1'/></graphics>", VncEndpoint("tcp", "127.0.0.1", 5901)),
    ("<graphics type='vnc' port='5902' listen='0.0.0.0'/>", VncEndpoint("tcp", "0.0.0.0", 5902)),
    ("<graphics type='vnc' port='5903'/>", VncEndpoint("tcp", "127.0.0.1", 5903)),  # libvirt's default listen
    ("<graphics type='vnc' port='5904'><listen type='network' network='lan' address='192.0.2.7'/></graphics>",
     VncEndpoint("tcp", "192.0.2.7", 5904)),
    ("<graphics type='vnc' port='-1' autoport='yes'/>", VncEndpoint("tcp", "127.0.0.1", None)),
    ("<graphics type='vnc' socket='/run/vnc.sock'><listen type='socket' socket='/run/vnc.sock'/></graphics>",
     VncEndpoint("socket", socket="/run/vnc.sock")),
    ("<graphics type='vnc'><listen type='none'/></graphics>", VncEndpoint("none")),
    ("<graphics type='vnc' port='5905' passwd='s3cret'/>", VncEndpoint("tcp", "127.0.0.1", 5905, password=True)),
    ("<graphics type='spice' port='5906'/><graphics type='vnc' port='5907'/>",
     VncEndpoint("tcp", "127.0.0.1", 5907)),
    ("<graphics type='spice' port='5906'/>", None),
    ("", None),
])
def test_vnc_endpoint(xml, expected):
    assert vnc_endpoint(dom(xml)) == expected


def test_serial_device_is_what_open_console_opens():
    both = dom("<serial type='pty'><source path='/dev/pts/3'/><target port='0'/></serial>"
               "<console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/><target type='serial'/></console>")
    dev = serial_device(both)
    assert (dev.element, dev.type, dev.path, dev.streamable) == ("console", "pty", "/dev/pts/3", True)
    dev = serial_device(dom("<serial type='unix'><source mode='bind' path='/run/s.sock'/></serial>"))
    assert (dev.element, dev.type, dev.streamable) == ("serial", "unix", True)
    assert serial_device(dom("<serial type='file'><source path='/tmp/log'/></serial>")).streamable is False
    assert serial_device(dom("<serial type='tcp'><source mode='bind' host='0' service='4555'/></serial>")
                         ).streamable is False
    assert serial_device(dom("<graphics type='vnc'/>")) is None


# -- node transports and VNC routes -----------------------------------------------------------------
@pytest.mark.parametrize("uri, kind, transport, host, port, user", [
    ("qemu:///system", "local", "unix", None, None, None),
    ("qemu+unix:///system?socket=/run/libvirt/libvirt-sock", "local", "unix", None, None, None),
    ("test:///default", "local", "unix", None, None, None),
    ("qemu+ssh://root@kvm2.example:2222/system?keyfile=/k", "ssh", "ssh", "kvm2.example", 2222, "root"),
    ("qemu+libssh2://ops@[2001:db8::5]/system", "ssh", "libssh2", "2001:db8::5", None, "ops"),
    ("qemu+tcp://127.0.0.1/system", "remote", "tcp", "127.0.0.1", None, None),
    ("qemu+tls://kvm3/system", "remote", "tls", "kvm3", None, None),
    ("qemu://kvm4/system", "remote", "tls", "kvm4", None, None),  # libvirt's default transport with a host
])
def test_node_transport(uri, kind, transport, host, port, user):
    tr = node_transport(uri)
    assert (tr.kind, tr.transport, tr.host, tr.port, tr.user) == (kind, transport, host, port, user)
    if "keyfile" in uri:
        assert tr.params == {"keyfile": "/k"}


LOCAL, SSH = NodeTransport("local", "unix"), NodeTransport("ssh", "ssh", host="kvm2")
TCP_LOOP = NodeTransport("remote", "tcp", host="127.0.0.1")
TLS = NodeTransport("remote", "tls", host="kvm3.example")


@pytest.mark.parametrize("ep, tr, route", [
    (VncEndpoint("tcp", "127.0.0.1", 5900), LOCAL, ("tcp", "127.0.0.1", 5900, None)),
    (VncEndpoint("tcp", "0.0.0.0", 5900), LOCAL, ("tcp", "127.0.0.1", 5900, None)),
    (VncEndpoint("tcp", "::", 5900), LOCAL, ("tcp", "::1", 5900, None)),
    (VncEndpoint("tcp", "192.0.2.9", 5900), LOCAL, ("tcp", "192.0.2.9", 5900, None)),
    (VncEndpoint("socket", socket="/run/v.sock"), LOCAL, ("unix", None, None, "/run/v.sock")),
    (VncEndpoint("tcp", "127.0.0.1", 5901), SSH, ("ssh", "127.0.0.1", 5901, None)),
    (VncEndpoint("tcp", "0.0.0.0", 5901), SSH, ("ssh", "127.0.0.1", 5901, None)),
    (VncEndpoint("tcp", "0.0.0.0", 5902), TLS, ("tcp", "kvm3.example", 5902, None)),
    (VncEndpoint("tcp", "198.51.100.4", 5902), TLS, ("tcp", "198.51.100.4", 5902, None)),
])
def test_vnc_route(ep, tr, route):
    r = vnc_route(ep, tr, "vm1", "n1")
    assert (r.via, r.host, r.port, r.path) == route


@pytest.mark.parametrize("ep, tr, words", [
    # a loopback TCP URI may be a port forward to another host: never judged by its address
    (VncEndpoint("tcp", "127.0.0.1", 5900), TCP_LOOP, "node's loopback"),
    (VncEndpoint("tcp", "0.0.0.0", 5900), TCP_LOOP, "names no host this host can reach"),
    (VncEndpoint("tcp", "localhost", 5900), TLS, "node's loopback"),
    (VncEndpoint("tcp", "::1", 5900), TLS, "node's loopback"),
    (VncEndpoint("socket", socket="/run/v.sock"), SSH, "unix socket"),
    (VncEndpoint("socket", socket="/run/v.sock"), TCP_LOOP, "unix socket"),
    (VncEndpoint("none"), LOCAL, "no listener"),
    (VncEndpoint("tcp", "127.0.0.1", None), LOCAL, "no VNC port"),
])
def test_unreachable_vnc_is_console_not_available(ep, tr, words):
    with pytest.raises(JvpError) as err:
        vnc_route(ep, tr, "vm1", "n1")
    assert (err.value.code, err.value.status) == ("ConsoleNotAvailable", 422)
    assert words in err.value.message and "vm 'vm1' on node 'n1'" in err.value.message


# -- a remote-transport node that is this very host --------------------------------------------------
@pytest.mark.parametrize("ep, tr, route", [
    (VncEndpoint("tcp", "127.0.0.1", 5900), TCP_LOOP, ("tcp", "127.0.0.1", 5900, None)),
    (VncEndpoint("tcp", "::1", 5900), TLS, ("tcp", "::1", 5900, None)),
    (VncEndpoint("tcp", "0.0.0.0", 5900), TCP_LOOP, ("tcp", "127.0.0.1", 5900, None)),
    (VncEndpoint("socket", socket="/run/v.sock"), TCP_LOOP, ("unix", None, None, "/run/v.sock")),
])
def test_a_remote_node_shown_to_be_this_host_is_reached_directly(ep, tr, route):
    asked = []
    r = vnc_route(ep, tr, "vm1", "n1", this_host=lambda: asked.append(1))  # None: it is this host
    assert (r.via, r.host, r.port, r.path) == route and asked == [1]


@pytest.mark.parametrize("ep, tr", [
    (VncEndpoint("tcp", "127.0.0.1", 5900), TCP_LOOP),  # e.g. `ssh -L 16509:...` to another machine
    (VncEndpoint("tcp", "0.0.0.0", 5900), TCP_LOOP),
    (VncEndpoint("socket", socket="/run/v.sock"), TLS),
])
def test_a_remote_node_that_is_not_this_host_stays_out_of_reach(ep, tr):
    with pytest.raises(JvpError) as err:
        vnc_route(ep, tr, "vm1", "n1", this_host=lambda: "its host UUID is a, this host's is b")
    assert err.value.code == "ConsoleNotAvailable" and "this host's is b" in err.value.message
    assert err.value.details["this_host"] == "its host UUID is a, this host's is b"


def test_routable_listeners_and_ssh_nodes_need_no_identity_check():
    def never() -> None:
        raise AssertionError("asked whether the node is this host")
    for ep, tr in ((VncEndpoint("tcp", "198.51.100.4", 5902), TCP_LOOP), (VncEndpoint("tcp", "0.0.0.0", 5902), TLS),
                   (VncEndpoint("tcp", "127.0.0.1", 5902), SSH), (VncEndpoint("tcp", "127.0.0.1", 5902), LOCAL)):
        vnc_route(ep, tr, "vm1", "n1", this_host=never)


@pytest.mark.parametrize("uri, twin", [
    ("qemu+tcp://127.0.0.1/system", "qemu:///system"),
    ("qemu+tls://kvm3:16514/session", "qemu:///session"),
    ("qemu://kvm4/system", "qemu:///system"),
    ("test+tcp://127.0.0.1/default", None),  # the test driver lives in its client: nothing per host
])
def test_the_local_twin_of_a_node_uri(uri, twin):
    assert local_twin_uri(uri) == twin


class FakeDomain:
    def __init__(self, vnc: str, active: bool = True):
        self.vnc, self.active = vnc, active

    def isActive(self) -> int:
        return int(self.active)

    def XMLDesc(self, flags: int) -> str:
        return f"<domain><name>v</name><devices>{self.vnc}</devices></domain>"


class FakeConn:
    """What this_host_mismatch reads through a libvirt connection."""

    def __init__(self, uuid: str, hostname: str, smbios: str | None = None, domains: dict | None = None,
                 broken: bool = False):
        self.uuid, self.hostname, self.smbios, self.domains, self.broken = uuid, hostname, smbios, domains or {}, broken

    def getCapabilities(self) -> str:
        if self.broken:
            import libvirt
            raise libvirt.libvirtError("connection refused")
        return f"<capabilities><host><uuid>{self.uuid}</uuid></host></capabilities>"

    def getHostname(self) -> str:
        return self.hostname

    def getSysinfo(self, flags: int) -> str:
        if self.smbios is None:
            import libvirt
            raise libvirt.libvirtError("Host SMBIOS information is not available")
        return f"<sysinfo type='smbios'><system><entry name='uuid'>{self.smbios}</entry></system></sysinfo>"

    def lookupByUUIDString(self, uuid: str) -> FakeDomain:
        if uuid not in self.domains:
            import libvirt
            raise libvirt.libvirtError("Domain not found")
        return self.domains[uuid]


VNC_XML = "<graphics type='vnc' port='5901' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>"
EP = VncEndpoint("tcp", "127.0.0.1", 5901)
DOM = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize("node, here, words", [
    (FakeConn("h-1", "kvm1"), FakeConn("h-1", "kvm1", domains={DOM: FakeDomain(VNC_XML)}), None),
    (FakeConn("h-1", "kvm1", "S"), FakeConn("H-1", "kvm1", "s", domains={DOM: FakeDomain(VNC_XML)}), None),
    # a port forward to another machine: another host UUID (and name)
    (FakeConn("h-2", "kvm2"), FakeConn("h-1", "kvm1", domains={DOM: FakeDomain(VNC_XML)}), "host UUID is h-2"),
    (FakeConn("h-1", "kvm2"), FakeConn("h-1", "kvm1", domains={DOM: FakeDomain(VNC_XML)}), "host name is 'kvm2'"),
    (FakeConn("h-1", "kvm1", "s-2"), FakeConn("h-1", "kvm1", "s-1", domains={DOM: FakeDomain(VNC_XML)}),
     "SMBIOS UUID is s-2"),
    # identity cloned with the disk image: the same domain with the same display must be here too
    (FakeConn("h-1", "kvm1"), FakeConn("h-1", "kvm1"), "has no domain"),
    (FakeConn("h-1", "kvm1"), FakeConn("h-1", "kvm1", domains={DOM: FakeDomain(VNC_XML, active=False)}),
     "is not running"),
    (FakeConn("h-1", "kvm1"), FakeConn("h-1", "kvm1", domains={DOM: FakeDomain(VNC_XML.replace("5901", "5999"))}),
     "another VNC display"),
    (FakeConn("", "kvm1"), FakeConn("", "kvm1", domains={DOM: FakeDomain(VNC_XML)}), "host UUID is None"),
    (FakeConn("h-1", "kvm1"), FakeConn("h-1", "kvm1", broken=True), "did not say who it is"),
])
def test_a_node_is_this_host_only_when_libvirt_says_so_on_both_sides(node, here, words):
    why = this_host_mismatch(node, here, DOM, EP)
    if words is None:
        assert why is None
    else:
        assert why is not None and words in why


# -- Origin ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("origin, host, allowed, ok", [
    (None, "jvp:7777", [], True),                             # no browser, no Origin
    ("http://jvp:7777", "jvp:7777", [], True),
    ("https://JVP:7777", "jvp:7777", [], True),
    ("http://jvp", "jvp:80", [], True),                       # default ports made explicit
    ("https://jvp", "jvp", [], True),
    ("http://[::1]:7777", "[::1]:7777", [], True),
    ("http://jvp:7778", "jvp:7777", [], False),
    ("http://evil.example", "jvp:7777", [], False),
    ("http://jvp.evil.example:7777", "jvp:7777", [], False),
    ("null", "jvp:7777", [], False),
    ("file://", "jvp:7777", [], False),
    ("http://jvp:notaport", "jvp:7777", [], False),
    ("http://localhost:3000", "127.0.0.1:7777", ["http://localhost:3000"], True),
    ("https://ui.example", "10.0.0.5:7777", ["https://ui.example:443"], True),
    ("http://ui.example", "10.0.0.5:7777", ["https://ui.example"], False),
    ("http://jvp:7777", None, [], False),
])
def test_origin_allowed(origin, host, allowed, ok):
    assert origin_allowed(origin, host, allowed) is ok


# -- user input and close reasons ------------------------------------------------------------------
FBUR = b"\x03\x01\x00\x00\x00\x00\x04\x00\x03\x00"
KEY = b"\x04\x01\x00\x00\x00\x00\xff\x0d"
POINTER = b"\x05\x00\x01\x00\x01\x00"


def test_only_screen_update_requests_are_not_user_input():
    assert not vnc_user_input(FBUR) and not vnc_user_input(FBUR * 3)
    assert vnc_user_input(KEY) and vnc_user_input(POINTER) and vnc_user_input(FBUR + KEY)
    assert vnc_user_input(FBUR + POINTER + POINTER + POINTER)  # 28 bytes
    assert vnc_user_input(FBUR + KEY + KEY + b"\x03\x00\x00\x00\x00\x00")  # 30 bytes, 2nd chunk a key
    assert vnc_user_input(b"RFB 003.008\n") and vnc_user_input(b"\x01")


def test_close_reasons_fit_a_control_frame():
    assert close_reason("short") == "short"
    long = close_reason("é" * 200)
    assert len(long.encode()) <= 123 and long.endswith("...")


# -- tokens ------------------------------------------------------------------------------------------
@pytest.fixture
def tokens(tmp_path):
    return ConsoleTokens(YamlMetadataStore(tmp_path, SCHEMAS), ttl_s=60)


def test_tokens_are_random_hashed_bound_and_short_lived(tokens, tmp_path):
    t1, grant = tokens.issue("n1", "vm1", "serial", "operator", "ops")
    t2, _ = tokens.issue("n1", "vm1", "serial", "operator", "ops")
    assert t1 != t2 and t1.startswith("jvpc_")
    assert 58 <= (parse_rfc3339(grant.expires_at) - now()).total_seconds() <= 60  # whole seconds, rounded down
    stored = "".join(p.read_text() for p in (tmp_path / "consoles").iterdir())
    assert t1 not in stored and t2 not in stored and "vm: vm1" in stored
    got = tokens.redeem(t1)
    assert (got.node, got.vm, got.type, got.role, got.token_name) == ("n1", "vm1", "serial", "operator", "ops")
    with pytest.raises(Unauthorized) as err:
        tokens.redeem(t1)
    assert err.value.code == "InvalidConsoleToken"
    assert tokens.redeem(t2).vm == "vm1"


@pytest.mark.parametrize("bad, code", [(None, "ConsoleTokenMissing"), ("", "ConsoleTokenMissing"),
                                       ("jvp_abc", "InvalidConsoleToken"),
                                       ("jvpc_" + "a" * 200, "InvalidConsoleToken"),
                                       ("jvpc_../../etc", "InvalidConsoleToken")])
def test_malformed_tokens(tokens, bad, code):
    with pytest.raises(Unauthorized) as err:
        tokens.redeem(bad)
    assert err.value.code == code


def test_expired_tokens_are_refused_and_swept(tokens, tmp_path):
    old, _ = tokens.issue("n1", "vm1", "vnc", "admin", "a")
    stale, _ = tokens.issue("n1", "vm2", "vnc", "admin", "a")
    later = now() + timedelta(seconds=61)
    tokens.clock = lambda: later
    with pytest.raises(Unauthorized) as err:
        tokens.redeem(old)
    assert err.value.code == "ConsoleTokenExpired"
    fresh, _ = tokens.issue("n1", "vm3", "vnc", "admin", "a")  # sweeps the stale one
    assert len(list((tmp_path / "consoles").iterdir())) == 1
    assert tokens.redeem(fresh).vm == "vm3"
    with pytest.raises(Unauthorized):
        tokens.redeem(stale)


def _redeem_in_child(root: str, token: str, results) -> None:
    t = ConsoleTokens(YamlMetadataStore(root, SCHEMAS), ttl_s=60)
    try:
        t.redeem(token)
        results.put("won")
    except Unauthorized as exc:
        results.put(exc.code)


def test_one_token_one_winner_across_processes(tokens, tmp_path):
    """Like gunicorn workers racing: eight processes redeem the same token at once, exactly one gets it."""
    for _ in range(3):
        token, _ = tokens.issue("n1", "vm1", "vnc", "operator", "ops")
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        procs = [ctx.Process(target=_redeem_in_child, args=(str(tmp_path), token, results)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
        assert outcomes == ["InvalidConsoleToken"] * 7 + ["won"]
