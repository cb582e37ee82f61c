"""`jvp serve`: the Flask app behind gunicorn's threaded worker, with JVP's own front on it.

Each worker process runs an event loop (gunicorn's gthread poller) and a pool of threads that run the app.
Stock gthread hands a connection to a thread as soon as its first byte arrives, and the thread then blocks
reading the rest of the head and the body: 40 clients sending half a request took every thread for ever.
JvpWorker keeps a connection in the event loop, reading without blocking, until the request's head and its
JSON body (up to max_body_bytes) are all in memory, and only then gives it to a thread. A client that is slow
or stalls costs a socket and a buffer, never a thread, and is cut after `http.header_timeout_s` (head) /
`http.body_timeout_s` (buffered body). Bodies larger than that (volume uploads) are streamed by their thread
with a read timeout; websockets (consoles) keep their thread for their life, as before. Connections per
worker are bounded (`http.max_connections`): beyond it the connection idle or slow the longest is dropped
for the new one, or the new one gets 503. Every refusal the HTTP layer makes (a bad request line or header,
a head too large, a timeout, overload) is JSON in JVP's error shape.

The app is built in each worker after the fork, so libvirt connections and the libvirt event loop thread
belong to the process that uses them."""
from __future__ import annotations

import dataclasses
import errno
import faulthandler
import html
import json
import logging
import os
import re
import selectors
import socket
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gthread import TConn, ThreadWorker

from jvp.settings import Settings

log = logging.getLogger("jvp.server")
_QUERY_TOKEN = re.compile(r"((?:^|[?&])token=)[^&\s]*")

# A request head (request line and headers) larger than this is refused with 431 before it is parsed.
MAX_HEAD_BYTES = 64 * 1024
_REASONS = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


def json_refusal(status: int, message: str, *, code: str, details: dict | None = None) -> bytes:
    """A complete HTTP/1.1 response (Connection: close) carrying a JVP error, for refusals made before (or
    outside) the app: the same shape as every other JVP error."""
    rid = uuid.uuid4().hex
    body = json.dumps({"error": {"code": code, "message": message,
                                 "details": details or {}, "request_id": rid}}).encode()
    reason = _REASONS.get(status, "Error")
    return (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-Id: {rid}\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n").encode() + body


def _body_kind(head: bytes) -> tuple[str, int]:
    """How the request whose head this is carries its body: ("length", n), ("chunked", 0), ("none", 0), or
    ("unknown", 0) when the head is ambiguous (gunicorn's parser then refuses it with 400)."""
    lengths, codings = [], []
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"content-length":
            lengths.append(value.strip())
        elif name == b"transfer-encoding":
            codings.extend(c.strip().lower() for c in value.split(b","))
    if codings:
        return ("chunked", 0) if codings[-1] == b"chunked" and not lengths else ("unknown", 0)
    if not lengths:
        return "none", 0
    if len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
        return "unknown", 0
    return "length", int(lengths[0])


def _chunked_complete(buf: bytearray, pos: int) -> tuple[bool, int]:
    """(whether the chunked body starting at buf[pos] is complete (its last chunk and trailers are in buf),
    where the next scan may resume: the start of the first chunk not wholly in buf, so a body of many tiny
    chunks is scanned once, not again on every read). A malformed body counts as complete: the parser refuses
    it as soon as a thread reads it."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return False, pos
        size_text = bytes(buf[pos:eol]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return True, pos
        if size == 0:
            return buf.startswith(b"\r\n", eol + 2) or buf.find(b"\r\n\r\n", eol) >= 0, pos
        end = eol + 2 + size + 2
        if end > len(buf):
            return False, pos
        pos = end


_EXPECT = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)


class _Conn(TConn):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.buf = bytearray()   # what the event loop read of the next request
        self.deadline = 0.0
        self.in_body = False
        self.ready = False       # the buffered request is complete: a thread may take it
        self.continued = False   # the event loop answered `Expect: 100-continue` itself
        self.chunk_pos = 0       # where the scan of a chunked body resumes
        self.io_timeout: float | None = None

    def init(self) -> None:
        """In the thread, before the parser reads: hand it what the event loop read, and bound every later
        read and write on the socket (a streamed body, a response to a client that stopped reading)."""
        super().init()
        if self.buf:
            self.parser.unreader.unread(bytes(self.buf))
            self.buf = bytearray()
        if self.io_timeout is not None:
            self.sock.settimeout(self.io_timeout)


class _CaptureSocket:
    """Takes the HTML refusal gunicorn writes, so it can be sent as JSON instead (see handle_error)."""

    def __init__(self, sock: Any):
        self._sock = sock
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data

    send = sendall

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _html_refusal_to_json(raw: bytes) -> bytes | None:
    text = raw.decode("latin-1", "replace")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", text)
    if not m:
        return None
    status = int(m.group(1))
    reason = re.search(r"<h1><p>(.*?)</p></h1>", text, re.DOTALL)
    detail = re.search(r"</h1>\s*(.*?)\s*</body>", text, re.DOTALL)
    message = html.unescape(detail.group(1)).strip() if detail else ""
    if not message:
        message = html.unescape(reason.group(1)) if reason else _REASONS.get(status, "refused")
    message = f"the HTTP server refused the request: {message}"
    if status == 414:
        return json_refusal(status, message, code="UriTooLong")
    if status == 431:
        return json_refusal(status, message, code="HeadersTooLarge")
    if status >= 500 and status != 501:
        return json_refusal(500, message, code="InternalError")
    return json_refusal(status, message, code="BadHttpRequest")


# What a stopping worker keeps of graceful_timeout for its own exit once its tasks are waited for.
STOP_MARGIN_S = 2.0


class JvpWorker(ThreadWorker):
    """gunicorn's gthread worker, reading each request ahead in its event loop (see the module's docstring).
    With TLS the bytes are encrypted until a thread wraps the socket, so the read-ahead is skipped: a thread
    reads the request, each read bounded by body_timeout_s, and a slow TLS client holds it meanwhile (README:
    The HTTP server, Limits)."""

    header_timeout = 10.0
    body_timeout = 60.0
    buffer_limit = 1024 * 1024   # bodies up to this are read ahead; larger ones are streamed by the thread

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reading: dict[_Conn, None] = {}   # connections being read ahead, oldest first

    # A worker still alive this long after SIGTERM writes every thread's stack to its log (then goes on
    # stopping): a stop that hangs says where. The arbiter kills it at graceful_timeout (30 s) anyway.
    stop_report_s = 10.0

    def handle_exit(self, sig: Any, frame: Any) -> None:
        """SIGTERM: besides gunicorn's graceful stop, end the open event streams at once (close 1001; their
        clients reconnect to another worker) instead of holding the stop for graceful_timeout.

        A signal handler runs on the main thread between two bytecodes of whatever it was doing, and a stop
        brings two SIGTERMs (`kill` of the process group, or systemd, reaches the worker and the arbiter, and
        the arbiter sends its own): the second one's handler can run inside the first's. So the handler only
        flips flags: the streams are closed by the worker's loop (method_queue), outside any handler. It used
        to close them right here, taking the event hub's lock: a second SIGTERM landing while the first held
        that lock blocked the main thread on it for good, and the worker stopped only at the arbiter's
        SIGKILL 30 s later (CI's flaky 20 s stop)."""
        first = self.alive
        super().handle_exit(sig, frame)
        if not first:
            return
        self.stop_started = time.monotonic()
        try:  # faulthandler's own thread, in C: it reports even from the interpreter's finalization
            faulthandler.dump_traceback_later(self.stop_report_s, exit=False, file=sys.stderr)
        except (OSError, ValueError, RuntimeError):  # no usable stderr: stop without the report
            pass
        self.method_queue.defer(self._close_streams)

    def _service(self, name: str) -> Any:
        """One of the app's services (jvp.app Services), None before the app is loaded."""
        services = getattr(getattr(self, "wsgi", None), "extensions", {}).get("jvp")
        return getattr(services, name, None)

    def _close_streams(self) -> None:
        """On the worker's loop, once stopping: every open event stream ends with 1001."""
        hub = self._service("events")
        if hub is not None:
            hub.close()

    def run(self) -> None:
        """gunicorn's loop and its graceful stop (the requests in flight answered, the event streams closed),
        then the process ends here (os._exit) instead of through the interpreter's exit. That exit joins every
        pool thread first (a node check or a fan-out still in a libvirt call to a slow node holds it) and runs
        the libvirt objects' finalizers while libvirt's event-loop thread is frozen; either can hold a stopping
        worker until the arbiter's SIGKILL at graceful_timeout. Tasks this process is running get what is
        left of the graceful time first; one still running then is interrupted like a killed worker's
        (failed, reason interrupted, its partial output removed, at the next start)."""
        super().run()
        started = getattr(self, "stop_started", None) or time.monotonic()
        left = started + self.cfg.graceful_timeout - STOP_MARGIN_S - time.monotonic()
        tasks = self._service("tasks")
        if tasks is not None and not tasks.wait_idle(max(0.0, left)):
            self.log.warning("stopping with tasks still running: they are interrupted")
        self.log.info("Worker exiting (pid: %s)", self.pid)
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)

    # -- accepting ----------------------------------------------------------------------------------------
    def set_accept_enabled(self, enabled: bool) -> None:
        # At the connection limit, keep accepting while some connection can make room (see accept()); a
        # stopping worker accepts nothing.
        if self.alive:
            enabled = enabled or bool(self.reading) or bool(self.keepalived_conns)
        super().set_accept_enabled(enabled)

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        if self.nr_conns >= self.worker_connections and not self._make_room():
            limit = self.worker_connections
            self._send_and_close(client_sock, json_refusal(
                503, f"the server holds its limit of {limit} connections per worker, all busy; retry shortly",
                code="ServerBusy", details={"max_connections": limit}))
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.io_timeout = self.body_timeout
        if self.cfg.is_ssl:
            client_sock.setblocking(True)
            conn.ready = True
        self.enqueue_req(conn)

    def _make_room(self) -> bool:
        """Drop the connection being read the longest, else the oldest idle kept-alive one."""
        if self.reading:
            conn = next(iter(self.reading))
            self._drop(conn, json_refusal(503, "the server is at its connection limit; this request was the "
                                               "slowest to arrive", code="ServerBusy"))
            return True
        if self.keepalived_conns:
            conn = self.keepalived_conns.popleft()
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            conn.close()
            return True
        return False

    # -- reading ahead ---------------------------------------------------------------------------------------
    def enqueue_req(self, conn: Any) -> None:
        if getattr(conn, "ready", True):
            conn.ready = not isinstance(conn, _Conn) or self.cfg.is_ssl
            super().enqueue_req(conn)
            return
        # A new connection, or a kept-alive one with a new request: read it ahead first. Bytes the last
        # request's thread already read (a pipelined request) come first.
        if conn.parser is not None:
            conn.buf += conn.parser.unreader.take_buffered()
        if conn.sock.gettimeout() != 0.0:  # a kept-alive one is non-blocking already (each call is an ioctl)
            conn.sock.setblocking(False)
        conn.deadline = time.monotonic() + self.header_timeout
        conn.in_body = conn.continued = False
        conn.chunk_pos = 0
        self.reading[conn] = None
        # What has arrived is read at once: a kept-alive connection comes here because the poller found it
        # readable (its next request is in the socket), and a whole request then goes to a thread without
        # another turn of the loop (a register, a wait that returns at once, an unregister). Only what is
        # still to come is waited for in the poller.
        if conn.buf:
            self._scan(conn)
        if conn in self.reading:
            self._on_readable(conn, None)
        if conn in self.reading:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: _Conn, _sock: Any) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.buf += data
        self._scan(conn)

    def _scan(self, conn: _Conn) -> None:
        buf = conn.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD_BYTES:
            if end > MAX_HEAD_BYTES or len(buf) > MAX_HEAD_BYTES:
                self._drop(conn, json_refusal(
                    431, f"the request's head (request line and headers) exceeds {MAX_HEAD_BYTES} bytes",
                    code="HeadersTooLarge", details={"max_bytes": MAX_HEAD_BYTES}))
            return
        start = end + 4
        head = bytes(buf[:end])
        kind, length = _body_kind(head)
        if kind == "length" and length <= self.buffer_limit:
            complete = len(buf) - start >= length
        elif kind == "chunked":
            complete, conn.chunk_pos = _chunked_complete(buf, max(start, conn.chunk_pos))
            complete = complete or len(buf) - start > self.buffer_limit + 65536
        else:
            complete = True   # no body, a streamed (large) one, or an ambiguous head the parser refuses
        if complete:
            self._dispatch(conn)
            return
        if not conn.in_body:
            conn.in_body = True
            conn.deadline = time.monotonic() + self.body_timeout
            if _EXPECT.search(head + b"\r\n"):
                try:
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                except OSError:
                    pass
                conn.continued = True

    def _dispatch(self, conn: _Conn) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass
        if conn.continued:   # already answered: gunicorn must not send a second 100 Continue
            end = conn.buf.find(b"\r\n\r\n")
            head = _EXPECT.sub(b"", bytes(conn.buf[:end]) + b"\r\n", count=1)[:-2]
            conn.buf = bytearray(head) + conn.buf[end:]
        # no setblocking(True) here: in the thread gunicorn's handle() sets it first thing and _Conn.init then
        # bounds the socket's reads and writes with io_timeout; nothing reads from it before
        conn.ready = conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn: _Conn, answer: bytes | None = None) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass
        self.nr_conns -= 1
        if answer is not None:
            self._send_and_close(conn.sock, answer)
        else:
            conn.close()

    @staticmethod
    def _send_and_close(sock: socket.socket, data: bytes) -> None:
        try:
            sock.setblocking(False)
            sock.send(data)   # best effort: a small answer fits the socket's buffer
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        gunicorn_util.close(sock)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.reading if c.deadline <= now or (not self.alive and not c.buf)]:
            if not conn.buf:
                self._drop(conn)   # never sent a byte of a request (or an idle kept-alive one)
            elif conn.in_body:
                self._drop(conn, json_refusal(
                    408, f"the request's body did not arrive within {self.body_timeout:g} s",
                    code="RequestTimeout", details={"body_timeout_s": self.body_timeout}))
            else:
                self._drop(conn, json_refusal(
                    408, f"the request's head did not arrive within {self.header_timeout:g} s",
                    code="RequestTimeout", details={"header_timeout_s": self.header_timeout}))

    # -- refusals as JSON ---------------------------------------------------------------------------------
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        capture = _CaptureSocket(client)
        super().handle_error(req, capture, addr, exc)
        answer = _html_refusal_to_json(capture.data) if capture.data else None
        if answer is None:
            return
        try:
            gunicorn_util.write_nonblock(client, answer)
        except Exception:  # noqa: BLE001 - the client may be gone
            self.log.debug("Failed to send error message.")


def make_worker(settings: Settings) -> type[JvpWorker]:
    limits = settings.http
    return type("JvpWorker", (JvpWorker,), {
        "header_timeout": float(limits["header_timeout_s"]), "body_timeout": float(limits["body_timeout_s"]),
        "buffer_limit": int(settings.max_body_bytes)})


class AccessLogger(GunicornLogger):
    """gunicorn's logger, with console tokens (`/ws/...?token=`) masked in access log lines: a refused
    websocket is logged like any request, and its token may still be valid."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q", "U"):
            if isinstance(atoms.get(key), str) and "token=" in atoms[key]:
                atoms[key] = _QUERY_TOKEN.sub(r"\1***", atoms[key])
        return atoms


class JvpApplication(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings  # settings.workers is the number of processes that really serve
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        self.cfg.set("bind", [s.listen])
        self.cfg.set("workers", s.workers)
        self.cfg.set("worker_class", make_worker(s))
        self.cfg.set("worker_connections", s.http["max_connections"])
        # Each open console and each open event stream holds a thread for its whole life: they get threads of
        # their own on top of the API's, and the console service and the event hub refuse more than
        # console.max_sessions / events.max_streams per worker.
        self.cfg.set("threads", s.threads + s.console["max_sessions"] + s.events["max_streams"])
        # Long uploads and websockets run in worker threads; the worker's heartbeat is not blocked by them.
        self.cfg.set("timeout", 120)
        self.cfg.set("graceful_timeout", 30)
        self.cfg.set("keepalive", 5)
        self.cfg.set("loglevel", s.log_level)
        self.cfg.set("accesslog", "-")
        self.cfg.set("logger_class", AccessLogger)
        self.cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s')
        self.cfg.set("proc_name", "jvp")
        self.cfg.set("control_socket_disable", True)
        if s.tls_cert:
            self.cfg.set("certfile", s.tls_cert)
            self.cfg.set("keyfile", s.tls_key)

    def load(self):
        from jvp.app import create_app
        app = create_app(self.settings, processes=self.settings.workers, collect=True)
        if self.settings.demo:  # the test driver's state lives in this worker: seed it here (jvp/demo/estate.py)
            from jvp.demo.estate import seed
            try:
                seed(app)
            except Exception:  # noqa: BLE001 - a demo with part of its estate beats no demo; the log says what
                log.exception("the demo's estate could not be seeded completely; serving what exists")
        return app


def prepare(settings: Settings) -> Path | None:
    """What runs once in the master before workers start: the data dir and the first admin token. Task
    recovery is not done here: every worker runs it when it builds the app (create_app ->
    TaskService.recover), and a task whose worker dies later is interrupted when a worker next reads it."""
    from jvp.service.auth import TokenService
    from jvp.store import YamlMetadataStore, private_data_dir
    if private_data_dir(settings.data_dir):
        log.warning("data dir %s was readable by others: now 0700 (`jvp doctor --fix` tightens its files)",
                    settings.data_dir)
    store = YamlMetadataStore(settings.data_dir, settings.schema_dir)
    created = TokenService(store, settings.data_dir).ensure_initial_admin()
    token_file = Path(settings.data_dir) / "auth" / "admin-token"
    if created:
        log.warning("first start: admin token written to %s", created)
    elif token_file.exists():
        log.info("admin token file: %s", token_file)
    return created


def test_driver_uris(settings: Settings) -> list[str]:
    """The test:/// URIs this server would serve: the local node's and those of the stored nodes."""
    from jvp.store import YamlMetadataStore
    uris = [settings.local_uri] if settings.local_uri.startswith("test:") else []
    store = YamlMetadataStore(settings.data_dir, settings.schema_dir)
    for _key, doc in store.list("node").items:
        uri = str(doc.get("uri") or "")
        if uri.startswith("test:"):
            uris.append(uri)
    return uris


def single_process_when_test_driver(settings: Settings) -> Settings:
    """libvirt's test driver keeps a test:/// node's state in the process that opened it: with several
    gunicorn workers each would hold its own copy, and a change made through one worker would be missing
    from half the answers. So a server with any test:/// node (the demo's local node, a configured
    `local_uri: test:///...`, or a stored node) runs one worker process (its threads still serve requests
    concurrently), and create-node/modify-node refuse a test:/// URI on a server that runs more than one
    (service/node.py). README: "The test driver"."""
    uris = test_driver_uris(settings) if settings.workers > 1 else []
    if not uris:
        return settings
    log.warning("test driver node(s) %s keep their state in the serving process: running 1 worker process "
                "instead of %d", ", ".join(uris), settings.workers)
    return dataclasses.replace(settings, workers=1)


def run(settings: Settings) -> None:
    # Everything the server writes is private, also files made by helpers it runs (qemu-img in the data dir):
    # the data dir is 0700 and its files 0600 (the store, the audit log and the locks set their modes anyway).
    os.umask(0o077)
    prepare(settings)
    settings = single_process_when_test_driver(settings)
    if settings.demo:
        token = (Path(settings.data_dir) / "auth" / "admin-token").read_text().strip()
        print(f"JVP demo on http://{settings.listen}/ (libvirt test driver, data in {settings.data_dir})\n"
              f"admin token: {token}", flush=True)
    scheme = "https" if settings.tls_cert else "http"
    log.info("JVP serving API and UI on %s://%s (local node %s, data dir %s)", scheme, settings.listen,
             settings.local_uri, settings.data_dir)
    JvpApplication(settings).run()
