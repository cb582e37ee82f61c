"""Node figures exactly as libvirt reports them (issue 13), on a test-driver node of their own
(tests/fixtures/hosts/node_figures.xml): memory that is no whole number of MiB, PCI addresses with hex parts."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "hosts" / "node_figures.xml"
NODE = "figures"


@pytest.fixture
def figures(api):
    return f"test://{api.add_fixture_node(NODE, FIXTURE)}"


def virsh(uri: str, *args: str) -> str:
    if not shutil.which("virsh"):
        pytest.skip("virsh is not installed")
    return subprocess.run(["virsh", "-c", uri, *args], check=True, capture_output=True, text=True).stdout


def test_node_memory_is_libvirts_figure_to_the_kib(api, figures):
    # virsh nodeinfo is the ground truth (the test driver keeps no memory statistics for nodememstats)
    kib = int(re.search(r"Memory size:\s+(\d+) KiB", virsh(figures, "nodeinfo")).group(1))
    assert kib % 1024 != 0  # the fixture's figure is no whole number of MiB: rounding would show
    node = api.ok("describe-node", {"name": NODE})["node"]
    assert node["memory_bytes"] == kib * 1024
    listed = {n["name"]: n for n in api.ok("list-nodes")["nodes"]}
    assert listed[NODE]["memory_bytes"] == kib * 1024
    summary = api.ok("describe-node-summary", {"name": NODE})["summary"]
    assert summary["memory"]["total_bytes"] == kib * 1024


def test_pci_addresses_are_hex_and_match_the_holder(api, figures):
    pci = {p["name"]: p for p in api.ok("describe-node-pci", {"name": NODE})["pci"]}
    # node device XML has decimal parts (domain 1, bus 21, slot 10, function 50): BDF notation is hex
    assert pci["pci_0001_15_0a_32"]["address"] == "0001:15:0a.32"
    assert pci["pci_0001_15_0a_3"]["address"] == "0001:15:0a.3"
    # the VM's <hostdev> names its device in hex attributes: both spellings meet in one address
    assert pci["pci_0001_15_0a_3"]["vm"] == "holder" and pci["pci_0001_15_0a_32"]["vm"] is None


def test_cpu_figures_are_virsh_nodeinfos(api, figures):
    out = virsh(figures, "nodeinfo")

    def field(label: str) -> int:
        return int(re.search(rf"{re.escape(label)}:\s+(\d+)", out).group(1))
    node = api.ok("describe-node", {"name": NODE})["node"]
    cpu = api.ok("describe-node-summary", {"name": NODE})["summary"]["cpu"]
    assert node["cpus"] == cpu["count"] == field("CPU(s)")
    assert cpu["mhz"] == field("CPU frequency")
    assert (cpu["sockets"], cpu["cores"], cpu["threads"]) == (
        field("CPU socket(s)"), field("Core(s) per socket"), field("Thread(s) per core"))
