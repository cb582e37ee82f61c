"""hypervisor/ref_index.py: who uses which image, network and bridge, kept current by domain events, on a fake
connection that counts every XML read (so the tests show what each change costs, not only what it answers)."""
from __future__ import annotations

import libvirt
import pytest

from jvp.hypervisor import ref_index
from jvp.hypervisor.ref_index import ReferenceIndex

LIFECYCLE = libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE
DEVICE_ADDED = libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED
DEVICE_REMOVED = libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED


def domain_xml(name: str, uuid: str, *, disks=(), networks=(), bridges=(), running=False) -> str:
    devs = "".join(f"<disk type='file' device='disk'><source file='{p}'/><target dev='vd{chr(97 + i)}'/></disk>"
                   for i, p in enumerate(disks))
    devs += "".join(f"<interface type='network'><source network='{n}'/></interface>" for n in networks)
    devs += "".join(f"<interface type='bridge'><source bridge='{b}'/></interface>" for b in bridges)
    running_id = " id='1'" if running else ""
    return f"<domain type='test'{running_id}><name>{name}</name><uuid>{uuid}</uuid><devices>{devs}</devices></domain>"


def no_domain() -> libvirt.libvirtError:
    err = libvirt.libvirtError("domain not found")
    err.err = (libvirt.VIR_ERR_NO_DOMAIN,)
    return err


class Dom:
    def __init__(self, conn: "Conn", name: str, uuid: str, **devices):
        self.conn, self._name, self.uuid, self.running, self.devices = conn, name, uuid, False, devices

    def UUIDString(self):
        return self.uuid

    def name(self):
        return self._name

    def isActive(self):
        self._check()
        return self.running

    def isPersistent(self):
        return True

    def _check(self):
        if self.uuid not in self.conn.doms:
            raise no_domain()

    def XMLDesc(self, flags=0):
        self._check()
        self.conn.reads.append(self._name)
        return domain_xml(self._name, self.uuid, running=self.running and not flags, **self.devices)


class Conn:
    """A libvirt connection with domain events: `fire` is libvirt calling back on its event loop."""

    def __init__(self, events=True):
        self.doms: dict[str, Dom] = {}
        self.reads: list[str] = []
        self.callbacks: dict[int, object] = {}
        self.events = events
        self.made = 0
        self.counts = 0  # numOfDomains calls: the counts check

    def add(self, name, **devices) -> Dom:
        self.made += 1
        dom = Dom(self, name, f"00000000-0000-0000-0000-{self.made:012d}", **devices)
        self.doms[dom.uuid] = dom
        return dom

    def domainEventRegisterAny(self, _dom, event_id, cb, _opaque):
        if not self.events:
            raise libvirt.libvirtError("this function is not supported by the connection driver")
        self.callbacks[event_id] = cb
        return len(self.callbacks)

    def fire(self, event_id, dom, *args):
        self.callbacks[event_id](self, dom, *args, None)

    def listAllDomains(self, flags=0):
        doms = list(self.doms.values())
        if flags & libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE:
            return [d for d in doms if d.running]
        if flags & libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE:
            return [d for d in doms if not d.running]
        if flags & libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT:
            return []  # every domain of the fake is persistent
        return doms

    def numOfDomains(self):
        self.counts += 1
        return sum(1 for d in self.doms.values() if d.running)

    def numOfDefinedDomains(self):
        return sum(1 for d in self.doms.values() if not d.running)

    def lookupByUUIDString(self, uuid):
        if uuid not in self.doms:
            raise no_domain()
        return self.doms[uuid]

    def getURI(self):
        return "test:///default"


def names(refs) -> list[str]:
    return [r.name for r in refs]


class Clock:
    """ref_index's time.monotonic, moved by hand."""
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ref_index, "time", c)
    return c


@pytest.fixture
def conn() -> Conn:
    c = Conn()
    c.add("web1", disks=["/p/web1.qcow2"], networks=["lan"])
    c.add("web2", disks=["/p/web2.qcow2"], networks=["lan"], bridges=["br0"])
    c.add("db1", disks=["/p/db1.qcow2", "/p/shared.iso"], networks=["back"])
    return c


def test_built_once_in_bulk_then_answered_without_reading_any_xml(conn):
    index = ReferenceIndex()
    assert names(index.domains(conn)) == ["web1", "web2", "db1"]
    assert sorted(conn.reads) == ["db1", "web1", "web2"]  # one read per domain
    conn.reads.clear()
    assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2"]
    assert names(index.using_networks(conn, [], ["br0"])) == ["web2"]
    assert names(index.using_images(conn, ["/p//shared.iso"], [])) == ["db1"]  # folded like References
    assert index.using_images(conn, ["/p/none.raw"], [("pool", "vol")]) == []
    assert conn.reads == []  # nothing changed: no XML read


def test_a_defined_domain_is_read_alone_and_answers_at_once(conn):
    index = ReferenceIndex()
    index.domains(conn)
    conn.reads.clear()
    new = conn.add("web3", disks=["/p/web1.qcow2"], networks=["lan"])
    conn.fire(LIFECYCLE, new, libvirt.VIR_DOMAIN_EVENT_DEFINED, 0)
    assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2", "web3"]
    assert names(index.using_images(conn, ["/p/web1.qcow2"], [])) == ["web1", "web3"]
    assert conn.reads == ["web3"]


def test_an_undefined_domain_leaves_every_answer(conn):
    index = ReferenceIndex()
    index.domains(conn)
    gone = next(d for d in conn.doms.values() if d.name() == "web2")
    del conn.doms[gone.uuid]
    conn.fire(LIFECYCLE, gone, libvirt.VIR_DOMAIN_EVENT_UNDEFINED, 0)
    assert names(index.using_networks(conn, ["lan"], ["br0"])) == ["web1"]
    assert index.using_images(conn, ["/p/web2.qcow2"], []) == []
    assert names(index.domains(conn)) == ["web1", "db1"]


def test_devices_added_and_removed_are_followed(conn):
    index = ReferenceIndex()
    index.domains(conn)
    conn.reads.clear()
    db1 = next(d for d in conn.doms.values() if d.name() == "db1")
    db1.devices = {"disks": ["/p/db1.qcow2"], "networks": ["back", "lan"]}  # iso ejected, NIC plugged
    conn.fire(DEVICE_ADDED, db1, "net1")
    assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2", "db1"]
    assert index.using_images(conn, ["/p/shared.iso"], []) == []
    db1.devices = {"disks": ["/p/db1.qcow2"], "networks": ["back"]}
    conn.fire(DEVICE_REMOVED, db1, "net1")
    assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2"]
    assert conn.reads == ["db1", "db1"]  # only the domain that changed, once per change


def test_changes_whose_events_were_missed_are_caught_by_the_counts(conn, clock):
    """A define or a start without its event (lost) shows at the first read once COUNT_CHECK_S has passed
    since the last counts check (not at every read: the counts walk libvirt's domain list)."""
    index = ReferenceIndex()
    index.domains(conn)
    conn.reads.clear()
    conn.add("quiet", networks=["lan"])  # no event
    clock.now += ref_index.COUNT_CHECK_S
    assert "quiet" in names(index.using_networks(conn, ["lan"], []))
    web1 = next(d for d in conn.doms.values() if d.name() == "web1")
    web1.running = True  # started, no event
    clock.now += ref_index.COUNT_CHECK_S
    assert next(r for r in index.domains(conn) if r.name == "web1").running
    assert sorted(conn.reads) == ["quiet", "web1", "web1"]  # web1: live and next-boot XML


def test_jvps_own_change_is_read_again_without_waiting_for_the_event(conn):
    index = ReferenceIndex()
    index.domains(conn)
    web1 = next(d for d in conn.doms.values() if d.name() == "web1")
    web1.devices = {"disks": ["/p/web1.qcow2"], "networks": []}
    index.forget(conn, web1.uuid)
    assert names(index.using_networks(conn, ["lan"], [])) == ["web2"]


def test_an_event_during_a_read_keeps_the_domain_to_read_again(conn):
    index = ReferenceIndex()
    index.domains(conn)
    web1 = next(d for d in conn.doms.values() if d.name() == "web1")
    real = web1.XMLDesc

    def racing(flags=0):
        xml = real(flags)  # the XML as it was, then the change and its event before we store the entry
        web1.devices = {"disks": [], "networks": ["back"]}
        conn.fire(DEVICE_ADDED, web1, "net9")
        return xml
    web1.XMLDesc = racing
    conn.fire(DEVICE_ADDED, web1, "net8")
    assert "web1" in names(index.using_networks(conn, ["lan"], []))  # what was read, not yet the change
    web1.XMLDesc = real
    assert names(index.using_networks(conn, ["back"], [])) == ["web1", "db1"]  # the second event was kept


def test_a_reopened_connection_is_rebuilt_in_bulk(conn):
    index = ReferenceIndex()
    index.domains(conn)
    reopened = Conn()  # a new connection object: what connection.py makes after a drop
    reopened.doms, reopened.made = conn.doms, conn.made
    for d in reopened.doms.values():
        d.conn = reopened
    reopened.add("while-away", networks=["lan"])
    assert names(index.using_networks(reopened, ["lan"], [])) == ["web1", "web2", "while-away"]
    assert sorted(reopened.reads) == ["db1", "web1", "web2", "while-away"]


def test_a_driver_without_events_is_scanned_on_every_read():
    c = Conn(events=False)
    c.add("a", networks=["lan"])
    index = ReferenceIndex()
    assert names(index.using_networks(c, ["lan"], [])) == ["a"]
    assert names(index.using_networks(c, ["lan"], [])) == ["a"]
    assert c.reads == ["a", "a"]


def test_a_domain_gone_before_its_event_is_read_is_dropped(conn, clock):
    index = ReferenceIndex()
    index.domains(conn)
    web1 = next(d for d in conn.doms.values() if d.name() == "web1")
    conn.fire(DEVICE_ADDED, web1, "net1")
    del conn.doms[web1.uuid]
    conn.add("other")  # the counts are equal again: the dirty domain itself must be found gone
    clock.now += ref_index.COUNT_CHECK_S
    assert names(index.domains(conn)) == ["web2", "db1", "other"]


def test_one_read_of_a_changed_domain_feeds_the_list_facts_cache_too(conn):
    from jvp.hypervisor.domain_cache import DomainFactsCache
    facts, index = DomainFactsCache(), ReferenceIndex()
    index.share(facts)
    doms = conn.listAllDomains(0)
    index.domains(conn)
    assert [f["name"] for f in facts.facts(conn, doms)] == ["web1", "web2", "db1"]
    conn.reads.clear()
    web1 = doms[0]
    web1.devices = {"disks": [], "networks": ["back"]}
    conn.fire(DEVICE_ADDED, web1, "net1")
    assert names(index.using_networks(conn, ["back"], [])) == ["web1", "db1"]
    assert facts.facts(conn, doms)[0]["networks"] == ["back"]  # the index's read, not a second one
    assert conn.reads == ["web1"]


def test_answers_keep_libvirts_order_whatever_runs(conn):
    """Messages list users in libvirt's listing order (as the scan over listAllDomains did)."""
    index = ReferenceIndex()
    db1 = next(d for d in conn.doms.values() if d.name() == "db1")
    db1.running = True
    assert names(index.domains(conn)) == ["web1", "web2", "db1"]
    conn.fire(LIFECYCLE, db1, libvirt.VIR_DOMAIN_EVENT_STARTED, 0)
    assert names(index.domains(conn)) == ["web1", "web2", "db1"]


def test_a_rebuild_maps_again_only_the_domains_whose_xml_changed(conn):
    """Every definition is read again after a reconnect; one whose text is the same keeps its entry (no parse,
    no mapping: domain_refs.KEPT), one whose text changed is mapped afresh, whatever changed it."""
    index = ReferenceIndex()
    before = {r.name: r for r in index.domains(conn)}
    reopened = Conn()
    reopened.doms, reopened.made = conn.doms, conn.made
    for d in reopened.doms.values():
        d.conn = reopened
    changed = next(d for d in reopened.doms.values() if d.name() == "db1")
    changed.devices = {**changed.devices, "networks": ["elsewhere"]}  # no event: a change made while away
    after = {r.name: r for r in index.domains(reopened)}
    assert sorted(reopened.reads) == sorted(before)                  # every domain's XML read again
    assert after["web1"] is before["web1"] and after["web2"] is before["web2"]
    assert after["db1"] is not before["db1"] and after["db1"].networks == frozenset({"elsewhere"})
    assert names(index.using_networks(reopened, ["elsewhere"], [])) == ["db1"]


def test_the_counts_are_checked_at_most_once_per_interval_and_events_answer_meanwhile(conn, clock):
    """The counts check walks libvirt's domain list: made at most once per COUNT_CHECK_S per connection. A
    domain defined by another client shows through its `defined` event in the meantime (the usual case), and
    through the counts once the interval has passed if that event was lost."""
    index = ReferenceIndex()
    index.domains(conn)  # the bulk build lists the domains: as good as a counts check
    counted = conn.counts
    for _ in range(5):
        index.using_networks(conn, ["lan"], [])
    assert conn.counts == counted  # within the interval: no counts
    seen = conn.add("seen", networks=["lan"])
    conn.fire(LIFECYCLE, seen, libvirt.VIR_DOMAIN_EVENT_DEFINED, 0)
    assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2", "seen"]  # the event, no counts
    conn.add("lost", networks=["lan"])  # its event lost
    assert "lost" not in names(index.using_networks(conn, ["lan"], []))  # at most COUNT_CHECK_S like this
    assert conn.counts == counted
    clock.now += ref_index.COUNT_CHECK_S
    assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2", "seen", "lost"]
    assert conn.counts == counted + 1
    index.using_networks(conn, ["lan"], [])
    assert conn.counts == counted + 1  # counted again only after another interval


def test_reads_that_guard_a_change_count_every_time(conn, clock):
    """Inside `exact()` (the gateway's reads before a delete, an attach, a new MAC) the counts are checked on
    every read: a domain defined by another client a moment ago counts though its event has not arrived."""
    index = ReferenceIndex()
    index.domains(conn)
    counted = conn.counts
    conn.add("lost", networks=["lan"])  # its event not (yet) delivered
    assert "lost" not in names(index.using_networks(conn, ["lan"], []))  # a plain read: the interval holds
    with ref_index.exact():
        assert names(index.using_networks(conn, ["lan"], [])) == ["web1", "web2", "lost"]
        index.using_networks(conn, ["lan"], [])
    assert conn.counts == counted + 2  # one counts check per exact read, none for the plain one
    index.using_networks(conn, ["lan"], [])
    assert conn.counts == counted + 2  # outside the block, the interval again
