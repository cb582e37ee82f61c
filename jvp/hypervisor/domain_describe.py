"""Listing and describing domains through libvirt: list-vms' rows (summaries), describe-vm's view (describe,
with its per-domain XML part kept by the exact XML text, DESCRIBE_PARTS) and the volumes behind a domain's
disks (volumes_of / volumes_for). One domain that cannot be read fully is listed or described with problems;
it never fails the listing or the description.

Looking a domain up and reading its agent channel are in domain.py; the view itself is built by
domain_view.py. Every call takes the node's connection, so the same code serves local and remote nodes.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Iterable

import libvirt
from lxml import etree

from jvp.domain.base import Problem
from jvp.domain.vm import VmView
from jvp.hypervisor import domain_state, domain_summary, domain_view, support, vm_net, vm_volumes
from jvp.hypervisor import domain_cache
from jvp.hypervisor.domain import agent_connected, has_agent_channel, lookup
from jvp.hypervisor.domain_cache import FACTS
from jvp.hypervisor.listing_memo import LISTING
from jvp.hypervisor.xml import parse
from jvp.hypervisor.xml.domain import Domain


# -- listing and describing ----------------------------------------------------------------------------
_LIST_STATS = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
# What reading one domain's definition can raise besides libvirt's errors: XML JVP's mappings cannot read (a
# size with an odd unit, a count that is not a number, JVP's metadata edited by hand). One such domain is
# listed and described with a problem; it never fails the listing or the description.
UNREADABLE = domain_cache.UNREADABLE


def _unreadable(what: str, exc: Exception) -> dict[str, str]:
    detail = exc.get_error_message() if isinstance(exc, libvirt.libvirtError) else str(exc)
    return {"code": "VmDefinitionUnreadable", "message": f"{what} could not be read: {detail}"}


def nic_networks_present(conn: libvirt.virConnect, names: Iterable[str | None], memo: vm_net.CrashMemo
                         ) -> set[str] | None:
    """Which of the networks a VM's NICs name exist on the node: all describe-vm's dangling check asks
    (domain_summary.network_problems looks only at these names), from the node's network names kept until a
    network event (listing_memo: no call while they are kept). On the test driver (`memo.test_driver`) the
    crash guard's memo gets which of them have no IP block, kept the same way, so domain_ips looks none of
    them up. None when the driver has no network API (nothing can then be said about a NIC's network), as
    listing_memo.network_names."""
    networks = LISTING.networks(conn)
    if networks is None:
        return None
    if memo.test_driver:
        _fill_crash_memo(conn, memo, networks)
    return {n for n in names if n and n in networks}


def _fill_crash_memo(conn: libvirt.virConnect, memo: vm_net.CrashMemo, networks: set[str] | None) -> None:
    """On the test driver: which of the node's networks have no IP block, as listing_memo keeps it (until a
    network event), so that the crash guard looks none of them up."""
    if networks:
        ipless = LISTING.ipless_networks(conn)
        memo.ipless.update((name, name in ipless) for name in networks)


def _domain_ips(dom: libvirt.virDomain, agent: bool, problems: list[dict[str, str]],
                nic_networks: list[str], memo: vm_net.CrashMemo | None = None
                ) -> tuple[dict[str, list[str]], bool | None]:
    """vm_net.domain_ips, isolated: a NIC on a missing network (already a problem of the VM) or a driver
    error leaves the VM without IPs, not without a row. `nic_networks`: the networks of its
    `type='network'` NICs, from the XML the caller read (not read again)."""
    try:
        return vm_net.domain_ips(dom, agent=agent, nic_networks=nic_networks, memo=memo)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN,):
            raise
        if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
            problems.append({"code": "LibvirtError",
                             "message": f"its addresses could not be read: {exc.get_error_message()}"})
        return {}, None


def summaries(conn: libvirt.virConnect, node: str) -> list[dict[str, Any]]:
    """Every domain of the node: one bulk stats call, each domain's XML facts from the event-invalidated
    cache (domain_cache), the transient domains and the node's networks kept until an event (listing_memo),
    and the DHCP leases of the networks in use (one call per network).

    One domain that cannot be read fully (a NIC on a deleted network, XML JVP cannot parse, an error of the
    driver for that domain) is listed with `problems`; it never empties the listing."""
    stats = domain_state.bulk_stats(conn, _LIST_STATS)
    # which domains are transient, which networks exist: kept per connection until an event (listing_memo)
    transient = LISTING.transient(conn)
    networks = LISTING.networks(conn)
    facts = FACTS.facts(conn, [dom for dom, _ in stats])
    states: dict[tuple[int, int | None], tuple[str, str | None]] = {}  # a handful of (state, reason) pairs
    rows = []
    for (dom, st), f in zip(stats, facts):
        if f is None:  # undefined meanwhile
            continue
        pair = (st.get("state.state", libvirt.VIR_DOMAIN_NOSTATE), st.get("state.reason"))
        named = states.get(pair)
        if named is None:
            named = states[pair] = domain_state.of(*pair)
        rows.append((dom, st, f, named))
    # a stopped VM has no addresses (describe-vm shows none: libvirt answers that it is not running), even
    # while its last DHCP lease has not expired: only the networks of the others are asked for leases
    leases = vm_net.leases_by_mac(conn, {n for _, _, f, (state_name, _) in rows if state_name != domain_state.STOPPED
                                         for n in f["networks"] if networks is None or n in networks})
    out = []
    memo = vm_net.CrashMemo()  # the test driver's crash check: the URI once per listing, the networks as kept
    for dom, st, facts, (state_name, reason) in rows:
        problems = list(facts.get("problems", ()))
        if networks is not None and facts["nics"] and not networks.issuperset(facts["networks"]):
            problems += domain_summary.network_problems(facts, networks)
        ips = leases if state_name != domain_state.STOPPED else {}
        if ips is None:  # the driver lists no leases per network: ask per running domain with a NIC instead
            ips = {}
            if state_name in ("running", "paused") and facts["macs"]:
                if memo.test_driver is None:
                    memo.test_driver = vm_net.is_test_driver(conn)
                    if memo.test_driver:
                        _fill_crash_memo(conn, memo, networks)
                try:
                    ips = _domain_ips(dom, False, problems, [net for _, net in facts["nics"]], memo)[0]
                except libvirt.libvirtError:  # undefined meanwhile
                    continue
        row = domain_summary.summary(facts, node=node, state=state_name, ips=ips, stats=st, state_reason=reason,
                                     problems=problems)
        row["persistent"] = row["uuid"] not in transient
        out.append(row)
    return sorted(out, key=lambda r: r["name"])


def volumes_of(conn: libvirt.virConnect, root: etree._Element, problems: list[dict[str, str]] | None = None,
               dom: libvirt.virDomain | None = None) -> dict[Any, dict[str, Any]]:
    """The volume behind each disk (domain_view.disk_key -> vm_volumes' volume info), when a running pool
    holds it: a `type='volume'` disk through its pool, the others by path (or a network disk's name). A pool
    that cannot be read leaves the disk without its volume and, when `problems` is given, adds a problem; so
    does a volume-type disk whose volume or pool no longer exists (VolumeNotFound / StoragePoolNotFound).
    With `dom` (running), removable media no pool holds get the size libvirt reports for the drive
    (virDomainGetBlockInfo, what `virsh domblkinfo` shows)."""
    return volumes_for(conn, [(domain_view.disk_key(d), d.target, d.device) for d in Domain(root).disks],
                       problems, dom)


def volumes_for(conn: libvirt.virConnect, disks: Iterable[tuple[Any, str | None, str | None]],
                problems: list[dict[str, str]] | None = None,
                dom: libvirt.virDomain | None = None) -> dict[Any, dict[str, Any]]:
    """volumes_of for the disks as domain_view.lookups lists them: (disk_key, target, device)."""
    out: dict[Any, dict[str, Any]] = {}
    for key, target, device in disks:
        if key is None or key in out:
            continue
        try:
            if isinstance(key, tuple):
                out[key] = vm_volumes.volume_info(conn, *key)
            else:
                out[key] = vm_volumes.volume_by_path(conn, key) or {}
        except libvirt.libvirtError as exc:
            out[key] = {}  # a vanished volume, a missing or inactive pool: the disk shows what its XML says
            gone = exc.get_error_code()
            dangling = ("VolumeNotFound" if gone == libvirt.VIR_ERR_NO_STORAGE_VOL else
                        "StoragePoolNotFound" if gone == libvirt.VIR_ERR_NO_STORAGE_POOL else None)
            if dangling and isinstance(key, tuple) and problems is not None:
                # a type='volume' disk names its pool and volume: one that no longer exists is a dangling
                # reference of this VM (a file disk outside every pool is not: nothing says it should be in one)
                problems.append({"code": dangling, "message": f"disk {target or '?'} names volume '{key[1]}' "
                                                              f"of pool '{key[0]}': {exc.get_error_message()}"})
            elif exc.get_error_code() not in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL,
                                              libvirt.VIR_ERR_OPERATION_INVALID):
                if problems is None:
                    raise
                where = "/".join(key) if isinstance(key, tuple) else key
                problems.append({"code": "LibvirtError", "message": f"the volume of disk {where} could not "
                                                                     f"be read: {exc.get_error_message()}"})
        if dom is not None and device in ("cdrom", "floppy") and target and not out[key].get("capacity_bytes"):
            try:
                out[key] = {**out[key], "capacity_bytes": dom.blockInfo(target, 0)[0]}
            except libvirt.libvirtError:
                pass  # an empty or unreadable drive: no size
    return out


def _stats_of(conn: libvirt.virConnect, dom: libvirt.virDomain) -> dict[str, Any]:
    """The bulk stats of one domain (the figures list-vms shows), {} when the driver has none."""
    try:
        got = conn.domainListGetStats([dom], _LIST_STATS, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN or not support.lacks("bulk_domain_stats", exc):
            raise
        return {}
    return got[0][1] if got else {}


class _DescribeParts:
    """describe-vm's XML part per domain (domain_view.xml_part and .lookups), kept with the exact XML text it
    was read from: a describe reads the live XML (one XMLDesc, as it must: nothing else says what the domain
    is now) and, when the text is the same as last time, skips the parse and the ~60 mapping reads.

    Keyed by the document itself, not by events: whatever changed the domain (JVP, virsh, another client, a
    change libvirt sends no event for, a driver without events), a different document is a miss, so nothing
    can be stale; an unchanged one cannot be. Per connection (dies with it), at most MAX domains each
    (the oldest entry goes first)."""

    MAX = 2048

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: "weakref.WeakKeyDictionary[libvirt.virConnect, dict[str, tuple[str, Any, Any]]]" = \
            weakref.WeakKeyDictionary()

    def get(self, conn: libvirt.virConnect, name: str, xml: str) -> tuple[Any, Any] | None:
        with self._lock:
            try:
                hit = self._conns.get(conn, {}).get(name)
            except TypeError:  # a connection object that cannot be weakly referenced: not kept
                return None
        return (hit[1], hit[2]) if hit is not None and hit[0] == xml else None

    def put(self, conn: libvirt.virConnect, name: str, xml: str, looked: Any, part: Any) -> None:
        with self._lock:
            try:
                entries = self._conns.setdefault(conn, {})
            except TypeError:
                return
            entries.pop(name, None)
            entries[name] = (xml, looked, part)
            while len(entries) > self.MAX:
                entries.pop(next(iter(entries)))


DESCRIBE_PARTS = _DescribeParts()


def describe(conn: libvirt.virConnect, node: str, name: str) -> VmView:
    dom = lookup(conn, name)
    stats = _stats_of(conn, dom)
    # the bulk stats carry the state (VIR_DOMAIN_STATS_STATE): no call of its own unless the driver has none
    st, reason = (stats["state.state"], stats.get("state.reason")) if "state.state" in stats else dom.state()
    state_name, state_reason = domain_state.of(st, reason)
    problems: list[dict[str, str]] = []
    try:
        xml_text = dom.XMLDesc(0)
        kept = DESCRIBE_PARTS.get(conn, name, xml_text)
        if kept is not None:
            looked, part = kept
        else:
            root, part = parse(xml_text), None
            looked = domain_view.lookups(root, agent_connected(root), has_agent_channel(root))
        # the UUID as the XML says it (what dom.UUIDString() answers, without a call into libvirt)
        persistent, autostart = _persistence(conn, dom, looked.uuid)
        ask_agent = state_name == "running" and looked.agent_connected is not False and looked.has_agent_channel
        volumes = volumes_for(conn, looked.disks, problems, dom if state_name in ("running", "paused") else None)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise
        return _unreadable_view(dom, node, state_name, state_reason, *_persistence(conn, dom), stats,
                                _unreadable("its XML", exc))
    except UNREADABLE as exc:
        return _unreadable_view(dom, node, state_name, state_reason, *_persistence(conn, dom), stats,
                                _unreadable("its XML", exc))
    memo = vm_net.CrashMemo(test_driver=vm_net.is_test_driver(conn))
    networks = nic_networks_present(conn, looked.nic_networks, memo)
    ips, agent = _domain_ips(dom, ask_agent, problems, list(looked.nic_networks), memo)
    if state_name == "running" and not ask_agent and looked.has_agent_channel:
        agent = False
    try:
        if part is None:
            part = domain_view.xml_part(root)
            DESCRIBE_PARTS.put(conn, name, xml_text, looked, part)
        return domain_view.from_part(part, node=node, state=state_name, persistent=persistent,
                                     autostart=autostart, volumes=volumes, ips=ips, agent=agent,
                                     state_reason=state_reason, stats=stats, problems=problems,
                                     networks=networks)
    except UNREADABLE as exc:
        return _unreadable_view(dom, node, state_name, state_reason, persistent, autostart, stats,
                                _unreadable("its definition", exc))


def _persistence(conn: libvirt.virConnect, dom: libvirt.virDomain, uuid: str | None = None) -> tuple[bool, bool]:
    """(persistent, autostart) of a domain: whether it is transient from listing_memo (kept until a domain
    event), its autostart flag asked only of a persistent one (a transient domain has none)."""
    persistent = not LISTING.is_transient(conn, uuid or dom.UUIDString())
    return persistent, bool(dom.autostart()) if persistent else False


def _unreadable_view(dom: libvirt.virDomain, node: str, state: str, reason: str | None, persistent: bool,
                     autostart: bool, stats: dict[str, Any], problem: dict[str, str]) -> VmView:
    row = domain_summary.summary(domain_summary.unreadable_facts(dom.name(), dom.UUIDString()), node=node,
                                 state=state, ips={}, stats=stats, state_reason=reason)
    row.update(persistent=persistent, problems=[Problem(**problem)])
    return VmView(**row, autostart=autostart)
