"""What list-vms keeps per connection besides the domains' XML facts (hypervisor/listing_memo.py, issue 15): the
transient domains until a domain event, the network names until a network event, both until a change of
JVP's (the gateway's `_write`) or their age limit; a connection without events of a kind keeps nothing of it.
On fake connections that count their calls and deliver events as libvirt's event loop would."""
from __future__ import annotations

import time
from collections import Counter

import libvirt
import pytest

from jvp.hypervisor.connection import ConnectionPool
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.listing_memo import LISTING, ListingMemo
from tests.unit.fakes.connection import PoolableConn


class FakeDomain:
    def __init__(self, uuid: str):
        self.uuid = uuid

    def UUIDString(self):  # noqa: N802
        return self.uuid

    def name(self):
        return f"vm-{self.uuid[-1]}"


class FakeNetwork:
    def __init__(self, name: str):
        self._name = name

    def name(self):
        return self._name


class FakeConn(PoolableConn):
    """A node: its transient domains and networks, the calls made to it, its event callbacks."""

    def __init__(self, domain_events: bool = True, network_events: bool = True, networks: bool = True):
        self.calls: Counter[str] = Counter()
        self.domain_events, self.network_events, self.has_networks = domain_events, network_events, networks
        self.domain_callbacks: list = []
        self.network_callbacks: list = []
        self.pool_callbacks: list = []
        self.transient = {"00000000-0000-0000-0000-000000000001"}
        self.networks = {"default", "lab"}

    def domainEventRegisterAny(self, _dom, _event_id, callback, _opaque):  # noqa: N802
        if not self.domain_events:
            raise libvirt.libvirtError("this function is not supported by the connection driver")
        self.domain_callbacks.append(callback)
        return len(self.domain_callbacks)

    def networkEventRegisterAny(self, _net, event_id, callback, _opaque):  # noqa: N802
        assert event_id == libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE
        if not self.network_events:
            raise libvirt.libvirtError("this function is not supported by the connection driver")
        self.network_callbacks.append(callback)
        return len(self.network_callbacks)

    def fire_domain(self) -> None:
        """A domain event, as libvirt's event loop delivers it (a domain was undefined, say)."""
        for cb in self.domain_callbacks:
            cb(self, FakeDomain("00000000-0000-0000-0000-00000000000f"), libvirt.VIR_DOMAIN_EVENT_UNDEFINED, 0)

    def fire_network(self) -> None:
        for cb in self.network_callbacks:
            cb(self, FakeNetwork("lab"), libvirt.VIR_NETWORK_EVENT_UNDEFINED, 0, None)

    def listAllDomains(self, flags=0):  # noqa: N802
        assert flags == libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT
        self.calls["listAllDomains"] += 1
        return [FakeDomain(u) for u in sorted(self.transient)]

    def listAllNetworks(self, _flags=0):  # noqa: N802
        self.calls["listAllNetworks"] += 1
        if not self.has_networks:
            err = libvirt.libvirtError("this function is not supported by the connection driver: "
                                       "virConnectListAllNetworks")
            err.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, err.get_error_message(), 0, None, None, None, 0, 0)
            raise err
        return [FakeNetwork(n) for n in sorted(self.networks)]

    def getLibVersion(self):  # noqa: N802
        return 10000000

    # -- storage pools: which pool holds a volume (describe-vm's disks) ---------------------------------
    pool_events = True

    def storagePoolEventRegisterAny(self, _pool, event_id, callback, _opaque):  # noqa: N802
        if not self.pool_events:
            raise libvirt.libvirtError("this function is not supported by the connection driver")
        self.pool_callbacks.append((event_id, callback))
        return len(self.pool_callbacks)

    def fire_pool(self, event_id: int = libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE) -> None:
        for registered, cb in self.pool_callbacks:
            if registered == event_id:
                if event_id == libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE:
                    cb(self, FakePool("images", self), libvirt.VIR_STORAGE_POOL_EVENT_STOPPED, 0, None)
                else:
                    cb(self, FakePool("images", self), None)


class FakePool:
    def __init__(self, name: str, conn: FakeConn):
        self._name, self._conn = name, conn

    def name(self):
        return self._name


class FakeVolume:
    """A volume whose pool is asked of libvirt (storagePoolLookupByVolume: a round trip to the node)."""

    def __init__(self, conn: FakeConn, pool: str):
        self.conn, self.pool = conn, pool

    def storagePoolLookupByVolume(self):  # noqa: N802
        self.conn.calls["storagePoolLookupByVolume"] += 1
        return FakePool(self.pool, self.conn)


def test_both_answers_are_kept_until_an_event_of_their_kind():
    memo, conn = ListingMemo(), FakeConn()
    for _ in range(3):
        assert memo.transient(conn) == {"00000000-0000-0000-0000-000000000001"}
        assert memo.networks(conn) == {"default", "lab"}
    assert conn.calls == {"listAllDomains": 1, "listAllNetworks": 1}  # one call each, then none

    conn.transient.add("00000000-0000-0000-0000-000000000002")
    conn.fire_domain()  # another client made a transient domain: only the domain part goes
    assert memo.transient(conn) == {"00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"}
    assert memo.networks(conn) == {"default", "lab"}
    assert conn.calls == {"listAllDomains": 2, "listAllNetworks": 1}

    conn.networks.discard("lab")
    conn.fire_network()  # another client deleted a network: only the network part goes
    assert memo.networks(conn) == {"default"}
    memo.transient(conn)
    assert conn.calls == {"listAllDomains": 2, "listAllNetworks": 2}


def test_the_answers_given_are_copies():
    memo, conn = ListingMemo(), FakeConn()
    memo.networks(conn).add("mine")
    memo.transient(conn).clear()
    assert memo.networks(conn) == {"default", "lab"}
    assert memo.transient(conn) == {"00000000-0000-0000-0000-000000000001"}


def test_a_change_of_jvps_drops_both_at_once():
    memo, conn = ListingMemo(), FakeConn()
    memo.transient(conn), memo.networks(conn)
    conn.networks.add("new")
    memo.changed(conn)  # the gateway's _write, before libvirt's event arrives
    assert memo.networks(conn) == {"default", "lab", "new"}
    memo.transient(conn)
    assert conn.calls == {"listAllDomains": 2, "listAllNetworks": 2}


def test_an_answer_read_while_an_event_came_is_not_kept():
    memo, conn = ListingMemo(), FakeConn()
    memo.networks(conn)
    conn.fire_network()
    real = conn.listAllNetworks

    def racing(flags=0):
        out = real(flags)
        conn.fire_network()  # a network changes after libvirt answered, before the answer is kept
        return out
    conn.listAllNetworks = racing
    memo.networks(conn)
    conn.listAllNetworks = real
    memo.networks(conn)
    assert conn.calls["listAllNetworks"] == 3  # the raced answer was not kept: read again


def test_without_events_of_a_kind_that_part_is_read_every_time():
    memo = ListingMemo()
    no_domain_events = FakeConn(domain_events=False)
    no_network_events = FakeConn(network_events=False)
    for conn in (no_domain_events, no_network_events):
        for _ in range(2):
            memo.transient(conn), memo.networks(conn)
    assert no_domain_events.calls == {"listAllDomains": 2, "listAllNetworks": 1}
    assert no_network_events.calls == {"listAllDomains": 1, "listAllNetworks": 2}


def test_a_driver_without_networks_answers_none_and_that_is_kept():
    memo, conn = ListingMemo(), FakeConn(networks=False)
    assert memo.networks(conn) is None and memo.networks(conn) is None
    assert conn.calls["listAllNetworks"] == 1


def test_the_answers_expire_after_their_age_limit_and_a_new_connection_starts_empty():
    memo, conn = ListingMemo(max_age_s=0.05), FakeConn()
    memo.networks(conn)
    conn.networks.add("late")  # its event lost (a reconnect of the event stream, say)
    time.sleep(0.06)
    assert memo.networks(conn) == {"default", "lab", "late"}
    other = FakeConn()
    other.networks = {"elsewhere"}
    assert memo.networks(other) == {"elsewhere"}


def test_a_volumes_pool_is_asked_once_and_kept_until_a_pool_event():
    memo, conn = ListingMemo(), FakeConn()
    vol = FakeVolume(conn, "images")
    for _ in range(3):
        assert memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol) == "images"
    assert conn.calls["storagePoolLookupByVolume"] == 1
    assert memo.pool_of_volume(conn, "/srv/images/b.qcow2", FakeVolume(conn, "images")) == "images"
    assert conn.calls["storagePoolLookupByVolume"] == 2  # kept per volume path

    vol.pool = "other"  # the pools changed (another pool now holds the path): their event drops the answers
    conn.fire_pool()
    assert memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol) == "other"
    conn.fire_pool(libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH)  # a refresh may add or drop volumes: too
    memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol)
    memo.changed(conn)  # and so does any change of JVP's on the node
    memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol)
    assert conn.calls["storagePoolLookupByVolume"] == 5


def test_a_volumes_pool_is_asked_every_time_without_pool_events():
    memo, conn = ListingMemo(), FakeConn()
    conn.pool_events = False
    vol = FakeVolume(conn, "images")
    for _ in range(2):
        assert memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol) == "images"
    assert conn.calls["storagePoolLookupByVolume"] == 2


def test_a_volumes_pool_asked_while_a_pool_event_came_is_not_kept():
    memo, conn = ListingMemo(), FakeConn()
    vol = FakeVolume(conn, "images")
    memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol)
    conn.fire_pool()

    class Racing(FakeVolume):
        def storagePoolLookupByVolume(self):  # noqa: N802
            got = super().storagePoolLookupByVolume()
            self.conn.fire_pool()  # a pool stops after libvirt answered, before the answer is kept
            return got
    memo.pool_of_volume(conn, "/srv/images/a.qcow2", Racing(conn, "images"))
    memo.pool_of_volume(conn, "/srv/images/a.qcow2", vol)
    assert conn.calls["storagePoolLookupByVolume"] == 3


# -- through the gateway ------------------------------------------------------------------------------------
@pytest.fixture
def gateway():
    LISTING.clear()
    conns: list[FakeConn] = []

    def opener(_uri: str) -> FakeConn:
        conns.append(FakeConn())
        return conns[-1]
    gw = NodeGateway(ConnectionPool(open_timeout_s=1.0, opener=opener, probe_interval_s=60),
                     lambda n: (n, "qemu+tcp://a/system"))
    yield gw, conns
    gw.close()
    LISTING.clear()


def test_any_write_through_the_gateway_drops_what_the_listing_keeps(gateway):
    gw, conns = gateway
    gw.run_raw("a", LISTING.networks)
    gw.run_raw("a", LISTING.networks)  # run_raw counts as a write: it drops the memo after it ran
    assert conns[0].calls["listAllNetworks"] == 2
    gw._read("a", LISTING.networks, kind="node")
    gw._read("a", LISTING.networks, kind="node")  # reads keep it
    assert conns[0].calls["listAllNetworks"] == 3
