"""Node figures as libvirt reports them (issue 13): PCI addresses in hex, the node's memory source."""
from __future__ import annotations

import pytest

from jvp.hypervisor import host, host_devices


@pytest.mark.parametrize("parts,address", [((0, 3, 0, 0), "0000:03:00.0"), ((1, 21, 10, 50), "0001:15:0a.32"),
                                           ((0x10, 0xff, 0x1f, 7), "0010:ff:1f.7")])
def test_pci_address_is_bdf_in_hex(parts, address):
    assert host_devices.pci_address(*parts) == address


@pytest.mark.parametrize("text,value", [("0x32", 50), ("0X0a", 10), ("10", 10), ("012", 10), ("0", 0)])
def test_address_attributes_parse_as_libvirt_parses_them(text, value):
    assert host_devices._c_uint(text) == value


class _NoCapsule:
    """A connection the exact call cannot reach (no binding pointer): the binding's rounded figure stands."""


def test_node_memory_prefers_memory_statistics_then_node_info():
    info = ["x86_64", 8191, 4, 2400, 1, 1, 2, 2]
    assert host.node_memory_bytes(_NoCapsule(), info, {"total": 8388000 * 1024}) == 8388000 * 1024
    assert host.node_memory_bytes(_NoCapsule(), info, None) == 8191 * 1024 * 1024
