"""The test driver's crash guard (jvp/hypervisor/vm_net.py) on libvirt's test driver: a domain with a NIC on a
network without IP is never asked for its addresses; within one listing the connection's URI and each network
are read once (CrashMemo), and a caller that has read the domain's XML passes its NIC networks instead of the
guard reading the XML again."""
from __future__ import annotations

import shutil

import libvirt
import pytest

from jvp.hypervisor import domain_describe, vm_net
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "hosts" / "foreign.xml"


@pytest.fixture
def conn(tmp_path):
    path = tmp_path / "foreign.xml"
    shutil.copyfile(FIXTURE, path)
    libvirt.registerErrorHandler(lambda *_: None, None)
    c = libvirt.open(f"test://{path}")
    yield c
    c.close()


def test_the_guard_knows_a_network_without_ip_with_or_without_the_callers_nics(conn):
    noip, plain = conn.lookupByName("noip-running"), conn.lookupByName("plain-running")
    assert vm_net.test_driver_would_crash(noip) is True
    assert vm_net.test_driver_would_crash(plain) is False
    memo = vm_net.CrashMemo()
    assert vm_net.test_driver_would_crash(noip, ["lab-noip", "lab-bridged"], memo) is True
    assert vm_net.test_driver_would_crash(plain, ["lab-multi"], memo) is False
    assert memo.test_driver is True and memo.ipless == {"lab-noip": True, "lab-multi": False}
    # a network named by nothing on the node (deleted) is not remembered: the driver answers NO_NETWORK for it
    assert vm_net.test_driver_would_crash(plain, ["deleted-net"], memo) is False
    assert "deleted-net" not in memo.ipless


def test_the_memo_answers_without_reading_the_network_again(conn):
    memo = vm_net.CrashMemo(test_driver=True, ipless={"lab-multi": True})  # what an earlier domain found
    assert vm_net.test_driver_would_crash(conn.lookupByName("plain-running"), ["lab-multi"], memo) is True


def test_a_listing_answers_every_domain_and_no_address_of_the_guarded_one(conn):
    rows = {r["name"]: r for r in domain_describe.summaries(conn, "local")}
    assert rows["noip-running"]["state"] == "running" and rows["noip-running"]["ips"] == []
    assert len(rows) == len(conn.listAllDomains(0))


# -- describe-vm's network checks (issue 15: one lookup per network a NIC names, not a listing of them all) ----
class _Net:
    def __init__(self, xml: str):
        self.xml = xml

    def XMLDesc(self, _flags=0):  # noqa: N802 - libvirt's names
        return self.xml


class _NetConn:
    def __init__(self, networks: dict[str, str], code: int = libvirt.VIR_ERR_NO_NETWORK):
        self.networks, self.code, self.looked_up, self.uris, self.listed = networks, code, [], 0, 0
        self.read: list[str] = []  # the networks whose XML was read

    def networkLookupByName(self, name):  # noqa: N802
        self.looked_up.append(name)
        if name not in self.networks:
            err = libvirt.libvirtError("no network")
            err.get_error_code = lambda: self.code
            raise err
        return _Net(self.networks[name])

    def getURI(self):  # noqa: N802
        self.uris += 1
        return "test:///x.xml"

    def listAllNetworks(self, *_):  # noqa: N802
        """The listing of the node's networks (kept per connection by listing_memo)."""
        self.listed += 1
        if self.code != libvirt.VIR_ERR_NO_NETWORK:
            err = libvirt.libvirtError("no network API")
            err.get_error_code = lambda: self.code
            raise err
        return [_Named(n, self) for n in self.networks]


class _Named:
    def __init__(self, name: str, conn: _NetConn):
        self._name, self._conn = name, conn

    def name(self):
        return self._name

    def XMLDesc(self, _flags=0):  # noqa: N802
        self._conn.read.append(self._name)
        return self._conn.networks[self._name]


def test_on_the_test_driver_the_kept_networks_fill_the_crash_guard_without_a_lookup():
    """On the test driver describe-vm learns which networks exist and which have no IP block from the node's
    network listing, kept until a network event (listing_memo): three describes make one listing and read
    each network's XML once, and the crash guard then looks nothing up."""
    from jvp.hypervisor.domain_describe import nic_networks_present
    from jvp.hypervisor.listing_memo import LISTING
    LISTING.clear()
    try:
        conn = _NetConn({"lan": "<network><ip address='10.0.0.1'/></network>", "iso": "<network/>"})
        conn.networkEventRegisterAny = lambda *_: 1  # a driver with network events: the answers are kept
        for _ in range(3):
            memo = vm_net.CrashMemo(test_driver=True)
            present = nic_networks_present(conn, ("lan", "gone", None, "lan", "iso"), memo)
            assert present == {"lan", "iso"}  # "gone" is a dangling NIC: network_problems reports it
            assert memo.ipless == {"lan": False, "iso": True}
            assert vm_net.test_driver_would_crash(conn_dom(conn), ["lan", "iso"], memo) is True
            assert vm_net.test_driver_would_crash(conn_dom(conn), ["lan"], memo) is False
        assert conn.looked_up == [] and sorted(conn.read) == ["iso", "lan"]
        assert conn.listed == 2  # the names once, the IP-less ones once
        LISTING.changed(conn)  # JVP changed the node (or a network event came): read again
        conn.networks["lan"] = "<network/>"
        memo = vm_net.CrashMemo(test_driver=True)
        nic_networks_present(conn, ("lan",), memo)
        assert memo.ipless == {"lan": True, "iso": True}
    finally:
        LISTING.clear()


def test_without_network_events_the_test_driver_reads_the_networks_every_time():
    from jvp.hypervisor.domain_describe import nic_networks_present
    from jvp.hypervisor.listing_memo import LISTING
    LISTING.clear()
    try:
        conn = _NetConn({"iso": "<network/>"})  # no networkEventRegisterAny: nothing can be kept
        for _ in range(2):
            memo = vm_net.CrashMemo(test_driver=True)
            assert nic_networks_present(conn, ("iso",), memo) == {"iso"} and memo.ipless == {"iso": True}
        assert conn.listed == 4 and conn.read == ["iso", "iso"]
    finally:
        LISTING.clear()


def test_a_driver_without_networks_checks_no_nic():
    from jvp.hypervisor.domain_describe import nic_networks_present
    conn = _NetConn({}, code=libvirt.VIR_ERR_NO_SUPPORT)
    assert nic_networks_present(conn, ("lan",), vm_net.CrashMemo(test_driver=False)) is None


def test_another_driver_answers_from_the_kept_network_names_without_a_lookup():
    from jvp.hypervisor.domain_describe import nic_networks_present
    from jvp.hypervisor.listing_memo import LISTING
    LISTING.clear()
    try:
        conn = _NetConn({"lan": "<network/>", "iso": "<network/>"})
        conn.networkEventRegisterAny = lambda *_: 1  # a driver with network events: the names are kept
        for _ in range(3):
            assert nic_networks_present(conn, ("lan", "gone", None), vm_net.CrashMemo(test_driver=False)) == {"lan"}
        assert conn.looked_up == [] and conn.listed == 1  # one listing for the three describes, no lookup
    finally:
        LISTING.clear()


def test_the_test_drivers_uri_is_read_once_per_connection():
    conn = _NetConn({})
    assert vm_net.is_test_driver(conn) and vm_net.is_test_driver(conn)
    assert conn.uris == 1


def conn_dom(conn):
    class Dom:
        def connect(self):
            return conn
    return Dom()
