"""Where a running domain's consoles are, read from its LIVE XML, and how JVP reaches them from this host.

- VNC: the first `<graphics type='vnc'>`. Its listener is a TCP address and port (autoport: the live XML has
  the port QEMU got) or a unix socket; `<listen type='none'>` has no listener at all.
- Serial: the console libvirt's `virDomainOpenConsole(dev=None)` opens, i.e. the first `<console>`, else the
  first `<serial>`; libvirt streams it when it is a pty or a unix socket.

How the VNC endpoint is reached depends on the node's URI only (never on what the address looks like):
- local transports (`qemu:///system`, `qemu+unix://`, in-process drivers): JVP runs on that host, so it
  connects straight to the listener (a wildcard listener is reached on loopback; a unix socket by path);
- ssh transports (`qemu+ssh`, `qemu+libssh`, `qemu+libssh2`): an SSH `direct-tcpip` channel from the node to
  its own listener (a wildcard listener is reached on the node's loopback); unix sockets cannot be tunnelled;
- other remote transports (`qemu+tcp`, `qemu+tls`, `qemu+ext`): a listener on a routable address of the
  node is reached directly (a wildcard listener through the URI's host name). A loopback listener, a unix
  socket, or a wildcard listener behind a URI whose host is a loopback name is on the node's own loopback,
  out of JVP's reach: ConsoleNotAvailable -- unless the node IS this host (below).

"The node is this host" is never guessed from an address: `qemu+tcp://127.0.0.1:16510/system` may be an
`ssh -L` port forward to another machine, and a loopback listener there is not ours. It is established
through libvirt, by comparing what the node's connection says with what this host's own libvirtd says
through a local connection to the same driver (`qemu:///system` for `qemu+tcp://.../system`,
`qemu:///session` for `.../session`; no other driver has per-host state):
  1. the host UUID of the capabilities (`<host><uuid>`, libvirt's SMBIOS- or machine-id-derived host id) and
     the host name are equal (and the SMBIOS system UUID of `virConnectGetSysinfo`, when both report one);
  2. this host's libvirtd has the very domain (same UUID), running, with the very same VNC listener.
Host UUIDs and names can be cloned along with a disk image; the second condition is what makes a match mean
"the listener this host would connect to is this VM's". Only when both hold is the listener reached
directly, as for a local node (loopback TCP or the unix socket by path); otherwise ConsoleNotAvailable, with
the failed comparison in `details.this_host`.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

import libvirt
from lxml import etree

from jvp.domain.console import (STREAMABLE_CHARDEVS, LiveConsoles, SerialDevice, VncEndpoint,  # noqa: F401
                                VncRoute, not_available)
from jvp.hypervisor.host import domain_state_name
from jvp.hypervisor.xml import parse

LOCAL_TRANSPORTS = ("unix",)
SSH_TRANSPORTS = ("ssh", "libssh", "libssh2")
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
_DEFAULT_VNC_LISTEN = "127.0.0.1"  # libvirt's vnc_listen default when the XML names no address


@dataclass(frozen=True)
class NodeTransport:
    kind: str                 # "local" | "ssh" | "remote"
    transport: str            # libvirt's transport name: unix, ssh, tcp, tls, ...
    host: str | None = None
    port: int | None = None
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)


# -- reading the live XML ----------------------------------------------------------------------------
def vnc_endpoint(root: etree._Element) -> VncEndpoint | None:
    g = root.find("devices/graphics[@type='vnc']")
    if g is None:
        return None
    listen = g.find("listen")
    ltype = listen.get("type") if listen is not None else ("socket" if g.get("socket") else "address")
    password = g.get("passwd") is not None
    if ltype == "none":
        return VncEndpoint(kind="none", password=password)
    if ltype == "socket":
        path = (listen.get("socket") if listen is not None else None) or g.get("socket")
        return VncEndpoint(kind="socket" if path else "none", socket=path, password=password)
    address = (listen.get("address") if listen is not None else None) or g.get("listen") or _DEFAULT_VNC_LISTEN
    port = g.get("port")
    port_no = int(port) if port and port.lstrip("-").isdigit() else -1
    return VncEndpoint(kind="tcp", address=address, port=port_no if port_no > 0 else None, password=password)


def serial_device(root: etree._Element) -> SerialDevice | None:
    """The device virDomainOpenConsole(None) opens: the first <console>, else the first <serial>."""
    for tag in ("console", "serial"):
        el = root.find(f"devices/{tag}")
        if el is not None:
            src = el.find("source")
            path = (src.get("path") if src is not None else None) or el.get("tty")
            return SerialDevice(element=tag, type=el.get("type") or "pty", path=path)
    return None


def live_consoles(conn: libvirt.virConnect, name: str) -> LiveConsoles:
    dom = conn.lookupByName(name)
    state = domain_state_name(dom.state()[0])
    active = bool(dom.isActive())
    root = parse(dom.XMLDesc(0))
    return LiveConsoles(state=state, active=active, vnc=vnc_endpoint(root), serial=serial_device(root),
                        uuid=dom.UUIDString(), stream=not conn.getURI().startswith("test:"))


def domain_state(conn: libvirt.virConnect, name: str) -> str:
    """The state, or 'undefined' when the domain is gone (a transient domain destroyed)."""
    try:
        return domain_state_name(conn.lookupByName(name).state()[0])
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return "undefined"
        raise


# -- the node's transport and the route to its VNC ---------------------------------------------------
def node_transport(uri: str) -> NodeTransport:
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    host = parts.hostname or None
    if not transport:
        transport = "tls" if host else "unix"  # libvirt's own default for a URI without a transport
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if transport in LOCAL_TRANSPORTS:
        kind = "local"
    elif transport in SSH_TRANSPORTS:
        kind = "ssh"
    else:
        kind = "remote"
    return NodeTransport(kind=kind, transport=transport, host=host, port=parts.port, user=parts.username,
                         params=params)


def _is_loopback(address: str) -> bool:
    if address.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def vnc_route(ep: VncEndpoint, tr: NodeTransport, vm: str, node: str,
              this_host: Callable[[], str | None] | None = None) -> VncRoute:
    """How this host reaches the display. `this_host()` is asked only for a non-ssh remote node whose
    listener is on the node's own loopback (or a unix socket): None when the node was shown to be this very
    host (see the module docstring), else why not."""
    if ep.kind == "none":
        raise not_available(vm, node, "its VNC display has no listener (<listen type='none'>)")
    if ep.kind == "socket":
        if tr.kind == "local":
            return VncRoute(via="unix", path=ep.socket)
        if tr.kind == "remote":
            why = _this_host(this_host)
            if why is None:
                return VncRoute(via="unix", path=ep.socket)
            raise not_available(vm, node, f"its VNC listens on a unix socket of the node, which JVP cannot reach "
                                f"over a {tr.transport} connection (the node is not this host: {why}); make it "
                                "listen on an address this host can reach, or register the node with a "
                                "qemu+ssh:// URI and make it listen on 127.0.0.1", transport=tr.transport,
                                this_host=why)
        raise not_available(vm, node, f"its VNC listens on a unix socket of the node, which JVP cannot reach "
                            f"over a {tr.transport} connection; make it listen on 127.0.0.1 (ssh nodes) or "
                            "on an address this host can reach", transport=tr.transport)
    if ep.port is None:
        raise not_available(vm, node, "libvirt reports no VNC port for the running domain")
    address = ep.address or _DEFAULT_VNC_LISTEN
    wildcard = address in _WILDCARD_TO_LOOPBACK
    if tr.kind == "local":
        return VncRoute(via="tcp", host=_WILDCARD_TO_LOOPBACK.get(address, address), port=ep.port)
    if tr.kind == "ssh":
        return VncRoute(via="ssh", host=_WILDCARD_TO_LOOPBACK.get(address, address), port=ep.port)
    if wildcard and tr.host and not _is_loopback(tr.host):
        return VncRoute(via="tcp", host=tr.host, port=ep.port)
    if wildcard or _is_loopback(address):
        # the listener is (or, through a loopback URI host, can only be reached) on the node's loopback
        why = _this_host(this_host)
        if why is None:
            return VncRoute(via="tcp", host=_WILDCARD_TO_LOOPBACK.get(address, address), port=ep.port)
        if wildcard:
            raise not_available(vm, node, f"the node's URI names no host this host can reach its VNC on "
                                f"({tr.host or 'none'}; a loopback name in a remote URI is a port forward, not "
                                f"this host: {why}); register it by a routable host name or with a qemu+ssh:// "
                                "URI", transport=tr.transport, listen=address, this_host=why)
        raise not_available(vm, node, f"its VNC listens on the node's loopback ({address}:{ep.port}), which is "
                            f"reachable only from the node itself or through SSH; the node is reached over "
                            f"{tr.transport} and is not this host ({why}), so register it with a qemu+ssh:// URI "
                            "for VNC (the serial console works over any transport)", transport=tr.transport,
                            listen=address, this_host=why)
    return VncRoute(via="tcp", host=address, port=ep.port)


def _this_host(check: Callable[[], str | None] | None) -> str | None:
    return "not checked" if check is None else check()


# -- is a remote node this very host? ------------------------------------------------------------------
@dataclass(frozen=True)
class HostIdentity:
    uuid: str | None          # <host><uuid> of the capabilities
    hostname: str | None
    smbios_uuid: str | None   # virConnectGetSysinfo's <system><entry name='uuid'>, where the host has SMBIOS


def host_identity(conn: libvirt.virConnect) -> HostIdentity:
    caps = parse(conn.getCapabilities())
    uuid = (caps.findtext("host/uuid") or "").strip().lower() or None
    hostname = conn.getHostname() or None
    try:
        sysinfo = parse(conn.getSysinfo(0))
        smbios = (sysinfo.findtext("system/entry[@name='uuid']") or "").strip().lower() or None
    except libvirt.libvirtError:  # no SMBIOS on this host (containers, some arm boards), or not supported
        smbios = None
    return HostIdentity(uuid=uuid, hostname=hostname, smbios_uuid=smbios)


def local_twin_uri(uri: str) -> str | None:
    """The URI of the same driver instance on THIS host (`qemu+tcp://h/system` -> `qemu:///system`), or None
    for a driver that has no per-host state to compare (the test driver lives in the client process)."""
    parts = urlsplit(uri)
    driver = parts.scheme.partition("+")[0]
    if driver != "qemu" or parts.path not in ("/system", "/session"):
        return None
    return f"qemu://{parts.path}"


def this_host_mismatch(node_conn: libvirt.virConnect, local_conn: libvirt.virConnect, domain_uuid: str,
                       ep: VncEndpoint, identity: Callable[[libvirt.virConnect], HostIdentity] | None = None
                       ) -> str | None:
    """None when the node behind `node_conn` is the host of `local_conn` (a local connection on this host)
    and both see the domain running with the same display; else what differs. Errors of the node's
    connection propagate; the local connection's become the answer. `identity` reads a host's identity
    (host_identity unless told otherwise)."""
    identity = identity or host_identity
    theirs = identity(node_conn)
    try:
        ours = identity(local_conn)
    except libvirt.libvirtError as exc:
        return f"this host's libvirtd did not say who it is: {exc.get_error_message()}"
    if not theirs.uuid or theirs.uuid != ours.uuid:
        return f"its host UUID is {theirs.uuid}, this host's is {ours.uuid}"
    if not theirs.hostname or theirs.hostname != ours.hostname:
        return f"its host name is {theirs.hostname!r}, this host's is {ours.hostname!r}"
    if theirs.smbios_uuid and ours.smbios_uuid and theirs.smbios_uuid != ours.smbios_uuid:
        return f"its SMBIOS UUID is {theirs.smbios_uuid}, this host's is {ours.smbios_uuid}"
    try:
        dom = local_conn.lookupByUUIDString(domain_uuid)
        active = bool(dom.isActive())
        mine = vnc_endpoint(parse(dom.XMLDesc(0))) if active else None
    except libvirt.libvirtError as exc:
        return f"this host's libvirtd has no domain {domain_uuid} ({exc.get_error_message()})"
    if not active:
        return f"domain {domain_uuid} is not running on this host's libvirtd"
    if mine != ep:
        return f"domain {domain_uuid} on this host's libvirtd has another VNC display ({mine})"
    return None


# -- byte channels to a console ----------------------------------------------------------------------
class SocketChannel:
    """A TCP or unix socket to a VNC server; recv() returns b'' once either side closed it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in the other thread
        except OSError:
            pass
        self.sock.close()


def connect_tcp(host: str, port: int, timeout_s: float) -> SocketChannel:
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.settimeout(None)  # the relay blocks in recv() until data or close
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # keystrokes and pointer moves go at once
    return SocketChannel(sock)


def connect_unix(path: str, timeout_s: float) -> SocketChannel:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    sock.settimeout(None)
    return SocketChannel(sock)
