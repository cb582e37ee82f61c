"""The test driver's crash guard (jvp/hypervisor/vm_net.py) on libvirt's test driver: a domain with a NIC on a
network without IP is never asked for its addresses; within one listing the connection's URI and each network
are read once (CrashMemo), and a caller that has read the domain's XML passes its NIC networks instead of the
guard reading the XML again."""
from __future__ import annotations

import shutil

import libvirt
import pytest

from jvp.hypervisor import domain, vm_net
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
    rows = {r["name"]: r for r in domain.summaries(conn, "local")}
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
        """Another driver's listing of the node's networks (describe-vm's on a driver other than the test
        driver, kept per connection by listing_memo); the test driver's path never lists them."""
        if self.uris:
            raise AssertionError("on the test driver describe-vm lists no networks")
        self.listed += 1
        if self.code != libvirt.VIR_ERR_NO_NETWORK:
            err = libvirt.libvirtError("no network API")
            err.get_error_code = lambda: self.code
            raise err
        return [_Named(n) for n in self.networks]


class _Named:
    def __init__(self, name: str):
        self._name = name

    def name(self):
        return self._name


def test_only_the_networks_a_vm_names_are_looked_up_once_each():
    from jvp.hypervisor.domain import nic_networks_present
    conn = _NetConn({"lan": "<network><ip address='10.0.0.1'/></network>", "iso": "<network/>"})
    memo = vm_net.CrashMemo(test_driver=True)
    present = nic_networks_present(conn, ("lan", "gone", None, "lan", "iso"), memo)
    assert present == {"lan", "iso"}  # "gone" is a dangling NIC: network_problems reports it
    assert conn.looked_up == ["lan", "gone", "iso"]
    # the crash guard's memo is filled from the same lookups: it asks libvirt nothing more
    assert memo.ipless == {"lan": False, "iso": True}
    conn.looked_up.clear()
    assert vm_net.test_driver_would_crash(conn_dom(conn), ["lan", "iso"], memo) is True
    assert conn.looked_up == []


def test_a_driver_without_networks_checks_no_nic():
    from jvp.hypervisor.domain import nic_networks_present
    conn = _NetConn({}, code=libvirt.VIR_ERR_NO_SUPPORT)
    assert nic_networks_present(conn, ("lan",), vm_net.CrashMemo(test_driver=False)) is None


def test_another_driver_answers_from_the_kept_network_names_without_a_lookup():
    from jvp.hypervisor.domain import nic_networks_present
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
