"""os_profile windows: the domain document (hypervisor/domain_windows.py) and the device rules
(service/vm/profile.py)."""
from __future__ import annotations

import pytest

from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice, VmFacts
from jvp.errors import InvalidInput
from jvp.hypervisor import domain_view
from jvp.hypervisor.domain_windows import ENLIGHTENMENTS, NOT_UNDER_TCG, enlightenments, os_profile
from jvp.hypervisor.domain_xml import build_domain
from jvp.hypervisor.xml import parse
from jvp.hypervisor.xml.domain import Domain
from jvp.service.vm import profile


def spec(**kw) -> DomainSpec:
    base = dict(name="win", uuid="0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00bbbb", vcpus=2, memory_mib=2048,
                domain_type="qemu", arch="x86_64", cpu_mode=None, os_profile="windows",
                disks=[DiskDevice("sda", "/p/win-root.qcow2", "qcow2", bus="sata"),
                       DiskDevice("hda", "/p/win.iso", "raw", bus="ide", device="cdrom"),
                       DiskDevice("hdb", "/p/virtio-win.iso", "raw", bus="ide", device="cdrom")],
                nics=[NicDevice("network", "default", "52:54:00:00:00:01", "e1000e")],
                facts=VmFacts(created_at="2026-01-01T00:00:00Z", system_disk="sda"))
    base.update(kw)
    return DomainSpec(**base)


def test_windows_domain_has_hyperv_localtime_clock_and_tablet():
    dom = Domain(build_domain(spec(domain_type="kvm")))
    hv = dom.hyperv
    assert hv.mode == "custom"
    assert all(getattr(hv, name) == "on" for name in ENLIGHTENMENTS)
    assert hv.spinlocks == "on" and hv.spinlock_retries == 8191
    assert dom.clock.offset == "localtime"
    assert dom.clock.timer("hypervclock").present == "yes"
    assert [(i.type, i.bus) for i in dom.inputs] == [("tablet", "usb")]
    assert [(d.target, d.bus) for d in dom.disks] == [("sda", "sata"), ("hda", "ide"), ("hdb", "ide")]
    assert [n.model for n in dom.interfaces] == ["e1000e"]
    assert dom.facts.os_profile == "windows" and os_profile(dom) == "windows"


def test_a_tcg_guest_goes_without_vpindex_synic_and_stimer():
    hv = Domain(build_domain(spec(domain_type="qemu"))).hyperv
    assert [getattr(hv, name) for name in NOT_UNDER_TCG] == [None, None, None]
    assert all(getattr(hv, name) == "on" for name in enlightenments("qemu"))
    assert hv.relaxed == "on" and hv.spinlock_retries == 8191
    assert set(enlightenments("kvm")) - set(enlightenments("qemu")) == set(NOT_UNDER_TCG)


def test_linux_domain_is_unchanged_by_the_profile():
    dom = Domain(build_domain(spec(os_profile="linux")))
    assert not dom.hyperv.exists() and dom.clock.offset == "utc" and dom.clock.timer("hypervclock") is None
    assert dom.facts.os_profile is None and os_profile(dom) == "linux"


def test_describe_shows_the_profile_also_from_libosinfo():
    foreign = parse("<domain type='kvm'><name>w</name><uuid>0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00cccc</uuid>"
                    "<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>"
                    "<libosinfo:os id='http://microsoft.com/win/2k22'/></libosinfo:libosinfo></metadata>"
                    "<memory>1048576</memory><os><type>hvm</type></os><devices/></domain>")
    view = domain_view.describe(foreign, node="local", state="stopped", persistent=True, autostart=False,
                                volumes={}, ips={}, agent=None)
    assert view.os_profile == "windows"
    built = domain_view.describe(build_domain(spec()), node="local", state="stopped", persistent=True,
                                 autostart=False, volumes={}, ips={}, agent=None)
    assert built.os_profile == "windows"


@pytest.mark.parametrize("req, blank, bus, models", [
    ({"nics": [{}]}, True, "virtio", ["virtio"]),
    ({"os_profile": "windows", "nics": [{}, {"model": "rtl8139"}]}, True, "sata", ["e1000e", "rtl8139"]),
    # with the driver ISO the defaults stay, VirtIO is taken when asked
    ({"os_profile": "windows", "virtio_iso": {"volume": "v"}, "nics": [{}]}, True, "sata", ["e1000e"]),
    ({"os_profile": "windows", "virtio_iso": {"volume": "v"}, "disk_bus": "virtio", "nics": [{"model": "virtio"}]},
     True, "virtio", ["virtio"]),
    # a prepared image (template or volume) may carry the drivers: VirtIO as asked
    ({"os_profile": "windows", "disk_bus": "virtio", "nics": [{"model": "virtio"}]}, False, "virtio", ["virtio"]),
])
def test_device_choice(req, blank, bus, models):
    d = profile.devices(req, blank_system_disk=blank)
    assert (d.disk_bus, d.nic_models) == (bus, models)


@pytest.mark.parametrize("req, field", [
    ({"os_profile": "windows", "disk_bus": "virtio"}, "disk_bus"),
    ({"os_profile": "windows", "nics": [{}, {"model": "virtio"}]}, "nics.1.model"),
    ({"virtio_iso": {"volume": "v"}}, "virtio_iso"),
])
def test_device_choices_that_cannot_work_are_refused(req, field):
    with pytest.raises(InvalidInput) as err:
        profile.devices(req, blank_system_disk=True)
    assert list(err.value.details["field_errors"]) == [field]


def test_disk_targets_follow_the_bus():
    assert profile.disk_target("sata", "vda") == "sda" and profile.disk_target("virtio", "vdc") == "vdc"
