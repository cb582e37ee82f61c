"""create-vm with os_profile windows on libvirt's test driver: the installer path (blank disk, install ISO,
VirtIO driver ISO), the cloud-image path's devices, and the refusals."""
from __future__ import annotations

import pytest

from jvp.hypervisor.xml.domain import Domain
from tests.api.test_vm_create import add_volume, create, domain_xml, inventory


def test_installer_path_with_the_driver_iso(api):
    add_volume(api, "default", "win-setup.iso")
    add_volume(api, "default", "virtio-win.iso")
    create(api, {"name": "win-inst", "os_profile": "windows", "memory_mib": 2048, "disk_size_gib": 40,
                 "iso": {"volume": "win-setup.iso"}, "virtio_iso": {"volume": "virtio-win.iso"},
                 "nics": [{"network": "demo-nat"}], "start": False})
    vm = api.ok("describe-vm", {"name": "win-inst"}, role="viewer")["vm"]
    assert vm["os_profile"] == "windows"
    assert [(d["target"], d["bus"], d["device"], d["volume"]) for d in vm["disks"]] == [
        ("sda", "sata", "disk", "win-inst-root.qcow2"), ("hda", "ide", "cdrom", "win-setup.iso"),
        ("hdb", "ide", "cdrom", "virtio-win.iso")]
    assert vm["disks"][0]["system"] and vm["disks"][0]["capacity_bytes"] == 40 * 2**30
    assert [n["model"] for n in vm["nics"]] == ["e1000e"]
    dom = Domain(domain_xml(api, "win-inst"))
    assert dom.hyperv.mode == "custom" and dom.hyperv.spinlock_retries == 8191 and dom.hyperv.vpindex == "on"
    assert dom.clock.offset == "localtime" and dom.clock.timer("hypervclock").present == "yes"
    # the blank disk is skipped by the firmware, the install ISO (hda, the first cdrom) boots
    assert [b.dev for b in dom.os.boots] == ["hd", "cdrom"]


def test_cloud_image_path_takes_virtio_as_asked(api):
    """A prepared image may carry the VirtIO drivers. (The test driver cannot upload a seed ISO: the seed is
    checked in tests/unit/test_cloudbase_seed.py and on the real daemon in tests/host/test_windows_xml_host.py.)"""
    create(api, {"name": "win-cloud", "os_profile": "windows", "volume": "scratch.raw", "clone": "linked",
                 "nics": [{"network": "demo-nat"}, {"network": "demo-nat", "model": "virtio"}],
                 "disk_bus": "virtio", "start": False})
    vm = api.ok("describe-vm", {"name": "win-cloud"}, role="viewer")["vm"]
    assert vm["os_profile"] == "windows"
    assert [(d["target"], d["bus"]) for d in vm["disks"] if d["device"] == "disk"] == [("vda", "virtio")]
    assert [n["model"] for n in vm["nics"]] == ["e1000e", "virtio"]


def test_linux_stays_the_default(api):
    create(api, {"name": "lin", "disk_size_gib": 1, "nics": [{"network": "demo-nat"}], "start": False})
    vm = api.ok("describe-vm", {"name": "lin"}, role="viewer")["vm"]
    assert vm["os_profile"] == "linux" and vm["disks"][0]["bus"] == "virtio" and vm["nics"][0]["model"] == "virtio"
    assert not Domain(domain_xml(api, "lin")).hyperv.exists()


BAD = [
    ("virtio disk for Setup without drivers", {"os_profile": "windows", "disk_size_gib": 8, "disk_bus": "virtio"},
     400, "InvalidInput"),
    ("virtio NIC for Setup without drivers", {"os_profile": "windows", "disk_size_gib": 8,
                                              "nics": [{"network": "demo-nat", "model": "virtio"}]},
     400, "InvalidInput"),
    ("driver ISO for a Linux VM", {"disk_size_gib": 8, "virtio_iso": {"volume": "scratch.raw"}}, 400,
     "InvalidInput"),
    ("missing driver ISO", {"os_profile": "windows", "disk_size_gib": 8, "virtio_iso": {"volume": "nope.iso"}},
     404, "VolumeNotFound"),
    ("packages on Windows", {"os_profile": "windows", "disk_size_gib": 8, "cloud_init": {"packages": ["nginx"]}},
     400, "InvalidInput"),
    ("Linux path on Windows", {"os_profile": "windows", "disk_size_gib": 8,
                               "cloud_init": {"write_files": [{"path": "/etc/motd", "content": "x"}]}},
     400, "InvalidInput"),
    ("unknown profile", {"os_profile": "macos", "disk_size_gib": 8}, 400, "ValidationFailed"),
]


@pytest.mark.parametrize("what,body,status,code", BAD, ids=[b[0] for b in BAD])
def test_bad_windows_input_is_refused_and_leaves_nothing(api, what, body, status, code):
    before = inventory(api)
    err = api.error("create-vm", {"name": "w", **body}, status=status, code=code, role="operator")
    assert err["message"]
    assert inventory(api) == before
