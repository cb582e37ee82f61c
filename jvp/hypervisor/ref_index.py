"""Which domains use which images, networks and bridges: an index per connection, kept current by libvirt's
domain events, so "who uses this" costs what the objects asked about cost, not one XML read per domain.

An entry per domain (`DomainRefs`) holds what the usage answers read from its XML: every image it opens
(disks, cdroms, boot files, the backing chains libvirt shows; live and next-boot definitions, as
`volume.scan_domains` always read them), the networks and bridges its NICs name, its MACs, and JVP's
template facts. It is built from one read of the domain's definitions (hypervisor/domain_refs.py: the live
XML, plus the next-boot XML of a running persistent domain) and kept until the domain changes. That read also feeds the
list-facts cache (hypervisor/domain_cache.py, through `share`), so one read of a changed domain serves both.

What keeps it current (hypervisor/events.py, the same fan-out as the list-facts cache):
- every domain event (defined, undefined, started, stopped, ..., metadata changed, device added or removed)
  marks its domain dirty; the next read re-reads that domain only (a lookup by UUID and its XML), or drops it
  when it is gone. A generation counter keeps a read that raced with an event from being taken as current;
- JVP's own changes mark their domain at once (`domain_cache.changes` -> `forget`), without waiting for the
  asynchronous event;
- a safety net under the events, at most once per `COUNT_CHECK_S` (1 s) per connection: the number of
  running and of defined domains (numOfDomains, numOfDefinedDomains). When either differs from the index,
  and at least every `RELIST_S`, the domains are listed again (listAllDomains: running, stopped, transient;
  no XML, and no call per domain for its state): new domains are read, vanished ones dropped, and a domain
  whose running state differs from its entry is re-read. The check is not made on every read because the
  counts are not O(1): libvirt counts by walking its domain list (the test driver in this process, libvirtd
  in the daemon), so a read that made them every time grew with the number of domains (describe-network at
  2,000 domains: 1.4x its cost at 100). What that leaves: a domain defined, undefined, started or stopped
  by another client shows when its lifecycle event arrives (libvirt sends one for each of these to every
  connection; milliseconds, on the event loop's thread), and were that event lost, at the first read after
  `COUNT_CHECK_S`. Between the change and its event (or, with the event lost, for up to `COUNT_CHECK_S`) a
  read can answer without it. JVP's own changes never wait: they mark their domain at once (below). The
  reads that guard a change (`exact()`: delete-vm's and delete-volume's "does anything else use this disk",
  delete-network's users, a new MAC's uniqueness, attach's "is this disk free") make the counts check every
  time: a domain another client defined, undefined, started or stopped just before counts even while its
  event is still on its way (a disk kept by another tool's domain must never be deleted for a late event);
- a reopened connection is a new connection: its index starts empty and is rebuilt in bulk on first use
  (events missed while disconnected cannot matter). A driver without events is not indexed: every read
  scans every domain, as before the index.

What a missed event costs: an edit that changes neither the number nor the running state of domains (a
device hot-plugged by another client whose event was lost) is not seen until the connection is reopened;
libvirt delivers events of a live connection, so in practice that is a dropped connection, which reopens.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Iterator, Protocol

import libvirt
from lxml import etree

from jvp.domain.volume import normal_path
from jvp.hypervisor.domain_refs import DomainRefs, canonicalizer, read_kept, scan
from jvp.hypervisor.events import DOMAIN_EVENTS

log = logging.getLogger(__name__)

# The domains are listed again (no XML) at least this often, as a safety net under the counts check.
RELIST_S = 60.0
# The counts check (numOfDomains + numOfDefinedDomains, O(domains) in libvirt) at most this often per
# connection: the events are what keeps the index current; the check only bounds how long a lost define,
# undefine, start or stop event can go unnoticed (see the module's docstring).
COUNT_CHECK_S = 1.0
# Set by `exact()`: the reads of this context make the counts check whatever its age.
_EXACT: contextvars.ContextVar[bool] = contextvars.ContextVar("jvp_ref_index_exact", default=False)


@contextlib.contextmanager
def exact() -> Iterator[None]:
    """Within this block (this thread's context), every read of an index makes the counts check (and lists
    the domains again when they differ), not at most once per COUNT_CHECK_S: for the reads that guard a
    change (see the module's docstring). Costs two counting calls per read (no XML)."""
    token = _EXACT.set(True)
    try:
        yield
    finally:
        _EXACT.reset(token)


class Sharer(Protocol):
    """Another per-domain cache fed by the index's reads (domain_cache's list facts): one XML read of a
    changed domain serves both. `token` is taken before the read, `offer` given the live XML after it, so the
    cache can refuse a read that raced with an event of its own."""

    def token(self, conn: Any, uuid: str) -> Any: ...

    def offer(self, conn: Any, uuid: str, token: Any, live: etree._Element) -> None: ...


class _ConnIndex:
    def __init__(self, canon: Callable[[str], str] = normal_path) -> None:
        self.canon = canon
        self.entries: dict[str, DomainRefs] = {}
        self.running = 0                         # entries with r.running (the counts check costs O(1))
        self.position: dict[str, int] = {}       # listing order (answers keep libvirt's order)
        self.next_position = 0
        self.dirty: set[str] = set()
        self.generation: dict[str, int] = {}
        self.by_network: dict[str, set[str]] = {}
        self.by_bridge: dict[str, set[str]] = {}
        self.by_path: dict[str, set[str]] = {}
        self.by_volume: dict[tuple[str, str], set[str]] = {}
        self.enabled = False
        self.built = False
        self.listed_at = 0.0
        self.counted_at = 0.0                    # the last counts check (or relist): COUNT_CHECK_S
        self.refresh = threading.Lock()          # one refresh at a time per connection

    # the reverse maps follow the entries
    def _maps(self, r: DomainRefs) -> list[tuple[dict, Iterable]]:
        return [(self.by_network, r.networks), (self.by_bridge, r.bridges), (self.by_path, self.keys(r.paths())),
                (self.by_volume, {(d.pool, d.volume) for d in r.disks if d.pool and d.volume})]

    def keys(self, paths: Iterable[str]) -> set[str]:
        """The keys of paths: folded, and as the node resolves them (References matches either)."""
        return {k for p in paths for k in (normal_path(p), self.canon(p))}

    def ordered(self, keys: Iterable[str]) -> list[DomainRefs]:
        return [self.entries[k] for k in sorted(keys, key=lambda k: self.position.get(k, 0))]

    def put(self, r: DomainRefs) -> None:
        pos = self.position.get(r.key)
        self.remove(r.key)
        self.entries[r.key] = r
        self.running += bool(r.running)
        if pos is None:
            pos, self.next_position = self.next_position, self.next_position + 1
        self.position[r.key] = pos
        for index, keys in self._maps(r):
            for k in keys:
                index.setdefault(k, set()).add(r.key)

    def remove(self, key: str) -> None:
        old = self.entries.pop(key, None)
        self.position.pop(key, None)
        if old is None:
            return
        self.running -= bool(old.running)
        for index, keys in self._maps(old):
            for k in keys:
                held = index.get(k)
                if held is not None:
                    held.discard(key)
                    if not held:
                        del index[k]


class ReferenceIndex:
    def __init__(self) -> None:
        self.sharers: list[Sharer] = []
        self._lock = threading.Lock()
        self._conns: "weakref.WeakKeyDictionary[Any, _ConnIndex]" = weakref.WeakKeyDictionary()

    def _for(self, conn: libvirt.virConnect) -> _ConnIndex:
        with self._lock:
            ci = self._conns.get(conn)
            if ci is not None:
                return ci
            ci = self._conns[conn] = _ConnIndex()
        ci.canon = canonicalizer(conn)
        ci.enabled = DOMAIN_EVENTS.subscribe(conn, lambda event: self._mark(ci, event.uuid))
        if not ci.enabled:
            log.info("no domain events on this connection: usage reads scan every domain")
        return ci

    def _mark(self, ci: _ConnIndex, uuid: str) -> None:
        with self._lock:
            ci.dirty.add(uuid)
            ci.generation[uuid] = ci.generation.get(uuid, 0) + 1

    def forget(self, conn: libvirt.virConnect, uuid: str) -> None:
        """JVP changed this domain: re-read it at the next read, without waiting for the event."""
        with self._lock:
            ci = self._conns.get(conn)
        if ci is not None:
            self._mark(ci, uuid)

    def reset(self, conn: Any = None) -> None:
        """Forget the entries of `conn` (of every connection when None), as a reopened connection would: the
        next read rebuilds them in bulk. For benchmarks and diagnostics."""
        with self._lock:
            for ci in ([self._conns[conn]] if conn in self._conns else []) if conn is not None else \
                    list(self._conns.values()):
                ci.entries.clear()
                ci.running = 0
                ci.position.clear()
                for index in (ci.by_network, ci.by_bridge, ci.by_path, ci.by_volume):
                    index.clear()
                ci.built = False

    # -- reads ---------------------------------------------------------------------------------------
    def domains(self, conn: libvirt.virConnect) -> list[DomainRefs]:
        """Every domain's entry, current."""
        ci = self._current(conn)
        if ci is None:
            return scan(conn)
        with self._lock:
            return ci.ordered(ci.entries)

    def using_networks(self, conn: libvirt.virConnect, networks: Iterable[str], bridges: Iterable[str]
                       ) -> list[DomainRefs]:
        """The domains with a NIC on one of `networks` or plugged into one of `bridges`, in index order."""
        networks, bridges = set(networks), set(bridges)
        ci = self._current(conn)
        if ci is None:
            return [r for r in scan(conn) if r.networks & networks or r.bridges & bridges]
        with self._lock:
            keys = set().union(*(ci.by_network.get(n, ()) for n in networks),
                               *(ci.by_bridge.get(b, ()) for b in bridges))
            return ci.ordered(keys)

    def using_images(self, conn: libvirt.virConnect, paths: Iterable[str], volumes: Iterable[tuple[str, str]]
                     ) -> list[DomainRefs]:
        """The domains that name one of `paths` (folded or resolved as the node resolves them; disks, boot
        files, chains the XML shows) or have a `type='volume'` disk on one of `volumes` (pool, name)."""
        paths, refs = [p for p in paths if p], set(volumes)
        ci = self._current(conn)
        if ci is None:
            probe = _ConnIndex(canonicalizer(conn))
            wanted = probe.keys(paths)
            return [r for r in scan(conn) if probe.keys(r.paths()) & wanted
                    or refs & {(d.pool, d.volume) for d in r.disks}]
        wanted = ci.keys(paths)
        with self._lock:
            keys = set().union(*(ci.by_path.get(p, ()) for p in wanted), *(ci.by_volume.get(v, ()) for v in refs))
            return ci.ordered(keys)

    # -- keeping it current --------------------------------------------------------------------------
    def _current(self, conn: libvirt.virConnect) -> _ConnIndex | None:
        """The connection's index brought up to date, or None for a connection without events."""
        ci = self._for(conn)
        if not ci.enabled:
            return None
        with ci.refresh:
            now = time.monotonic()
            if ci.built and now - ci.listed_at <= RELIST_S:
                self._reread_dirty(conn, ci)  # first: a dirty domain found gone changes what the counts say
                if now - ci.counted_at < COUNT_CHECK_S and not _EXACT.get():
                    return ci  # counted less than COUNT_CHECK_S ago: the events cover the meantime
                if not self._counts_differ(conn, ci):
                    return ci
            self._relist(conn, ci)
        return ci

    def _counts_differ(self, conn: libvirt.virConnect, ci: _ConnIndex) -> bool:
        ci.counted_at = time.monotonic()  # taken before the calls: a change during them is seen next time
        running, defined = conn.numOfDomains(), conn.numOfDefinedDomains()
        with self._lock:
            up, total = ci.running, len(ci.entries)
        return up != running or total - up != defined

    def _relist(self, conn: libvirt.virConnect, ci: _ConnIndex) -> None:
        """List every domain (no XML): read the new ones, the dirty ones and those whose running state
        changed; drop the ones gone. The bulk (re)build when the index is empty."""
        listed_at = time.monotonic()
        doms = {d.UUIDString(): d for d in conn.listAllDomains(0)}  # libvirt's order, which answers keep
        running = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
        transient = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}
        with self._lock:
            for key in [k for k in ci.entries if k not in doms]:
                ci.remove(key)
            stale = [(u, d) for u, d in doms.items()
                     if u in ci.dirty or u not in ci.entries or ci.entries[u].running != (u in running)]
            gens = {u: ci.generation.get(u, 0) for u, _ in stale}
            order = {u: i for i, u in enumerate(doms)}
        self._read(ci, [(u, d, gens[u], (u in running, u not in transient)) for u, d in stale], conn)
        with self._lock:
            ci.position = {k: order.get(k, len(order)) for k in ci.entries}
            ci.next_position = len(order) + 1
            ci.dirty &= set(doms)  # an event of a domain gone since: nothing to re-read
            ci.built, ci.listed_at = True, listed_at
            ci.counted_at = max(ci.counted_at, listed_at)  # the listing is as good as a count

    def _reread_dirty(self, conn: libvirt.virConnect, ci: _ConnIndex) -> None:
        with self._lock:
            todo = [(u, ci.generation.get(u, 0)) for u in ci.dirty]
        if not todo:
            return
        found = []
        for uuid, gen in todo:
            try:
                found.append((uuid, conn.lookupByUUIDString(uuid), gen, None))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
                found.append((uuid, None, gen, None))
        self._read(ci, found, conn)

    def share(self, sharer: Sharer) -> None:
        """Give every live XML the index reads to `sharer` as well."""
        self.sharers.append(sharer)

    def _read(self, ci: _ConnIndex, todo: list[tuple[str, Any, int, tuple[bool, bool] | None]],
              conn: Any = None) -> None:
        """Read each (uuid, domain or None when gone, generation before, (running, persistent) or None)."""
        for uuid, dom, gen, state in todo:
            tokens = [(s, s.token(conn, uuid)) for s in self.sharers] if conn is not None else []
            wanted = [(sharer, token) for sharer, token in tokens if token is not None]
            refs, live = read_kept(dom, uuid, state, bool(wanted)) if dom is not None else (None, None)
            for sharer, token in wanted:
                if live is not None:
                    sharer.offer(conn, uuid, token, live)
            with self._lock:
                if refs is None:
                    ci.remove(uuid)
                else:
                    ci.put(refs)
                if ci.generation.get(uuid, 0) == gen:  # no event since we read: current
                    ci.dirty.discard(uuid)


INDEX = ReferenceIndex()
