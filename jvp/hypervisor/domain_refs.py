"""One domain's references as the usage answers read them (`DomainRefs`: the images it opens, the networks
and bridges its NICs name, its MACs, JVP's template facts), read from its definitions: the live XML, plus
the next-boot XML of a running persistent domain. The reference index (ref_index.py) keeps one entry per
domain and connection, current through libvirt's events; these readers are what it (and a connection
without events) reads a domain with. `KEPT` keeps the entries of the texts last read, so a domain read again
with unchanged definitions is not parsed and mapped again.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Callable

import libvirt
from lxml import etree

from jvp.domain.volume import VmDisk, normal_path
from jvp.hostnet import uri_is_this_machine
from jvp.hypervisor.storage_xml import disks_of
from jvp.hypervisor.xml import parse_to_read
from jvp.hypervisor.xml.domain import Domain


@dataclass(frozen=True)
class DomainRefs:
    """One domain as the usage answers see it."""
    key: str                              # its UUID (its name where a fake definition has none)
    name: str
    running: bool                         # libvirt says it is active (volume users' `running`)
    active: bool                          # its live XML says so (network attachments' `active`)
    disks: tuple[VmDisk, ...] = ()        # each image once, `live` when the running definition has it
    networks: frozenset[str] = frozenset()
    bridges: frozenset[str] = frozenset()
    macs: tuple[str, ...] = ()
    template: dict[str, str] | None = None
    created_at: str | None = None
    facts_error: Exception | None = field(default=None, compare=False)  # JVP's facts could not be read

    def paths(self) -> set[str]:
        """Every path it names (disks, boot files, chains), as written."""
        return {p for d in self.disks for p in (d.path, *d.backing_paths) if p}


def canonicalizer(conn: libvirt.virConnect) -> Callable[[str], str]:
    """How the node resolves a path: on this machine's own libvirtd, symlinks resolved (a pool directory
    reached through a symlink names the same files as the VM's disk path); elsewhere (a remote node, the test
    driver's fictional files) `..` and `//` folded only: JVP never reads a remote node's filesystem."""
    try:
        local = uri_is_this_machine(conn.getURI())
    except libvirt.libvirtError:
        local = False
    if not local:
        return normal_path
    return lambda p: os.path.realpath(p) if p.startswith("/") else p


def domain_docs(dom: libvirt.virDomain, state: tuple[bool, bool] | None = None) -> list[etree._Element]:
    """The live and the persistent XML of a domain (one when they are the same); none when the domain
    vanished since it was listed (transient domains come and go). `state`: (running, persistent) when the
    caller knows them from a bulk listing (no call per domain then)."""
    try:
        running, persistent = state if state is not None else (dom.isActive(), None)
        both = running and (persistent if persistent is not None else dom.isPersistent())
        # only read (never edited nor given back): the parser that drops the whitespace between elements
        return [parse_to_read(dom.XMLDesc(0)),
                *([parse_to_read(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))] if both else [])]
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return []
        raise


def read_refs(dom: libvirt.virDomain) -> DomainRefs | None:
    """One domain's entry from its definitions; None when it vanished since it was listed."""
    return read_docs(dom)[0]


class _KeptRefs:
    """DomainRefs of the definitions last read, per domain, with the exact XML texts they came from: a domain
    read again (the index rebuilt after a reconnect, a relist, an event that changed nothing the index holds)
    whose texts are the same is not parsed and mapped again. Keyed by the documents, so never stale; shared
    by every connection (a reopened connection reads the same texts), at most MAX domains (oldest first
    out)."""

    MAX = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple[str, ...], bool, DomainRefs]] = {}

    def get(self, key: str, texts: tuple[str, ...], running: bool) -> DomainRefs | None:
        with self._lock:
            hit = self._entries.get(key)
        return hit[2] if hit is not None and hit[1] == running and hit[0] == texts else None

    def clear(self) -> None:
        """Forget every entry (as a fresh process starts): for benchmarks and diagnostics."""
        with self._lock:
            self._entries.clear()

    def put(self, key: str, texts: tuple[str, ...], running: bool, refs: DomainRefs) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (texts, running, refs)
            while len(self._entries) > self.MAX:
                self._entries.pop(next(iter(self._entries)))


KEPT = _KeptRefs()


def domain_texts(dom: libvirt.virDomain, state: tuple[bool, bool] | None = None) -> tuple[str, ...]:
    """domain_docs' documents as libvirt's text, not parsed: () when the domain vanished."""
    try:
        running, persistent = state if state is not None else (dom.isActive(), None)
        both = running and (persistent if persistent is not None else dom.isPersistent())
        return (dom.XMLDesc(0), *((dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),) if both else ()))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return ()
        raise


def read_kept(dom: libvirt.virDomain, key: str, state: tuple[bool, bool] | None, want_live: bool
              ) -> tuple[DomainRefs | None, etree._Element | None]:
    """read_docs through KEPT: (the entry, the parsed live XML when `want_live` or it was parsed anyway);
    (None, None) when the domain vanished."""
    try:
        texts = domain_texts(dom, state)
        running = bool(texts) and (state[0] if state is not None else bool(dom.isActive()))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None, None
        raise
    if not texts:
        return None, None
    refs = KEPT.get(key, texts, running)
    if refs is not None:
        return refs, parse_to_read(texts[0]) if want_live else None
    docs = [parse_to_read(t) for t in texts]
    refs = refs_of(docs, running, key)
    KEPT.put(key, texts, running, refs)
    return refs, docs[0]


def read_docs(dom: libvirt.virDomain, key: str | None = None, state: tuple[bool, bool] | None = None
              ) -> tuple[DomainRefs | None, list[etree._Element]]:
    """One domain's entry and the definitions it was read from (live first); (None, []) when it vanished.
    `state` as for domain_docs."""
    try:
        docs = domain_docs(dom, state)
        running = bool(docs) and (state[0] if state is not None else bool(dom.isActive()))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None, []
        raise
    if not docs:
        return None, []
    return refs_of(docs, running, key), docs


def refs_of(docs: list[etree._Element], running: bool, key: str | None = None) -> DomainRefs:
    """The entry of a domain from its definitions (live first), as the usage scans always read them."""
    name = docs[0].findtext("name")
    disks: list[VmDisk] = []
    seen = set()
    for live, root in zip((True, False), docs):
        for disk in disks_of(root, live=live and running):
            k = (disk.target, disk.path, disk.pool, disk.volume)
            if k not in seen:
                seen.add(k)
                disks.append(disk)
    networks, bridges, macs = set(), set(), []
    for root in docs:
        # plain lxml over what xml.domain.Interface names (`./devices/interface`, `./@type`,
        # `./source/@network|@bridge`, `./mac/@address` lower-cased): every definition of a first build
        # passes here (tests/unit/test_ref_index.py holds it to the mapping's answers)
        for devices in root.iterchildren("devices"):
            for nic in devices.iterchildren("interface"):
                kind = nic.get("type")
                if kind == "network" or kind == "bridge":
                    source = next(nic.iterchildren("source"), None)
                    if kind == "network":
                        networks.add(source.get("network") if source is not None else None)
                    else:
                        bridges.add(source.get("bridge") if source is not None else None)
                mac_el = next(nic.iterchildren("mac"), None)
                mac = mac_el.get("address") if mac_el is not None else None
                if mac:
                    macs.append(mac.lower())
    networks.discard(None)
    bridges.discard(None)
    template = created_at = facts_error = None
    try:
        facts = Domain(docs[0]).facts
        if facts.exists():
            template, created_at = facts.template, facts.created_at or None
    except Exception as exc:  # noqa: BLE001 - kept and raised by the reads that need the facts
        facts_error = exc
    return DomainRefs(key=key or docs[0].findtext("uuid") or name or "", name=name, running=running,
                      active=len(docs) == 2 or bool(docs[0].get("id")), disks=tuple(disks),
                      networks=frozenset(networks), bridges=frozenset(bridges), macs=tuple(macs),
                      template=template, created_at=created_at, facts_error=facts_error)


def scan(conn: libvirt.virConnect) -> list[DomainRefs]:
    """Every domain's entry read now (a connection without events; the bulk rebuild of the index)."""
    return [r for r in (read_refs(dom) for dom in conn.listAllDomains(0)) if r is not None]
