"""list-vms' addresses from the DHCP leases of a node's networks (hypervisor/domain_describe.py `summaries`): a stopped VM
lists no address even while its last lease has not expired (as describe-vm, which libvirt answers "not running"),
and the leases of a network only stopped VMs use are not asked for. On a fake node with lease listing (the test
driver has none), two domains on one network whose leases both still hold."""
from __future__ import annotations

from collections import Counter

import libvirt
import pytest

from jvp.hypervisor import domain_describe
from jvp.hypervisor.listing_memo import LISTING

UUIDS = {"up": "00000000-0000-0000-0000-0000000000a1", "down": "00000000-0000-0000-0000-0000000000a2"}
MACS = {"up": "52:54:00:00:00:a1", "down": "52:54:00:00:00:a2"}


class FakeDomain:
    def __init__(self, name: str):
        self._name = name

    def name(self):
        return self._name

    def UUIDString(self):  # noqa: N802
        return UUIDS[self._name]

    def XMLDesc(self, _flags=0):  # noqa: N802
        return (f"<domain type='kvm'><name>{self._name}</name><uuid>{UUIDS[self._name]}</uuid>"
                "<memory unit='KiB'>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>"
                f"<interface type='network'><mac address='{MACS[self._name]}'/><source network='lab'/>"
                "</interface></devices></domain>")


class FakeNetwork:
    def __init__(self, conn: "FakeConn"):
        self.conn = conn

    def name(self):
        return "lab"

    def DHCPLeases(self, *_):  # noqa: N802
        self.conn.calls["DHCPLeases"] += 1
        return [{"mac": MACS["up"], "ipaddr": "198.18.20.11"}, {"mac": MACS["down"], "ipaddr": "198.18.20.12"}]


class FakeConn:
    def __init__(self, states: dict[str, int]):
        self.states = states
        self.calls: Counter[str] = Counter()

    def getAllDomainStats(self, *_):  # noqa: N802
        return [(FakeDomain(n), {"state.state": s, "state.reason": 1}) for n, s in self.states.items()]

    def listAllDomains(self, _flags=0):  # noqa: N802
        return []

    def listAllNetworks(self, _flags=0):  # noqa: N802
        return [FakeNetwork(self)]

    def networkLookupByName(self, name):  # noqa: N802
        assert name == "lab"
        return FakeNetwork(self)


@pytest.fixture(autouse=True)
def _fresh_memo():
    LISTING.clear()
    yield
    LISTING.clear()


def test_a_stopped_vm_lists_no_address_from_a_lease_that_still_holds():
    conn = FakeConn({"up": libvirt.VIR_DOMAIN_RUNNING, "down": libvirt.VIR_DOMAIN_SHUTOFF})
    rows = {r["name"]: r for r in domain_describe.summaries(conn, "n1")}
    assert rows["up"]["state"] == "running" and rows["up"]["ips"] == ["198.18.20.11"]
    assert rows["down"]["state"] == "stopped" and rows["down"]["ips"] == []
    assert conn.calls["DHCPLeases"] == 1


def test_a_network_only_stopped_vms_use_is_not_asked_for_leases():
    conn = FakeConn({"up": libvirt.VIR_DOMAIN_SHUTOFF, "down": libvirt.VIR_DOMAIN_SHUTOFF})
    rows = domain_describe.summaries(conn, "n1")
    assert [r["ips"] for r in rows] == [[], []]
    assert conn.calls["DHCPLeases"] == 0
