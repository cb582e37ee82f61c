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
- other remote transports (`qemu+tcp`, `qemu+tls`, `qemu+ext`): only a listener on a routable address of the
  node can be reached (a wildcard listener through the URI's host name). A loopback listener or a unix
  socket is on the node's own loopback, out of JVP's reach: ConsoleNotAvailable. This holds for
  `qemu+tcp://127.0.0.1/system` too: such a node is treated as remote, not recognised by its address.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import libvirt
from lxml import etree

from jvp.errors import PreconditionFailed
from jvp.hypervisor.host import domain_state_name
from jvp.hypervisor.xml import parse

LOCAL_TRANSPORTS = ("unix",)
SSH_TRANSPORTS = ("ssh", "libssh", "libssh2")
STREAMABLE_CHARDEVS = ("pty", "unix")  # what libvirt's console API can stream (qemuDomainOpenConsole)
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
_DEFAULT_VNC_LISTEN = "127.0.0.1"  # libvirt's vnc_listen default when the XML names no address


@dataclass(frozen=True)
class VncEndpoint:
    kind: str                 # "tcp" | "socket" | "none"
    address: str | None = None
    port: int | None = None
    socket: str | None = None
    password: bool = False    # a VNC password is set (the client is asked for it by the VNC server)


@dataclass(frozen=True)
class SerialDevice:
    element: str              # "console" | "serial"
    type: str                 # chardev type: pty, unix, file, tcp, ...
    path: str | None

    @property
    def streamable(self) -> bool:
        return self.type in STREAMABLE_CHARDEVS


@dataclass(frozen=True)
class NodeTransport:
    kind: str                 # "local" | "ssh" | "remote"
    transport: str            # libvirt's transport name: unix, ssh, tcp, tls, ...
    host: str | None = None
    port: int | None = None
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VncRoute:
    via: str                  # "tcp" (connect directly) | "unix" (socket path here) | "ssh" (tunnel)
    host: str | None = None   # tcp: where to connect; ssh: the destination as seen from the node
    port: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class LiveConsoles:
    """What get-vm-console and the websocket need to know about a domain, from one live XML read."""
    state: str
    active: bool
    vnc: VncEndpoint | None
    serial: SerialDevice | None


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
    return LiveConsoles(state=state, active=active, vnc=vnc_endpoint(root), serial=serial_device(root))


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


def not_available(vm: str, node: str, why: str, **details: object) -> PreconditionFailed:
    return PreconditionFailed(f"no console for vm '{vm}' on node '{node}': {why}", code="ConsoleNotAvailable",
                              details={"vm": vm, "node": node, **details})


def vnc_route(ep: VncEndpoint, tr: NodeTransport, vm: str, node: str) -> VncRoute:
    if ep.kind == "none":
        raise not_available(vm, node, "its VNC display has no listener (<listen type='none'>)")
    if ep.kind == "socket":
        if tr.kind == "local":
            return VncRoute(via="unix", path=ep.socket)
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
    if wildcard:
        if not tr.host:
            raise not_available(vm, node, "the node's URI names no host to reach its VNC on")
        return VncRoute(via="tcp", host=tr.host, port=ep.port)
    if _is_loopback(address):
        raise not_available(vm, node, f"its VNC listens on the node's loopback ({address}:{ep.port}), which is "
                            f"reachable only from the node itself or through SSH; the node is reached over "
                            f"{tr.transport}, so register it with a qemu+ssh:// URI for VNC (the serial "
                            "console works over any transport)", transport=tr.transport, listen=address)
    return VncRoute(via="tcp", host=address, port=ep.port)


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
