"""Node facts from libvirt: nested virtualization from domain capabilities, bulk VM counts, layering."""
from __future__ import annotations

import ast
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from jvp.domain.node import VmCounts
from jvp.hypervisor import host
from jvp.hypervisor.xml import parse

DOMCAPS = Path(__file__).resolve().parent.parent / "fixtures" / "domcaps"
REPO = Path(__file__).resolve().parent.parent.parent
# What libvirt's cpu_map says the named models contain (the part that matters here).
MODELS = {"EPYC-IBPB": {"svm", "sse4a", "avx2"}, "EPYC-Rome": {"svm", "sse4a", "avx2"},
          "Skylake-Client-IBRS": {"avx2", "hle"}, "Cascadelake-Server": {"avx512f", "hle"}}


def expand(model, _vendor):
    return MODELS.get(model)


@pytest.mark.parametrize("fixture,nested", [
    ("intel-nested-on.xml", True),       # host-model requires vmx
    ("amd-nested-on-model.xml", True),   # the model itself carries svm
    ("amd-nested-off.xml", False),       # the model's svm is disabled (KVM does not nest)
    ("intel-nested-off.xml", False),     # neither the model nor a policy gives vmx
    ("no-host-model.xml", None),         # libvirt cannot offer a host-model CPU: unknown
])
def test_nested_comes_from_the_host_model_cpu_of_domain_capabilities(fixture, nested):
    assert host.nested_from_domcaps(parse((DOMCAPS / fixture).read_text()), expand) is nested


def test_nested_is_unknown_when_the_model_cannot_be_expanded():
    assert host.nested_from_domcaps(parse((DOMCAPS / "amd-nested-on-model.xml").read_text()),
                                    lambda *_: None) is None
    # An explicit policy still decides.
    assert host.nested_from_domcaps(parse((DOMCAPS / "intel-nested-on.xml").read_text()),
                                    lambda *_: None) is True


CAPS = """<capabilities><host><cpu><arch>x86_64</arch><model>EPYC-IBPB</model><vendor>AMD</vendor>
  <feature name='svm'/></cpu></host>
  <guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/>{kvm}</arch></guest></capabilities>"""


class FakeConn:
    def __init__(self, kvm=True, domcaps="amd-nested-off.xml"):
        self.kvm = kvm
        self.domcaps = domcaps
        self.asked = []

    def getCapabilities(self):  # noqa: N802 - libvirt's names
        return CAPS.format(kvm="<domain type='kvm'/>" if self.kvm else "")

    def getDomainCapabilities(self, emulator, arch, machine, virttype, flags=0):  # noqa: N802
        self.asked.append((arch, virttype))
        return (DOMCAPS / self.domcaps).read_text()

    def baselineCPU(self, cpus, flags):  # noqa: N802
        model = etree.fromstring(cpus[0]).findtext("model")
        feats = "".join(f"<feature policy='require' name='{f}'/>" for f in MODELS[model])
        return f"<cpu mode='custom'><model>{model}</model>{feats}</cpu>"


def test_summary_virtualization_reads_domain_capabilities_not_host_flags():
    conn = FakeConn()
    virt = host._virtualization(conn, parse(conn.getCapabilities()))
    # The host CPU has svm, but KVM does not pass it on: not nested.
    assert virt.nested is False and virt.kvm_available is True
    assert conn.asked == [("x86_64", "kvm")]
    conn = FakeConn(domcaps="amd-nested-on-model.xml")
    assert host._virtualization(conn, parse(conn.getCapabilities())).nested is True


def test_no_kvm_means_no_nesting():
    conn = FakeConn(kvm=False)
    virt = host._virtualization(conn, parse(conn.getCapabilities()))
    assert virt.nested is False and virt.kvm_available is False and conn.asked == []


def test_vm_counts_come_from_one_bulk_call_with_list_vms_state_mapping(mocker):
    """vm_counts.running counts what list-vms state=running lists (issue 13): running and blocked, not paused,
    pm-suspended, crashed or shutting down."""
    conn = mocker.Mock()
    conn.getInfo.return_value = ["x86_64", 1024, 4, 2400, 1, 1, 4, 1]
    conn.getMemoryStats.return_value = {"total": 1048576}
    conn.getVersion.return_value = conn.getLibVersion.return_value = 9000000
    conn.getType.return_value = "QEMU"
    states = [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED,
              libvirt.VIR_DOMAIN_PMSUSPENDED, libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_SHUTDOWN,
              libvirt.VIR_DOMAIN_SHUTOFF]
    domains = [mocker.Mock() for _ in states]
    conn.getAllDomainStats.return_value = [(d, {"state.state": s, "state.reason": 0})
                                           for d, s in zip(domains, states)]
    facts = host.host_facts(conn)
    assert facts.vm_counts == VmCounts(running=2, total=7)
    assert conn.getAllDomainStats.call_count == 1
    assert all(not d.state.called for d in domains)  # no RPC per domain


def test_only_the_hypervisor_adapter_imports_libvirt():
    """README Layout: jvp/hypervisor/ is the only code that imports libvirt."""
    offenders = []
    for path in (REPO / "jvp").rglob("*.py"):
        if "hypervisor" in path.relative_to(REPO / "jvp").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "libvirt" or n.startswith("libvirt.") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
