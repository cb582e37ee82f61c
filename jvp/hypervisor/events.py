"""libvirt's domain events, registered once per connection and fanned out to subscribers.

libvirt calls back on its event loop thread (hypervisor/connection.py runs it) for every change of every
domain of a connection: defined/undefined, started/stopped/suspended/resumed/crashed, metadata changed, a
device added or removed, from any client (virsh, virt-manager, another JVP process). Whoever needs to follow
those changes subscribes here instead of registering libvirt callbacks of its own:

    subscribed = DOMAIN_EVENTS.subscribe(conn, lambda ev: cache.drop(ev.uuid))

- the list facts cache (hypervisor/domain_cache.py) drops an entry when its domain changes;
- metrics, the events stream and other caches of later work subscribe the same way (services get events
  through a callback the composition root gives them, never by touching libvirt).

One registration per connection and event kind, however many subscribers: libvirt then sends each event
once over the wire. A subscriber that raises is logged and does not stop the others. A connection whose
driver has no events answers False to `subscribe`, so its subscribers fall back to reading (the cache does
not cache there). Subscriptions die with their connection: a reopened connection starts with none, and its
users subscribe again when they first use it (events missed while disconnected cannot be replayed).
"""
from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Callable

import libvirt

log = logging.getLogger(__name__)

# The libvirt event kinds JVP follows, with the name a subscriber sees.
KINDS = {
    libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE: "lifecycle",
    libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE: "metadata",
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED: "device-added",
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED: "device-removed",
}
LIFECYCLE = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined", libvirt.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started", libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "suspended",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "resumed", libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: "shutdown", libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}
# Why a lifecycle event happened (libvirt's detail, per event), as a name: the events stream's `reason`.
_D = libvirt
DETAILS = {
    "defined": {_D.VIR_DOMAIN_EVENT_DEFINED_ADDED: "added", _D.VIR_DOMAIN_EVENT_DEFINED_UPDATED: "updated",
                _D.VIR_DOMAIN_EVENT_DEFINED_RENAMED: "renamed",
                _D.VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT: "from-snapshot"},
    "undefined": {_D.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED: "removed",
                  _D.VIR_DOMAIN_EVENT_UNDEFINED_RENAMED: "renamed"},
    "started": {_D.VIR_DOMAIN_EVENT_STARTED_BOOTED: "booted", _D.VIR_DOMAIN_EVENT_STARTED_MIGRATED: "migrated",
                _D.VIR_DOMAIN_EVENT_STARTED_RESTORED: "restored",
                _D.VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT: "from-snapshot",
                _D.VIR_DOMAIN_EVENT_STARTED_WAKEUP: "wakeup"},
    "suspended": {_D.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED: "paused",
                  _D.VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED: "migrated",
                  _D.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR: "io-error",
                  _D.VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG: "watchdog",
                  _D.VIR_DOMAIN_EVENT_SUSPENDED_RESTORED: "restored",
                  _D.VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT: "from-snapshot",
                  _D.VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR: "api-error"},
    "resumed": {_D.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED: "unpaused", _D.VIR_DOMAIN_EVENT_RESUMED_MIGRATED: "migrated",
                _D.VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT: "from-snapshot"},
    "stopped": {_D.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: "shutdown", _D.VIR_DOMAIN_EVENT_STOPPED_DESTROYED: "destroyed",
                _D.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "crashed", _D.VIR_DOMAIN_EVENT_STOPPED_MIGRATED: "migrated",
                _D.VIR_DOMAIN_EVENT_STOPPED_SAVED: "saved", _D.VIR_DOMAIN_EVENT_STOPPED_FAILED: "failed",
                _D.VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: "from-snapshot"},
    "crashed": {_D.VIR_DOMAIN_EVENT_CRASHED_PANICKED: "panicked"},
}


@dataclass(frozen=True)
class DomainEvent:
    uuid: str
    name: str
    kind: str                   # lifecycle | metadata | device-added | device-removed
    change: str | None = None   # lifecycle: defined, started, stopped, ...; devices: the device alias
    detail: str | None = None   # lifecycle: why (DETAILS: booted, destroyed, migrated, crashed, ...)


Subscriber = Callable[[DomainEvent], None]


class _Registration:
    def __init__(self) -> None:
        self.subscribers: list[Subscriber] = []
        self.keys: set[str] = set()
        self.enabled = False


class DomainEvents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._regs: "weakref.WeakKeyDictionary[libvirt.virConnect, _Registration]" = weakref.WeakKeyDictionary()

    def subscribe(self, conn: libvirt.virConnect, fn: Subscriber) -> bool:
        """Call fn(event) for every domain event of this connection. False when the driver has no events
        (fn is then never called)."""
        return self._add(conn, fn, None)

    def subscribe_once(self, conn: libvirt.virConnect, key: str, fn: Subscriber) -> bool:
        """subscribe(conn, fn) unless a subscriber under `key` already follows this connection: for a follower
        that checks its nodes' current connections again and again (a reopened connection has none)."""
        return self._add(conn, fn, key)

    def _add(self, conn: libvirt.virConnect, fn: Subscriber, key: str | None) -> bool:
        with self._lock:
            reg = self._regs.get(conn)
            if reg is not None and key is not None and key in reg.keys:
                return reg.enabled
            fresh = reg is None
            if fresh:
                reg = self._regs[conn] = _Registration()
            if key is not None:
                reg.keys.add(key)
            reg.subscribers.append(fn)
        if fresh:
            reg.enabled = self._register(conn, reg)
        return reg.enabled

    def _register(self, conn: libvirt.virConnect, reg: _Registration) -> bool:
        try:
            for event_id, kind in KINDS.items():
                conn.domainEventRegisterAny(None, event_id, self._callback(reg, kind), None)
        except libvirt.libvirtError as exc:
            log.info("no domain events on this connection (%s)", exc.get_error_message())
            return False
        except AttributeError:  # a connection-like object without libvirt's event API (a test's fake)
            return False
        return True

    @staticmethod
    def _callback(reg: _Registration, kind: str) -> Callable[..., None]:
        def called(_conn, dom, *args) -> None:
            change = detail = None
            if kind == "lifecycle" and args:
                change = LIFECYCLE.get(args[0], str(args[0]))
                if len(args) > 1 and isinstance(args[1], int):
                    detail = DETAILS.get(change, {}).get(args[1], str(args[1]))
            elif kind.startswith("device") and args:
                change = str(args[0])
            event = DomainEvent(uuid=dom.UUIDString(), name=dom.name(), kind=kind, change=change, detail=detail)
            for fn in list(reg.subscribers):
                try:
                    fn(event)
                except Exception:  # noqa: BLE001 - one subscriber must not starve the others
                    log.exception("domain event subscriber failed on %s", event)
        return called


DOMAIN_EVENTS = DomainEvents()
