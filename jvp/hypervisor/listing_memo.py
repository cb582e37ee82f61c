"""What list-vms and describe-vm ask a node besides the domains themselves (issue 15: a warm listing's cost per
node, describe-vm's calls), kept per libvirt connection: which domains are transient (listAllDomains with the
TRANSIENT flag) and which networks exist (the names a NIC may dangle from: listAllNetworks). Without it a warm
listing made three calls per node, of which the bulk domain stats call is the only one whose answer changes on
its own (state, memory), and describe-vm asked for the VM's persistence and looked up each network its NICs
name; these answers change only when a domain or a network is defined, undefined, created or destroyed.

Kept, per connection object (a reopened connection is a new object and starts empty):
- the transient domains' UUIDs, until any domain event of the connection (hypervisor/events.py: a defined,
  undefined, started or stopped domain; a transient domain made persistent is `defined`, a running one
  undefined is `undefined`);
- the network names, until any network lifecycle event of the connection (defined, undefined, started,
  stopped; registered here, once per connection); with them, on the test driver, which networks have no IP
  block (its crash guard, vm_net.test_driver_would_crash);
- the pool of each volume describe-vm found by path (storagePoolLookupByVolume: a round trip per disk), until
  any storage pool event of the connection (lifecycle or refresh; registered by the first volume asked for);
- all of these, until JVP itself changes something on the node (the gateway's `_write` calls `changed`,
  without waiting for the event), and at most MAX_AGE_S (as domain_cache's entries: events lost in a
  reconnect).

A generation counter per part keeps an answer read while an event came from being kept. A connection whose
driver has no events of a kind never keeps that part (read on every listing).

What can be stale, for how long: a change by another client shows when its event arrives (milliseconds), at
most MAX_AGE_S were that event lost. Until then a listing or describe-vm shows a domain another client just made
transient (or persistent) as it was, or a NIC on a network another client just deleted without its
NetworkNotFound problem. A volume's pool changes only when pools do (each such change is an event), except
where two pools' targets overlap and another client deletes the volume in one and makes it again in the other
(no event): the disk then names the first pool until MAX_AGE_S.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import libvirt

from jvp.hypervisor import support
from jvp.hypervisor.events import DOMAIN_EVENTS
from jvp.hypervisor.per_conn import PerConnection
from jvp.hypervisor.vm_net import ipless

log = logging.getLogger(__name__)

MAX_AGE_S = 60.0


@dataclass
class _Part:
    value: Any = None
    at: float | None = None        # when `value` was read; None: nothing kept
    generation: int = 0            # bumped by every event or change: a read that raced one is not kept
    events: bool | None = None     # None: not subscribed yet; False: the driver has none of this kind


@dataclass
class _Entry:
    transient: _Part = field(default_factory=_Part)
    networks: _Part = field(default_factory=_Part)
    ipless: _Part = field(default_factory=_Part)      # the test driver's networks without an IP block
    pools: _Part = field(default_factory=_Part)       # volume path -> pool name, filled as volumes are asked


# at most this many volume paths kept per connection (then the part starts over)
MAX_VOLUME_POOLS = 4096


def transient_uuids(conn: libvirt.virConnect) -> set[str]:
    """The UUIDs of the node's transient domains (one call)."""
    return {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}


def network_names(conn: libvirt.virConnect) -> set[str] | None:
    """Names of the node's libvirt networks (active or not): a NIC naming another is a dangling reference.
    None when the driver has no network API (nothing can then be said about a NIC's network)."""
    try:
        return {n.name() for n in conn.listAllNetworks(0)}
    except libvirt.libvirtError as exc:
        if support.lacks("network_list", exc):
            return None
        raise


def ipless_networks(conn: libvirt.virConnect) -> set[str]:
    """Names of the networks that have no IP block (the test driver's crash guard, vm_net.ipless): one
    listing and one XMLDesc per network."""
    try:
        nets = conn.listAllNetworks(0)
    except libvirt.libvirtError as exc:
        if support.lacks("network_list", exc):
            return set()
        raise
    out = set()
    for net in nets:
        try:
            if ipless(net.XMLDesc(0)):
                out.add(net.name())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:  # undefined meanwhile: not a network
                raise
    return out


class ListingMemo:
    def __init__(self, max_age_s: float = MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()  # the parts' fields
        self._conns: PerConnection[_Entry] = PerConnection(_Entry)

    def transient(self, conn: libvirt.virConnect) -> set[str]:
        """The UUIDs of the transient domains (a copy: the caller may change it)."""
        return set(self._get(conn, "transient", transient_uuids))

    def is_transient(self, conn: libvirt.virConnect, uuid: str) -> bool:
        """Whether the domain of this UUID is transient (describe-vm's `persistent`, without a call of its own
        while the answer is kept)."""
        return uuid in self._get(conn, "transient", transient_uuids)

    def networks(self, conn: libvirt.virConnect) -> set[str] | None:
        """The names of the node's networks, None when its driver has no network API (a copy)."""
        names = self._get(conn, "networks", network_names)
        return None if names is None else set(names)

    def ipless_networks(self, conn: libvirt.virConnect) -> set[str]:
        """The names of the networks without an IP block (a copy): what the test driver's crash guard asks
        (vm_net.test_driver_would_crash), kept with the network names until a network event."""
        return set(self._get(conn, "ipless", ipless_networks))

    def pool_of_volume(self, conn: libvirt.virConnect, path: str, vol: libvirt.virStorageVol) -> str:
        """The name of the pool that holds `vol`, the volume at `path` (its own target path, as its XML says):
        asked of libvirt (storagePoolLookupByVolume, a round trip to the node) once, then kept until a pool
        event (defined, undefined, started, stopped, refreshed). Which pool answers for a path changes only
        with those: a path is a pool's volume while the pool is active and its target holds it."""
        entry = self._entry(conn, pools=True)
        if entry is None:
            return vol.storagePoolLookupByVolume().name()
        part = entry.pools
        now = time.monotonic()
        with self._lock:
            if part.at is not None and now - part.at < self.max_age_s:
                hit = part.value.get(path)
                if hit is not None:
                    return hit
            generation = part.generation
        name = vol.storagePoolLookupByVolume().name()
        if part.events:
            with self._lock:
                if part.generation == generation:  # no event nor change of JVP's since the lookup began
                    if part.at is None or now - part.at >= self.max_age_s or len(part.value) >= MAX_VOLUME_POOLS:
                        part.value, part.at = {}, now
                    part.value[path] = name
        return name

    def changed(self, conn: libvirt.virConnect) -> None:
        """JVP changed something on the node: every part is read again at its next use."""
        entry = self._conns.get(conn)
        if entry is not None:
            for part in (entry.transient, entry.networks, entry.ipless, entry.pools):
                self._drop(part)

    def clear(self) -> None:
        """Forget every connection's answers (as a fresh process starts): for benchmarks and tests."""
        self._conns.clear()

    # -- inside ------------------------------------------------------------------------------------------
    def _drop(self, part: _Part) -> None:
        with self._lock:
            part.at = None
            part.value = None
            part.generation += 1

    def _entry(self, conn: libvirt.virConnect, pools: bool = False) -> _Entry | None:
        entry = self._conns.get_or_make(conn)
        if entry is None:  # a connection object that cannot be weakly referenced: nothing kept
            return None
        # the subscribers hold the part, never the connection (the registrations are the connection's)
        if entry.transient.events is None:
            part = entry.transient
            part.events = DOMAIN_EVENTS.subscribe(conn, lambda _event: self._drop(part))
        if entry.networks.events is None:
            entry.networks.events = entry.ipless.events = self._watch_networks(conn, entry.networks, entry.ipless)
        if pools and entry.pools.events is None:  # registered by the first volume asked for, not by listings
            entry.pools.events = self._watch_pools(conn, entry.pools)
        return entry

    def _watch_networks(self, conn: libvirt.virConnect, *parts: _Part) -> bool:
        def called(_conn: Any, _net: Any, _event: int, _detail: int, _opaque: Any) -> None:
            for part in parts:
                self._drop(part)
        try:
            conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, called, None)
        except libvirt.libvirtError as exc:
            log.info("no network events on this connection (%s): list-vms reads its networks every time",
                     exc.get_error_message())
            return False
        except AttributeError:  # a connection-like object without libvirt's event API (a test's fake)
            return False
        return True

    def _watch_pools(self, conn: libvirt.virConnect, part: _Part) -> bool:
        def lifecycle(_conn: Any, _pool: Any, _event: int, _detail: int, _opaque: Any) -> None:
            self._drop(part)

        def refreshed(_conn: Any, _pool: Any, _opaque: Any) -> None:
            self._drop(part)
        try:
            conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, lifecycle, None)
            conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH, refreshed, None)
        except libvirt.libvirtError as exc:
            log.info("no storage pool events on this connection (%s): describe-vm asks each disk's pool every "
                     "time", exc.get_error_message())
            return False
        except AttributeError:  # a connection-like object without libvirt's event API (a test's fake)
            return False
        return True

    def _get(self, conn: libvirt.virConnect, name: str, read: Callable[[libvirt.virConnect], Any]) -> Any:
        entry = self._entry(conn)
        if entry is None:
            return read(conn)
        part: _Part = getattr(entry, name)
        now = time.monotonic()
        with self._lock:
            if part.at is not None and now - part.at < self.max_age_s:
                return part.value
            generation = part.generation
        value = read(conn)
        if part.events:
            with self._lock:
                if part.generation == generation:  # no event nor change of JVP's since the read began
                    part.value, part.at = value, now
        return value


LISTING = ListingMemo()
