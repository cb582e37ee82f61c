"""What list-vms needs from each domain's XML (JVP's facts, MACs, networks, configured size), cached per
connection and dropped by libvirt's own domain events.

No bulk call returns the XML, and one XMLDesc per domain per listing is what made listing 1,000 domains
slow. Every change to a domain emits an event (defined/undefined/started/stopped, metadata changed, device
added/removed) to every connection of every process, so an entry is dropped as soon as it may be stale;
JVP's own changes also drop their entry at once (events arrive asynchronously). A generation counter per
domain keeps a read that raced with an event from being stored. Connections whose driver has no events
are not cached. The cache dies with its connection (a reopened connection starts empty: events missed
while disconnected cannot matter). Who uses which image, network or MAC is the reference index's
(hypervisor/ref_index.py), which follows the same events.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from typing import Any, Callable

import libvirt
from lxml import etree

from jvp.hypervisor import domain_summary
from jvp.hypervisor.events import DOMAIN_EVENTS
from jvp.hypervisor.ref_index import INDEX
from jvp.hypervisor.xml import parse_to_read

log = logging.getLogger(__name__)
# Belt and braces: an entry is re-read after this long even if no event came (events lost in a reconnect).
MAX_AGE_S = 60.0


class _ConnCache:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self.generation: dict[str, int] = {}
        self.enabled = False


class DomainFactsCache:
    """`extract(root)` makes an entry of a domain's XML (list-vms' static facts by default; the metrics
    collector keeps its own instance for device names). `unreadable(dom, uuid, detail)` is the entry of a
    domain whose XML cannot be read (not cached)."""

    def __init__(self, extract: Callable[[etree._Element], Any] | None = None,
                 unreadable: Callable[[libvirt.virDomain, str, str], Any] | None = None) -> None:
        self._extract = extract or domain_summary.static_facts
        self._unreadable = unreadable or _unreadable
        self._lock = threading.Lock()
        self._conns: "weakref.WeakKeyDictionary[libvirt.virConnect, _ConnCache]" = weakref.WeakKeyDictionary()

    def _for(self, conn: libvirt.virConnect) -> _ConnCache:
        with self._lock:
            cc = self._conns.get(conn)
            if cc is not None:
                return cc
            cc = self._conns[conn] = _ConnCache()
        cc.enabled = self._watch(conn, cc)
        return cc

    def _watch(self, conn: libvirt.virConnect, cc: _ConnCache) -> bool:
        """Drop a domain's entry on any event of it (hypervisor/events.py); False: no events, no caching."""
        subscribed = DOMAIN_EVENTS.subscribe(conn, lambda event: self._drop(cc, event.uuid))
        if not subscribed:
            log.info("no domain events on this connection: listing reads every domain's XML")
        return subscribed

    def _drop(self, cc: _ConnCache, uuid: str) -> None:
        with self._lock:
            cc.entries.pop(uuid, None)
            cc.generation[uuid] = cc.generation.get(uuid, 0) + 1

    def forget(self, conn: libvirt.virConnect, uuid: str) -> None:
        """JVP changed this domain: do not wait for the event."""
        with self._lock:
            cc = self._conns.get(conn)
        if cc is not None:
            self._drop(cc, uuid)

    # -- fed by the reference index's reads (hypervisor/ref_index.py: one XML read serves both) ----------
    def token(self, conn: libvirt.virConnect, uuid: str) -> int | None:
        """The domain's generation before the index reads it; None when there is nothing to fill: list-vms
        never ran on this connection, it has no events, or the entry is fresh."""
        with self._lock:
            cc = self._conns.get(conn)
            if cc is None or not cc.enabled:
                return None
            hit = cc.entries.get(uuid)
            if hit is not None and time.monotonic() - hit[0] < MAX_AGE_S:
                return None
            return cc.generation.get(uuid, 0)

    def offer(self, conn: libvirt.virConnect, uuid: str, token: int, live: etree._Element) -> None:
        """The domain's live XML as the index read it: cached unless an event came since `token`."""
        try:
            facts = domain_summary.static_facts(live)
        except UNREADABLE:
            return  # list-vms reads it again and shows the problem
        with self._lock:
            cc = self._conns.get(conn)
            if cc is not None and cc.generation.get(uuid, 0) == token:
                cc.entries[uuid] = (time.monotonic(), facts)

    def facts(self, conn: libvirt.virConnect, doms: list[libvirt.virDomain]) -> list[dict[str, Any] | None]:
        """domain_summary.static_facts of each domain's current XML, from the cache when still valid; None for
        a domain that vanished since it was listed. One lock round for all the hits (1,000 VMs a listing)."""
        cc = self._for(conn)
        uuids = [d.UUIDString() for d in doms]
        now = time.monotonic()
        with self._lock:
            hits = [cc.entries.get(u) for u in uuids]
            gens = [cc.generation.get(u, 0) for u in uuids]
        out: list[dict[str, Any] | None] = []
        for dom, uuid, hit, gen in zip(doms, uuids, hits, gens):
            if hit is not None and now - hit[0] < MAX_AGE_S:
                out.append(hit[1])
                continue
            try:
                facts = self._extract(parse_to_read(dom.XMLDesc(0)))  # only read, then dropped
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    out.append(None)
                    continue
                out.append(self._unreadable(dom, uuid, exc.get_error_message()))  # not cached: read again next time
                continue
            except UNREADABLE as exc:
                out.append(self._unreadable(dom, uuid, str(exc)))
                continue
            if cc.enabled:
                with self._lock:
                    if cc.generation.get(uuid, 0) == gen:  # no event since we read: still current
                        cc.entries[uuid] = (now, facts)
            out.append(facts)
        return out


# What JVP's XML mappings raise on a definition they cannot read (domain_describe.py isolates the same errors).
UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, etree.LxmlError)


def _unreadable(dom: libvirt.virDomain, uuid: str, detail: str) -> dict[str, Any] | None:
    """The facts of a domain whose XML cannot be read: its name and a problem (issue 13: isolation)."""
    try:
        name = dom.name()
    except libvirt.libvirtError:
        return None
    return {**domain_summary.unreadable_facts(name, uuid),
            "problems": [{"code": "VmDefinitionUnreadable", "message": f"its XML could not be read: {detail}"}]}


FACTS = DomainFactsCache()
INDEX.share(FACTS)


def changes(fn: Callable) -> Callable:
    """For functions (conn, name, ...) that change a domain: its cached list facts are dropped at once, and its
    entry of the reference index (hypervisor/ref_index.py) is read again at the next use."""
    @functools.wraps(fn)
    def wrapper(conn: libvirt.virConnect, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            uuid = conn.lookupByName(name).UUIDString()
        except libvirt.libvirtError:
            uuid = None  # fn will raise the lookup error itself
        try:
            return fn(conn, name, *args, **kwargs)
        finally:
            if uuid:
                FACTS.forget(conn, uuid)
                INDEX.forget(conn, uuid)
    return wrapper
