"""list-nodes' figures kept per connection (hypervisor/host_cache.py, issue 15), on fake connections that count
their calls, behind a real ConnectionPool and NodeGateway: the static facts are read once per connection, the
VM counts until a domain event or a change of JVP's (or their TTL), a reopened connection starts afresh, and
a node known dead never gets a cached answer."""
from __future__ import annotations

import time
from collections import Counter

import libvirt
import pytest

from jvp.domain.node import VmCounts
from jvp.hypervisor.connection import ConnectionPool
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.host_cache import HOST_FACTS, HostFactsCache
from tests.unit.fakes.connection import PoolableConn

STATIC_CALLS = {"getInfo", "getMemoryStats", "getHostname", "getType", "getVersion", "getLibVersion"}


class FakeConn(PoolableConn):
    """A node's connection: its figures, the calls made to it, its domain event callbacks."""

    def __init__(self, events: bool = True, hostname: str = "h1"):
        self.calls: Counter[str] = Counter()
        self.events = events
        self.callbacks: list = []
        self.hostname = hostname
        self.states = [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_PAUSED]
        self.alive = True

    def _count(self, name: str) -> None:
        self.calls[name] += 1

    # -- events
    def domainEventRegisterAny(self, _dom, _event_id, callback, _opaque):  # noqa: N802
        if not self.events:
            raise libvirt.libvirtError("this function is not supported by the connection driver")
        self.callbacks.append(callback)
        return len(self.callbacks)

    def fire(self) -> None:
        """A domain event, as libvirt's event loop delivers it (a domain was started, say)."""
        dom = FakeDomain()
        for cb in self.callbacks:
            cb(self, dom, libvirt.VIR_DOMAIN_EVENT_STARTED, 0)

    # -- host facts
    def getInfo(self):  # noqa: N802
        self._count("getInfo")
        return ["x86_64", 2048, 8, 2400, 1, 1, 8, 1]

    def getMemoryStats(self, *_):  # noqa: N802
        self._count("getMemoryStats")
        return {"total": 2 * 1024 * 1024}

    def getHostname(self):  # noqa: N802
        self._count("getHostname")
        return self.hostname

    def getType(self):  # noqa: N802
        self._count("getType")
        return "QEMU"

    def getVersion(self):  # noqa: N802
        self._count("getVersion")
        return 8002002

    def getLibVersion(self):  # noqa: N802
        self._count("getLibVersion")
        return 10000000

    def getAllDomainStats(self, *_):  # noqa: N802
        self._count("getAllDomainStats")
        return [(FakeDomain(), {"state.state": s}) for s in self.states]


class FakeDomain:
    def UUIDString(self):  # noqa: N802
        return "0b6ee2a4-4e39-4c6a-8d5b-6b3a1a000001"

    def name(self):
        return "web1"


def static_calls(conn: FakeConn) -> int:
    return sum(n for k, n in conn.calls.items() if k in STATIC_CALLS)


# -- the cache itself ---------------------------------------------------------------------------------------
def test_static_facts_are_read_once_and_counts_until_an_event():
    cache, conn = HostFactsCache(), FakeConn()
    assert cache.fresh(conn) is None  # nothing read yet
    first = cache.read(conn)
    assert first.hostname == "h1" and first.vm_counts == VmCounts(running=1, total=3)
    assert first.memory_bytes == 2 * 1024 ** 3
    reads = static_calls(conn)
    assert cache.fresh(conn) == first and cache.read(conn) == first
    assert static_calls(conn) == reads and conn.calls["getAllDomainStats"] == 1  # no call at all

    conn.states.append(libvirt.VIR_DOMAIN_RUNNING)
    conn.fire()  # another client started a domain: the counts go, the static facts stay
    assert cache.fresh(conn) is None
    assert cache.read(conn).vm_counts == VmCounts(running=2, total=4)
    assert conn.calls["getAllDomainStats"] == 2 and static_calls(conn) == reads


def test_a_change_of_jvps_drops_the_counts_at_once():
    cache, conn = HostFactsCache(), FakeConn()
    cache.read(conn)
    conn.states[1] = libvirt.VIR_DOMAIN_RUNNING
    cache.changed(conn)  # the gateway's _write, before libvirt's event arrives
    assert cache.fresh(conn) is None
    assert cache.read(conn).vm_counts == VmCounts(running=2, total=3)


def test_a_count_read_while_a_change_happened_is_not_kept():
    cache, conn = HostFactsCache(), FakeConn()
    cache.read(conn)
    cache.changed(conn)
    real = conn.getAllDomainStats

    def racing(*args):
        out = real(*args)
        cache.changed(conn)  # a change lands after libvirt answered, before the answer is kept
        return out
    conn.getAllDomainStats = racing
    cache.read(conn)
    assert cache.fresh(conn) is None  # read again next time, never the count from before the change


def test_counts_expire_after_their_ttl_and_static_facts_after_theirs():
    cache, conn = HostFactsCache(static_ttl_s=0.2, counts_ttl_s=0.05), FakeConn()
    cache.read(conn)
    time.sleep(0.06)
    assert cache.fresh(conn) is None
    cache.read(conn)
    assert conn.calls["getAllDomainStats"] == 2 and conn.calls["getHostname"] == 1
    conn.hostname = "renamed"
    time.sleep(0.2)
    assert cache.read(conn).hostname == "renamed"


def test_a_connection_without_events_never_keeps_its_counts():
    cache, conn = HostFactsCache(), FakeConn(events=False)
    cache.read(conn)
    cache.read(conn)
    assert cache.fresh(conn) is None
    assert conn.calls["getAllDomainStats"] == 2 and conn.calls["getHostname"] == 1


def test_a_new_connection_starts_empty():
    cache, old, new = HostFactsCache(), FakeConn(), FakeConn(hostname="h2")
    cache.read(old)
    assert cache.fresh(new) is None
    assert cache.read(new).hostname == "h2" and new.calls["getHostname"] == 1


# -- through the gateway ------------------------------------------------------------------------------------
class Estate:
    def __init__(self):
        self.conns: list[FakeConn] = []
        self.uris = {"a": "qemu+tcp://a/system"}
        self.pool = ConnectionPool(open_timeout_s=1.0, opener=self.open, probe_interval_s=60)
        self.gw = NodeGateway(self.pool, lambda n: (n, self.uris[n]))

    def open(self, _uri: str) -> FakeConn:
        self.conns.append(FakeConn(hostname=f"h{len(self.conns) + 1}"))
        return self.conns[-1]


@pytest.fixture
def estate():
    HOST_FACTS.clear()
    e = Estate()
    yield e
    e.gw.close()
    HOST_FACTS.clear()


def test_gateway_answers_from_the_cache_only_for_the_open_live_connection(estate):
    gw, uri = estate.gw, estate.uris["a"]
    assert gw.cached_host_facts("a", uri) is None  # no connection yet: nothing opened by asking
    assert estate.conns == []
    facts = gw.host_facts("a")
    assert gw.cached_host_facts("a", uri) == facts
    conn = estate.conns[0]
    calls = sum(conn.calls.values())
    for _ in range(5):
        assert gw.cached_host_facts("a", uri) == facts
    assert sum(conn.calls.values()) == calls  # answered without a call to the node

    # any write through the gateway drops the counts at once
    gw.run_raw("a", lambda c: c.getLibVersion())
    assert gw.cached_host_facts("a", uri) is None

    # the connection dies (libvirt's close callback, keepalive): no cached answer, a new connection re-reads all
    gw.host_facts("a")
    conn.drop()
    assert gw.cached_host_facts("a", uri) is None
    assert gw.host_facts("a").hostname == "h2"
    assert estate.conns[1].calls["getHostname"] == 1

    # the node's URI changed: the cached answer belongs to the old connection
    assert gw.cached_host_facts("a", "qemu+tcp://elsewhere/system") is None


def test_a_node_known_dead_gets_no_cached_answer(estate):
    gw, uri = estate.gw, estate.uris["a"]
    gw.host_facts("a")
    assert gw.cached_host_facts("a", uri) is not None
    gw.health.mark_dead("a", "NodeTimeout", "node 'a' did not answer within 1s")
    assert gw.cached_host_facts("a", uri) is None  # the listing shows it offline with its error, as before
    gw.health.mark_alive("a")
    assert gw.cached_host_facts("a", uri) is not None
