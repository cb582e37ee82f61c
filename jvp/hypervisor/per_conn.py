"""One entry per libvirt connection object, dying with it: what the per-connection caches (host_cache,
listing_memo) keep. A reopened connection is a new object and starts without an entry; a connection-like
object that cannot be weakly referenced (tests' fakes) never gets one (the caller reads live instead)."""
from __future__ import annotations

import threading
import weakref
from typing import Callable, Generic, TypeVar

import libvirt

E = TypeVar("E")


class PerConnection(Generic[E]):
    def __init__(self, make: Callable[[], E]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._entries: "weakref.WeakKeyDictionary[libvirt.virConnect, E]" = weakref.WeakKeyDictionary()

    def get(self, conn: libvirt.virConnect) -> E | None:
        """The connection's entry, None when it has none (never made here)."""
        with self._lock:
            try:
                return self._entries.get(conn)
            except TypeError:
                return None

    def get_or_make(self, conn: libvirt.virConnect) -> E | None:
        """The connection's entry, made on first use; None for a connection that cannot hold one."""
        with self._lock:
            try:
                entry = self._entries.get(conn)
                if entry is None:
                    entry = self._entries[conn] = self._make()
            except TypeError:
                return None
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
