"""A domain's serial console as a byte channel: a NON-BLOCKING libvirt console stream driven by the libvirt
event loop that jvp/hypervisor/connection.py runs in every process (the way `virsh console` does it).

Why not a blocking recv() in a thread: a blocking stream cannot be woken from another thread, so closing a
console whose guest is silent would wait for its next byte; with events, closing is immediate.

The event callback runs in the one event-loop thread shared by every connection's keepalive, so it never
blocks: it drains what libvirt has (recv until EAGAIN) into a queue that the relay thread empties. When the
queue holds more than HIGH_WATER bytes (a browser that reads slower than the guest writes) readable events
are switched off until the relay has caught up, so memory stays bounded and the guest's pty simply fills.
The console works over any libvirt transport (qemu+tcp, qemu+ssh...): it is carried by the connection itself.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

import libvirt

log = logging.getLogger(__name__)

HIGH_WATER = 1 << 20     # stop reading from libvirt above this many queued bytes ...
LOW_WATER = 256 << 10    # ... and read again below this
SEND_TIMEOUT_S = 5.0     # a console that takes no input for this long is broken
_EOF = object()
_EVENTS = (libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR
           | libvirt.VIR_STREAM_EVENT_HANGUP)
_NO_READ = libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP


class SerialStream:
    """recv() blocks until output arrives and returns b'' once the console ended (guest gone, another
    client took the console, connection lost); `ended_because` then says why, as libvirt put it."""

    def __init__(self, conn: libvirt.virConnect, name: str):
        self.name = name
        self._stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        self._queue: "queue.Queue[object]" = queue.Queue()
        self._queued = 0
        self._reading = True
        self._lock = threading.Lock()
        self._closed = False
        self._eof = False
        self._watching = False
        self.ended_because: str | None = None
        try:
            # FORCE: a console left open elsewhere (a crashed browser tab, `virsh console`) is taken over,
            # like virt-manager does; the other client sees its console end.
            conn.lookupByName(name).openConsole(None, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            self._stream.eventAddCallback(_EVENTS, self._on_event, None)
            self._watching = True
        except libvirt.libvirtError:
            self._abort()
            raise

    # -- the event-loop side (never blocks) ----------------------------------------------------------
    def _on_event(self, stream: libvirt.virStream, events: int, _opaque: object) -> None:
        with self._lock:
            if self._closed or self._eof:
                return
            try:
                if events & libvirt.VIR_STREAM_EVENT_READABLE:
                    self._drain(stream)
                if not self._eof and events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
                    self._end("the console stream was hung up" if events & libvirt.VIR_STREAM_EVENT_HANGUP
                              else "the console stream reported an error")
            except libvirt.libvirtError as exc:
                self._end(exc.get_error_message() or "console stream error")

    def _drain(self, stream: libvirt.virStream) -> None:
        while True:
            data = stream.recv(65536)
            if data == -2:  # EAGAIN: nothing more for now
                return
            if not data:
                self._end("end of the console stream")
                return
            self._queue.put(data)
            self._queued += len(data)
            if self._queued > HIGH_WATER and self._reading:
                stream.eventUpdateCallback(_NO_READ)
                self._reading = False
                return

    def _end(self, why: str) -> None:
        """Called with the lock held."""
        self._eof = True
        self.ended_because = self.ended_because or why
        self._unwatch()
        self._queue.put(_EOF)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            try:
                self._stream.eventRemoveCallback()
            except libvirt.libvirtError:
                pass

    # -- the relay side --------------------------------------------------------------------------------
    def recv(self) -> bytes:
        item = self._queue.get()
        if item is _EOF:
            self._queue.put(_EOF)  # every later recv() sees the end too
            return b""
        data: bytes = item  # type: ignore[assignment]
        with self._lock:
            self._queued -= len(data)
            if not self._reading and self._queued < LOW_WATER and not (self._closed or self._eof):
                try:
                    self._stream.eventUpdateCallback(_EVENTS)
                    self._reading = True
                except libvirt.libvirtError as exc:
                    self._end(exc.get_error_message() or "console stream error")
        return data

    def send(self, data: bytes) -> None:
        """Input for the guest (keystrokes, pastes). A non-blocking stream may take part of it or nothing
        (EAGAIN) when the pty is full: retry briefly, then give up (a console that takes no input is dead)."""
        deadline = time.monotonic() + SEND_TIMEOUT_S
        view = memoryview(data)
        while view:
            with self._lock:
                if self._closed or self._eof:
                    raise ConnectionError(self.ended_because or "the console is closed")
                sent = self._stream.send(bytes(view))
            if sent == -2:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the serial console of vm '{self.name}' took no input for "
                                       f"{SEND_TIMEOUT_S:g}s")
                time.sleep(0.01)
                continue
            view = view[sent:]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._unwatch()
            ended = self._eof
            self._abort(finish=ended)
            self._queue.put(_EOF)  # wakes a recv() waiting in the relay thread

    def _abort(self, finish: bool = False) -> None:
        try:
            # finish() after the far end closed cleanly; abort() when we are the ones leaving
            self._stream.finish() if finish else self._stream.abort()
        except libvirt.libvirtError:
            pass  # already torn down by the far end (guest gone, connection lost)
