"""The VM part of the node gateway: no operation of one resource's mixin shadows another's (NodeGateway is one
class over all of them, so a name used twice would silently call the wrong one), and libvirt's domain
capabilities read into the plain view the VM rules use."""
from __future__ import annotations

import libvirt

from jvp.hypervisor import host_caps
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.gateway.base import GatewayBase
from tests.unit.fakes.vm import FakeVmGateway


def test_no_gateway_operation_is_defined_by_two_mixins():
    seen: dict[str, str] = {}
    clashes = []
    for mixin in NodeGateway.__mro__[1:]:
        if mixin in (GatewayBase, object):
            continue
        for name in vars(mixin):
            if name.startswith("_"):
                continue
            if name in seen:
                clashes.append(f"{name}: {seen[name]} and {mixin.__name__}")
            seen[name] = mixin.__name__
    assert not clashes, clashes


def test_the_vm_fake_has_only_methods_of_the_gateway():
    public = {n for n in vars(FakeVmGateway) if not n.startswith("_") and callable(getattr(FakeVmGateway, n))}
    assert public <= set(dir(NodeGateway)), sorted(public - set(dir(NodeGateway)))


class Conn:
    def __init__(self, xml: str):
        self.xml = xml

    def getDomainCapabilities(self, *args):  # noqa: N802 - libvirt's name
        return self.xml


CAPS = """<domainCapabilities>
  <os supported='yes'><enum name='firmware'><value>efi</value></enum></os>
  <cpu>
    <mode name='host-passthrough' supported='yes'/>
    <mode name='host-model' supported='yes'><model fallback='forbid'>EPYC-Rome</model></mode>
    <mode name='custom' supported='yes'><model usable='no'>EPYC-Rome</model><model usable='yes'>qemu64</model></mode>
    <mode name='maximum' supported='no'/>
  </cpu>
</domainCapabilities>"""


def test_domain_capabilities_become_a_plain_view():
    caps = host_caps.domain_caps(Conn(CAPS), "kvm", "x86_64")
    assert caps.published and caps.efi is True
    assert caps.cpu_modes_supported == {"host-passthrough", "host-model", "custom"}
    assert caps.cpu_mode_usable("host-passthrough") and not caps.cpu_mode_usable("host-model")  # EPYC unusable
    assert not caps.cpu_mode_supported("maximum")


def test_a_driver_without_domain_capabilities_publishes_none(monkeypatch):
    err = libvirt.libvirtError("no support")
    monkeypatch.setattr(err, "get_error_code", lambda: libvirt.VIR_ERR_NO_SUPPORT)

    class NoCaps:
        def getDomainCapabilities(self, *args):  # noqa: N802
            raise err
    caps = host_caps.domain_caps(NoCaps(), "test", "i686")
    assert not caps.published and caps.efi is None
    assert caps.cpu_mode_supported("host-model") and not caps.cpu_mode_usable("host-model")
