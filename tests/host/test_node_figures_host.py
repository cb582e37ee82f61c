"""Node figures on the real libvirtd (tier 3) equal libvirt's own: PCI addresses as the node-device names
spell them (udev names them pci_DDDD_BB_SS_F in hex), memory as `virsh nodememstats` reports it."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest


def test_pci_addresses_match_libvirts_device_names(host_api):
    pci = host_api.ok("describe-node-pci", {"name": "local"})["pci"]
    if not pci:
        pytest.skip("the node reports no PCI devices")
    for dev in pci:
        m = re.fullmatch(r"pci_([0-9a-f]{4})_([0-9a-f]{2})_([0-9a-f]{2})_([0-9a-f]+)", dev["name"])
        assert m, dev["name"]
        assert dev["address"] == f"{m[1]}:{m[2]}:{m[3]}.{m[4]}"


def test_node_memory_is_virsh_nodememstats_total(host_api):
    if not shutil.which("virsh"):
        pytest.skip("virsh is not installed")
    out = subprocess.run(["virsh", "-c", "qemu:///system", "nodememstats"], check=True, capture_output=True,
                         text=True).stdout
    total_kib = int(re.search(r"total\s*:\s*(\d+) KiB", out).group(1))
    node = host_api.ok("describe-node", {"name": "local"})["node"]
    assert node["memory_bytes"] == total_kib * 1024
