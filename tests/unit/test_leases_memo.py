"""vm_net.leases_by_mac: a driver that answered it has no DHCP lease listing is not asked again on the same
connection (list-vms asked, and failed, once per node per listing); another connection is asked afresh."""
from __future__ import annotations

import libvirt

from jvp.hypervisor import vm_net


class Net:
    def __init__(self, conn):
        self.conn = conn

    def DHCPLeases(self):  # noqa: N802
        self.conn.asked += 1
        if not self.conn.leases:
            err = libvirt.libvirtError("this function is not supported by the connection driver")
            err.err = (libvirt.VIR_ERR_NO_SUPPORT,)
            raise err
        return [{"mac": "52:54:00:AA:00:01", "ipaddr": "10.0.0.5"}]


class Conn:
    def __init__(self, leases: bool):
        self.leases, self.asked = leases, 0

    def networkLookupByName(self, name):  # noqa: N802
        return Net(self)


def test_a_driver_without_leases_is_asked_once_per_connection():
    test_driver = Conn(leases=False)
    assert vm_net.leases_by_mac(test_driver, {"lan", "back"}) is None
    assert vm_net.leases_by_mac(test_driver, {"lan", "back"}) is None
    assert test_driver.asked == 1
    other = Conn(leases=True)
    assert vm_net.leases_by_mac(other, {"lan"}) == {"52:54:00:aa:00:01": ["10.0.0.5"]}
    assert vm_net.leases_by_mac(other, {"lan"}) == {"52:54:00:aa:00:01": ["10.0.0.5"]}
    assert other.asked == 2  # a driver with leases is asked every listing (they change)
