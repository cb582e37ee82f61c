"""JVP's gunicorn worker: gthread with a read-ahead in its event loop.

Each worker process runs an event loop (gunicorn's gthread poller) and a pool of threads that run the app.
Stock gthread hands a connection to a thread as soon as its first byte arrives, and the thread then blocks
reading the rest of the head and the body: 40 clients sending half a request took every thread for ever.
JvpWorker keeps a connection in the event loop, reading without blocking, until the request's head and its
JSON body (up to max_body_bytes) are all in memory, and only then gives it to a thread. A client that is slow
or stalls costs a socket and a buffer, never a thread, and is cut after `http.header_timeout_s` (head) /
`http.body_timeout_s` (buffered body). Bodies larger than that (volume uploads) are streamed by their thread
with a read timeout; websockets (consoles) keep their thread for their life, as before. Connections per
worker are bounded (`http.max_connections`): beyond it the connection idle or slow the longest is dropped
for the new one, or the new one gets 503. Every refusal the HTTP layer makes is JSON in JVP's error shape
(jvp/server/wire.py)."""
from __future__ import annotations

import errno
import faulthandler
import logging
import os
import selectors
import socket
import sys
import time
from functools import partial
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import TConn, ThreadWorker

from jvp.server.wire import (_EXPECT, MAX_HEAD_BYTES, _body_kind, _CaptureSocket, _chunked_complete,
                             _html_refusal_to_json, json_refusal)
from jvp.settings import Settings


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
