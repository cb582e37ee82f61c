"""A local HTTP server for the template tests: serves image files with ETag, Last-Modified, Range and
If-Range, and misbehaves on request (drop the connection part-way, an endless body, a redirect loop, a
wrong checksum file, an HTML page). It listens on 127.0.0.1 only and can be stopped and started again on the
same port (a mirror that goes away mid-download and comes back).

    srv = ImageServer().start()
    srv.add_file("/img/a.qcow2", path)              # ETag from the content's sha256 (strong)
    srv.add_bytes("/SHA256SUMS", b"...")
    srv.drop_after("/img/a.qcow2", 5 * MIB, times=1)  # the next GET stops after 5 MiB
    srv.redirect("/loop/a", "/loop/b"); srv.redirect("/loop/b", "/loop/a")
    srv.endless("/endless")
    srv.url("/img/a.qcow2"); srv.requests (method, path, headers) of every request
"""
from __future__ import annotations

import email.utils
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass
class Resource:
    path: Path | None = None
    data: bytes | None = None
    content_type: str = "application/octet-stream"
    etag: str | None = None
    last_modified: float = 0.0
    drop_after: int | None = None     # bytes of body sent before the connection is cut
    drop_times: int = 0               # how many GETs are cut (then served whole)
    throttle_bps: int | None = None   # bytes per second (progress tests)
    hide_length: bool = False         # no Content-Length (read until the connection closes)
    no_ranges: bool = False           # ignore Range (like a server without range support)

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.data or b"")


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the tests read `requests` instead
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        owner.requests.append(Logged(self.command, path, dict(self.headers.items())))
        if path in owner.redirects:
            self.send_response(302)
            self.send_header("Location", owner.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path in owner.endless_paths:
            return self._endless(head)
        res = owner.resources.get(path)
        if res is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        size = res.size
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and not res.no_ranges and self._if_range_ok(res):
            try:
                first, _, last = rng.strip().removeprefix("bytes=").partition("-")
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            except ValueError:
                start, end = 0, size - 1
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        if_none = self.headers.get("If-None-Match")
        if if_none and res.etag and if_none == res.etag:
            self.send_response(304)
            self.send_header("ETag", res.etag)
            self.end_headers()
            return
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", res.content_type)
        self.send_header("Accept-Ranges", "none" if res.no_ranges else "bytes")
        if res.etag:
            self.send_header("ETag", res.etag)
        self.send_header("Last-Modified", email.utils.formatdate(res.last_modified, usegmt=True))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if res.hide_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if head:
            return
        limit = length
        if res.drop_after is not None and res.drop_times > 0:
            res.drop_times -= 1
            limit = max(0, min(length, res.drop_after - start))
        self._send_body(res, start, limit)
        if limit < length:
            self._cut()

    def _if_range_ok(self, res: Resource) -> bool:
        """If-Range: the range applies only when the validator still matches, else the whole entity."""
        cond = self.headers.get("If-Range")
        if not cond:
            return True
        if cond.startswith('"') or cond.startswith("W/"):
            return res.etag is not None and cond == res.etag and not cond.startswith("W/")
        parsed = email.utils.parsedate_to_datetime(cond)
        return parsed is not None and int(parsed.timestamp()) == int(res.last_modified)

    def _send_body(self, res: Resource, start: int, count: int) -> None:
        if res.throttle_bps:
            self._throttled(res, start, count)
        elif res.path is not None:
            with open(res.path, "rb") as fh:
                if count:
                    self.connection.sendfile(fh, start, count)
        else:
            self.wfile.write(res.data[start:start + count])
        self.wfile.flush()

    def _throttled(self, res: Resource, start: int, count: int) -> None:
        piece = max(1, res.throttle_bps // 20)
        sent = 0
        with open(res.path, "rb") if res.path is not None else _BytesFile(res.data) as fh:
            fh.seek(start)
            while sent < count:
                if self.server.owner.stopping.is_set():
                    self._cut()  # the mirror goes away mid-body
                    return
                data = fh.read(min(piece, count - sent))
                self.wfile.write(data)
                sent += len(data)
                time.sleep(0.05)

    def _cut(self) -> None:
        """Close abruptly (RST): the client sees a connection error, not a clean end."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _endless(self, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if head:
            return
        block = b"\x00" * MIB
        try:
            while not self.server.owner.stopping.is_set():
                self.wfile.write(block)
        except OSError:
            pass  # the client gave up: that is the point


class _BytesFile:
    def __init__(self, data: bytes):
        import io
        self._io = io.BytesIO(data)

    def __enter__(self):
        return self._io

    def __exit__(self, *exc: Any) -> None:
        self._io.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "ImageServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away mid-body (a cancelled or limited download) is expected here."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError, TimeoutError)):
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class ImageServer:
    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.port = port
        self.host = host  # "::1": the same server on IPv6 loopback (URLs then read http://[::1]:PORT/...)
        self.resources: dict[str, Resource] = {}
        self.redirects: dict[str, str] = {}
        self.endless_paths: set[str] = set()
        self.requests: list[Logged] = []
        self.stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> "ImageServer":
        self.stopping.clear()
        httpd = (_Server6 if ":" in self.host else _Server)((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                         name="image-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open transfer (a mirror that goes away)."""
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "ImageServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- content -----------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def add_file(self, path: str, file: Path, **opts: Any) -> Resource:
        res = Resource(path=Path(file), etag=f'"{sha256_file(Path(file))[:32]}"',
                       last_modified=float(int(os.stat(file).st_mtime)), **opts)
        self.resources[path] = res
        return res

    def add_bytes(self, path: str, data: bytes, content_type: str = "application/octet-stream",
                  **opts: Any) -> Resource:
        res = Resource(data=data, content_type=content_type, etag=f'"{hashlib.sha256(data).hexdigest()[:32]}"',
                       last_modified=float(int(time.time())), **opts)
        self.resources[path] = res
        return res

    def replace_file(self, path: str, file: Path) -> Resource:
        """A new version at the same URL: new ETag and a later Last-Modified."""
        old = self.resources.get(path)
        res = self.add_file(path, file)
        if old is not None and res.last_modified <= old.last_modified:
            res.last_modified = old.last_modified + 60
        return res

    def drop_after(self, path: str, nbytes: int, times: int = 1) -> None:
        self.resources[path].drop_after = nbytes
        self.resources[path].drop_times = times

    def redirect(self, path: str, location: str) -> None:
        self.redirects[path] = location

    def endless(self, path: str) -> None:
        self.endless_paths.add(path)

    def gets(self, path: str) -> list[Logged]:
        return [r for r in self.requests if r.method == "GET" and r.path == path]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(4 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def make_qcow2(path: Path, virtual_mib: int = 64, data_mib: int = 4, seed: int = 1) -> Path:
    """A real qcow2 (qemu-img convert of a raw image with `data_mib` of pseudo-random data at its start), so
    its bytes and checksum differ with the seed."""
    import random
    import subprocess
    raw = path.with_suffix(".raw-src")
    rnd = random.Random(seed)
    with open(raw, "wb") as fh:
        fh.truncate(virtual_mib * MIB)
        fh.write(b"\x00" * 446 + b"\x00" * 64 + b"\x55\xaa")  # an MBR boot signature, like a real disk
        for _ in range(data_mib):
            fh.write(rnd.randbytes(MIB))
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(path)], check=True)
    raw.unlink()
    return path
