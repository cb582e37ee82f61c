"""list-nodes' figures of a node (HostFacts), kept per libvirt connection so that an all-node listing does not
ask every node for them on every request (issue 15: throughput; each list-nodes made ~8 libvirt calls and a
bulk domain stats call per node, through the fan-out pool).

What is kept, per connection object (a reopened connection is a new object and starts empty; the entries die
with their connection):
- the static facts: hostname, hypervisor and its version, libvirt's version, arch, CPUs, total memory. They
  change with a reconnect (a libvirtd restart or upgrade drops the connection), or, rarely, on a live host
  (a renamed host, hot-plugged memory): read again at most STATIC_TTL_S after they were read;
- the VM counts (running, total; domain_state's mapping, as list-vms counts them): dropped by any domain event
  of the connection (defined, undefined, started, stopped, suspended, resumed, ...: hypervisor/events.py) and
  by any change JVP makes on the node (the gateway's `_write` calls `changed`, without waiting for the event);
  a generation counter keeps a count read while such a change happened from being kept. A connection whose
  driver has no domain events never keeps its counts (read on every call);
- freshness: the counts are kept at most COUNTS_TTL_S even when nothing changed. A cached answer makes no call
  to the node, so this is also how often a listing asks each node again: a node that hangs with its connection
  open is noticed by the next listing after that (bounded by node_timeout_s and marked dead, as before), or
  earlier by libvirt's keepalive closing the connection; a node whose connection closes (libvirtd stopped,
  host rebooted) is noticed at once (the connection is no longer alive: no cached answer for it).

What can be stale, for how long: the counts, for the time an event from another client takes to arrive
(milliseconds; COUNTS_TTL_S at most if one is lost); the static facts, STATIC_TTL_S at most.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import libvirt

from jvp.domain.node import HostFacts, VmCounts
from jvp.hypervisor import domain_state, host
from jvp.hypervisor.events import DOMAIN_EVENTS
from jvp.hypervisor.per_conn import PerConnection

STATIC_TTL_S = 60.0
COUNTS_TTL_S = 2.0


@dataclass
class _Entry:
    static: tuple[float, dict] | None = None       # (read at, host.static_facts)
    counts: tuple[float, VmCounts] | None = None   # (read at, counts)
    generation: int = 0                            # bumped by every change: a read that raced one is not kept
    events: bool | None = None                     # None: not subscribed yet; False: the driver has none


class HostFactsCache:
    def __init__(self, static_ttl_s: float = STATIC_TTL_S, counts_ttl_s: float = COUNTS_TTL_S) -> None:
        self.static_ttl_s = static_ttl_s
        self.counts_ttl_s = counts_ttl_s
        self._lock = threading.Lock()  # the entries' fields
        self._conns: PerConnection[_Entry] = PerConnection(_Entry)

    def _entry(self, conn: libvirt.virConnect) -> _Entry | None:
        entry = self._conns.get_or_make(conn)
        if entry is None:  # a connection object that cannot be weakly referenced: nothing kept
            return None
        if entry.events is None:
            # the subscriber holds the entry, never the connection (the registry is keyed by the connection)
            entry.events = DOMAIN_EVENTS.subscribe(conn, lambda _event: self._drop(entry))
        return entry

    def _drop(self, entry: _Entry) -> None:
        with self._lock:
            entry.counts = None
            entry.generation += 1

    def changed(self, conn: libvirt.virConnect) -> None:
        """The node's domains may have changed (JVP wrote to it): its counts are read again at the next use."""
        entry = self._conns.get(conn)
        if entry is not None:
            self._drop(entry)

    def fresh(self, conn: libvirt.virConnect) -> HostFacts | None:
        """The node's facts when both parts are kept and current: no call to the node. None otherwise."""
        entry = self._conns.get(conn)
        with self._lock:
            if entry is None or entry.static is None or entry.counts is None:
                return None
            now = time.monotonic()
            if now - entry.static[0] >= self.static_ttl_s or now - entry.counts[0] >= self.counts_ttl_s:
                return None
            static, counts = entry.static[1], entry.counts[1]
        return HostFacts(**static, vm_counts=counts)

    def read(self, conn: libvirt.virConnect) -> HostFacts:
        """The node's facts: what is kept and current, the rest read now (and kept)."""
        entry = self._entry(conn)
        if entry is None:
            return host.host_facts(conn)
        now = time.monotonic()
        with self._lock:
            static = entry.static[1] if entry.static and now - entry.static[0] < self.static_ttl_s else None
            counts = entry.counts[1] if entry.counts and now - entry.counts[0] < self.counts_ttl_s else None
            generation = entry.generation
        if counts is None:
            running, total = domain_state.counts(conn)
            counts = VmCounts(running=running, total=total)
            if entry.events:
                with self._lock:
                    if entry.generation == generation:  # no event nor change of JVP's since the read began
                        entry.counts = (now, counts)
        if static is None:
            static = host.static_facts(conn)
            with self._lock:
                entry.static = (now, static)
        return HostFacts(**static, vm_counts=counts)

    def clear(self) -> None:
        """Forget every connection's facts (as a fresh process starts): for benchmarks and tests."""
        self._conns.clear()


HOST_FACTS = HostFactsCache()
