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
