"""Console test helpers shared by the tiers: a websocket client for /ws/*, an RFB (VNC) client that completes
the handshake and reads a framebuffer update, a tiny RFB server standing in for QEMU on the test driver, and
an SSH server (paramiko) that forwards direct-tcpip channels, standing in for a node's sshd."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websocket  # websocket-client

RFB_VERSION = b"RFB 003.008\n"


# -- websocket client --------------------------------------------------------------------------------
def ws_url(base: str, path_and_query: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path_and_query}"


def connect(base: str, path_and_query: str, *, origin: str | None = None, timeout: float = 20
            ) -> websocket.WebSocket:
    """A websocket to the server; no Origin header unless one is given (a non-browser client)."""
    kwargs: dict[str, Any] = {"timeout": timeout, "suppress_origin": origin is None}
    if origin is not None:
        kwargs["origin"] = origin
    return websocket.create_connection(ws_url(base, path_and_query), **kwargs)


@dataclass
class Refusal:
    status: int
    code: str
    message: str


def refused(base: str, path_and_query: str, *, origin: str | None = None) -> Refusal:
    """Connect expecting the server to refuse the handshake; its status and JVP error code."""
    try:
        ws = connect(base, path_and_query, origin=origin)
    except websocket.WebSocketBadStatusException as exc:
        body = json.loads(exc.resp_body or b"{}")
        return Refusal(exc.status_code, body["error"]["code"], body["error"]["message"])
    ws.close()
    raise AssertionError(f"the websocket {path_and_query} was accepted")


def read_until(ws: websocket.WebSocket, needle: bytes | tuple[bytes, ...], timeout: float,
               buf: bytearray | None = None, poke: bytes | None = None, poke_every: float = 5.0,
               since: int = 0) -> bytearray:
    """Read binary frames into `buf` until `needle` (or one of several) shows after offset `since`, sending
    `poke` every few seconds (e.g. a carriage return to make a getty print its prompt again)."""
    buf = bytearray() if buf is None else buf
    needles = needle if isinstance(needle, tuple) else (needle,)
    deadline = time.monotonic() + timeout
    next_poke = time.monotonic()
    while not any(n in buf[since:] for n in needles):
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"{needle!r} not seen within {timeout}s; last output: {bytes(buf[-400:])!r}")
        if poke is not None and now >= next_poke:
            ws.send_binary(poke)
            next_poke = now + poke_every
        ws.settimeout(max(0.1, min(1.0, deadline - now)))
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            continue
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise AssertionError(f"closed while waiting for {needle!r}: {close_of(data)}")
        buf += data
    return buf


def close_of(data: bytes) -> tuple[int, str]:
    if len(data) < 2:
        return 1005, ""
    return struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8", "replace")


def wait_close(ws: websocket.WebSocket, timeout: float) -> tuple[int, str]:
    """Read (discarding data) until the server closes; its close code and reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            continue
        except websocket.WebSocketConnectionClosedException:
            return 1006, "connection dropped without a close frame"
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return close_of(data)
    raise AssertionError(f"the server did not close the websocket within {timeout}s")


# -- RFB client --------------------------------------------------------------------------------------
class WsReader:
    """Exact-length reads over websocket binary frames (RFB messages do not follow frame boundaries)."""

    def __init__(self, ws: websocket.WebSocket, timeout: float = 30):
        self.ws, self.buf, self.timeout = ws, bytearray(), timeout

    def read(self, n: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"wanted {n} bytes, have {len(self.buf)}")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            opcode, data = self.ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise AssertionError(f"closed during RFB: {close_of(data)}")
            self.buf += data
        out, self.buf = bytes(self.buf[:n]), self.buf[n:]
        return out


@dataclass
class Framebuffer:
    width: int
    height: int
    name: str
    pixels: bytes = b""
    rects: list[tuple[int, int, int, int, int]] = field(default_factory=list)


def rfb_handshake_and_update(ws: websocket.WebSocket, timeout: float = 60) -> Framebuffer:
    """Version 3.8, security None, ClientInit (shared), 32-bit pixels, raw encoding, one full update."""
    r = WsReader(ws, timeout)
    version = r.read(12)
    assert version.startswith(b"RFB 003."), version
    ws.send_binary(RFB_VERSION)
    count = r.read(1)[0]
    assert count, f"the VNC server refused: {r.read(struct.unpack('!I', r.read(4))[0])!r}"
    types = r.read(count)
    assert 1 in types, f"security types {list(types)}: no 'None' (a VNC password is set?)"
    ws.send_binary(b"\x01")
    assert struct.unpack("!I", r.read(4))[0] == 0, "security result: failed"
    ws.send_binary(b"\x01")  # ClientInit: shared, other clients stay connected
    width, height = struct.unpack("!HH", r.read(4))
    r.read(16)  # the server's pixel format
    name = r.read(struct.unpack("!I", r.read(4))[0]).decode("utf-8", "replace")
    # SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits per channel
    ws.send_binary(struct.pack("!B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
    ws.send_binary(struct.pack("!BxHi", 2, 1, 0))  # SetEncodings: raw only
    ws.send_binary(struct.pack("!BBHHHH", 3, 0, 0, 0, width, height))  # full, non-incremental update
    fb = Framebuffer(width, height, name)
    while True:
        msg = r.read(1)[0]
        if msg == 0:
            break
        if msg == 2:  # Bell
            continue
        if msg == 3:  # ServerCutText
            r.read(3)
            r.read(struct.unpack("!I", r.read(4))[0])
            continue
        raise AssertionError(f"unexpected server message type {msg}")
    r.read(1)
    count = struct.unpack("!H", r.read(2))[0]
    pixels = bytearray()
    for _ in range(count):
        x, y, w, h, enc = struct.unpack("!HHHHi", r.read(12))
        fb.rects.append((x, y, w, h, enc))
        if enc == 0:
            pixels += r.read(w * h * 4)
    fb.pixels = bytes(pixels)
    return fb


# -- a fake VNC server (the test driver has no QEMU) -------------------------------------------------
class FakeRfbServer:
    """Accepts connections on 127.0.0.1, greets each with an RFB version, records what it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.received = bytearray()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.sendall(RFB_VERSION)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def drop_clients(self) -> None:
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        self.drop_clients()


# -- a serial login ----------------------------------------------------------------------------------
def serial_login(ws: websocket.WebSocket, user: str, password: str, timeout: float = 120) -> bytearray:
    """Wake the getty (carriage returns) until it asks for a login, log in, and wait for the shell prompt;
    returns everything the console printed."""
    deadline = time.monotonic() + timeout
    out = read_until(ws, b"login: ", timeout=timeout, poke=b"\r")
    while True:
        mark = len(out)
        ws.send_binary(user.encode() + b"\r")
        read_until(ws, b"Password: ", timeout=30, buf=out, since=mark)
        ws.send_binary(password.encode() + b"\r")
        read_until(ws, (b"$ ", b"Login incorrect"), timeout=60, buf=out, since=mark)
        if b"$ " in out[mark:]:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"login failed: {bytes(out[-600:])!r}")
        read_until(ws, b"login: ", timeout=30, buf=out, since=mark)
