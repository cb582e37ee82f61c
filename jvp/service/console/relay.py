"""Relay bytes between a browser's websocket and a console channel (VNC socket, SSH channel, serial stream).

Two threads per console: the request's own thread reads the websocket (with a short poll, so it also sees
the idle timeout) and writes to the console; a pump thread reads the console and writes to the websocket.
Whichever side ends first decides the close code and reason (first caller of `_finish` wins); the other is
then closed, which wakes the thread blocked on it.

Close codes the browser sees (also in the README):
  1000 the client closed it | 1011 JVP failed | 4000 the VM stopped | 4001 idle timeout |
  4002 the console closed on the VM's side (another client took the serial console, VNC server went away,
  connection to the node lost).

"Idle" means no input from the user, not no traffic: a guest that keeps printing, or a VNC client that
keeps asking for screen updates, must not keep a forgotten console open. For VNC, a websocket message made
only of FramebufferUpdateRequests (RFB client message type 3, 10 bytes each) is not input; anything else
(keys, pointer, clipboard, the handshake) is.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import KW_ONLY, dataclass
from typing import Callable, Protocol

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_INTERNAL_ERROR = 1011
CLOSE_VM_STOPPED = 4000
CLOSE_IDLE = 4001
CLOSE_CONSOLE_ENDED = 4002
POLL_S = 0.25
_MAX_REASON_BYTES = 123  # RFC 6455: the close reason fits a control frame


class ClientGone(Exception):
    """The websocket is closed (by the browser, or under us)."""


class WebSocketLike(Protocol):
    def receive(self, timeout: float) -> bytes | str | None: ...  # None: nothing within timeout
    def send(self, data: bytes) -> None: ...
    def close(self, code: int, reason: str) -> None: ...


class Channel(Protocol):
    def recv(self) -> bytes: ...   # blocks; b"" once the console ended
    def send(self, data: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass
class RelayResult:
    code: int
    reason: str
    closed_by: str          # client | vm | idle | console | error
    bytes_in: int = 0       # browser -> console
    bytes_out: int = 0      # console -> browser
    duration_s: float = 0.0


def vnc_user_input(data: bytes) -> bool:
    """False for a message of FramebufferUpdateRequests only (what a VNC client sends by itself)."""
    if not data or len(data) % 10:
        return True
    return any(data[i] != 3 for i in range(0, len(data), 10))


def serial_user_input(data: bytes) -> bool:
    return bool(data)


def close_reason(text: str) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= _MAX_REASON_BYTES:
        return text
    return raw[:_MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


@dataclass(eq=False)
class ConsoleRelay:
    """`console_ended()` is asked, once the channel reports its end, for (code, reason, closed_by): the
    session knows whether the VM stopped or only the console went away."""
    ws: WebSocketLike
    channel: Channel
    _: KW_ONLY
    name: str
    idle_timeout_s: float
    user_input: Callable[[bytes], bool]
    console_ended: Callable[[], tuple[int, str, str]]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: RelayResult | None = None
        self._bytes_in = 0
        self._bytes_out = 0

    def run(self) -> RelayResult:
        started = time.monotonic()
        pump = threading.Thread(target=self._pump, name=f"console-pump-{self.name}", daemon=True)
        pump.start()
        last_input = time.monotonic()
        try:
            while not self._done.is_set():
                try:
                    msg = self.ws.receive(timeout=POLL_S)
                except ClientGone:
                    self._finish(CLOSE_NORMAL, "closed by the client", "client")
                    break
                if msg is not None:
                    data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
                    self._bytes_in += len(data)
                    if self.user_input(data):
                        last_input = time.monotonic()
                # checked whatever arrives: a client's own screen update requests never stop coming
                if time.monotonic() - last_input >= self.idle_timeout_s:
                    self._finish(CLOSE_IDLE, f"closed after {self.idle_timeout_s:g}s without input "
                                             "(console.idle_timeout_s)", "idle")
                    break
                if msg is None:
                    continue
                try:
                    self.channel.send(data)
                except Exception as exc:  # noqa: BLE001 - any failure writing means the console is gone
                    log.info("console %s: writing to the console failed: %s", self.name, exc)
                    self._console_ended()
        except Exception:  # noqa: BLE001 - a bug must close the console, not leave it half open
            log.exception("console %s: relay failed", self.name)
            self._finish(CLOSE_INTERNAL_ERROR, "internal error in JVP's console relay (see the server log)", "error")
        finally:
            self._finish(CLOSE_NORMAL, "closed", "client")  # no-op unless something above returned early
            pump.join(timeout=10)
        result = self._result
        assert result is not None
        result.bytes_in, result.bytes_out = self._bytes_in, self._bytes_out
        result.duration_s = round(time.monotonic() - started, 3)
        return result

    def _pump(self) -> None:
        try:
            while True:
                data = self.channel.recv()
                if not data:
                    break
                try:
                    self.ws.send(data)
                except ClientGone:
                    self._finish(CLOSE_NORMAL, "closed by the client", "client")
                    return
                self._bytes_out += len(data)
            if not self._done.is_set():
                self._console_ended()
        except Exception:  # noqa: BLE001
            log.exception("console %s: pump failed", self.name)
            self._finish(CLOSE_INTERNAL_ERROR, "internal error in JVP's console relay (see the server log)", "error")

    def _console_ended(self) -> None:
        try:
            code, reason, by = self.console_ended()
        except Exception as exc:  # noqa: BLE001 - the reason is a courtesy; the end is certain
            code, reason, by = CLOSE_CONSOLE_ENDED, f"the console ended ({exc})", "console"
        self._finish(code, reason, by)

    def _finish(self, code: int, reason: str, closed_by: str) -> None:
        with self._lock:
            if self._result is not None:
                return
            self._result = RelayResult(code=code, reason=reason, closed_by=closed_by)
            self._done.set()
        if closed_by != "client":
            try:
                self.ws.close(code, close_reason(reason))
            except Exception:  # noqa: BLE001 - already closed by the client
                pass
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001
            log.debug("console %s: closing the channel failed", self.name, exc_info=True)
