"""create-vm with firmware uefi, secure_boot and tpm on libvirt's test driver (issue 18): the domain libvirt
keeps, what describe-vm shows, the 400s, and delete-vm of such a VM. The NVRAM file and swtpm state on a real
node: tests/host/test_uefi_host.py; the NotSupported answers from a node's capabilities:
tests/unit/test_vm_firmware.py (the test driver publishes no domain capabilities)."""
from __future__ import annotations

import pytest

from tests.api.test_vm_create import add_volume, create, domain_xml, inventory


def test_uefi_secure_boot_and_tpm_reach_the_domain_and_describe_vm(api):
    create(api, {"name": "sb1", "volume": "scratch.raw", "firmware": "uefi", "secure_boot": True, "tpm": True,
                 "start": False})
    root = domain_xml(api, "sb1")
    assert root.find("os").get("firmware") == "efi" and root.find("os/type").get("machine") == "q35"
    assert {f.get("name"): f.get("enabled") for f in root.findall("os/firmware/feature")} == \
        {"secure-boot": "yes", "enrolled-keys": "yes"}
    assert root.find("features/smm").get("state") == "on"
    assert root.find("devices/tpm").get("model") == "tpm-crb"
    assert root.find("devices/tpm/backend").attrib == {"type": "emulator", "version": "2.0"}
    vm = api.ok("describe-vm", {"name": "sb1"}, role="viewer")["vm"]
    assert (vm["firmware"], vm["secure_boot"], vm["tpm"]) == ("uefi", True, True)
    # under UEFI the empty drive for insert-media is a SCSI cdrom on virtio-scsi (the seed goes to sdb: the
    # test driver cannot upload one, tests/host/test_uefi_host.py has it)
    assert [(d["target"], d["bus"]) for d in vm["disks"] if d["device"] == "cdrom"] == [("sda", "scsi")]
    assert root.find("devices/controller[@type='scsi']").get("model") == "virtio-scsi"
    add_volume(api, "default", "sb1-install.iso")
    api.ok("insert-media", {"name": "sb1", "target": "sda", "volume": "sb1-install.iso"}, role="operator")
    vm = api.ok("describe-vm", {"name": "sb1"}, role="viewer")["vm"]
    assert [d["volume"] for d in vm["disks"] if d["target"] == "sda"] == ["sb1-install.iso"]


def test_uefi_with_tpm_and_without_secure_boot(api):
    create(api, {"name": "tpm1", "volume": "scratch.raw", "firmware": "uefi", "tpm": True, "start": False})
    root = domain_xml(api, "tpm1")
    assert root.find("os/type").get("machine") != "q35" and root.find("features/smm") is None
    assert {f.get("name"): f.get("enabled") for f in root.findall("os/firmware/feature")} == \
        {"secure-boot": "no", "enrolled-keys": "no"}
    vm = api.ok("describe-vm", {"name": "tpm1"}, role="viewer")["vm"]
    assert (vm["firmware"], vm["secure_boot"], vm["tpm"]) == ("uefi", False, True)
    assert [(d["target"], d["bus"]) for d in vm["disks"] if d["device"] == "cdrom"] == [("sda", "scsi")]
    # delete-vm: the test driver keeps no NVRAM files and refuses the NVRAM flag: undefined without it
    res = api.ok("delete-vm", {"name": "tpm1"}, role="operator")
    assert res["nvram_removed"] is False
    api.error("describe-vm", {"name": "tpm1"}, status=404, code="VmNotFound", role="viewer")


def test_bios_vms_show_no_secure_boot_and_no_tpm(api):
    create(api, {"name": "plain1", "volume": "scratch.raw", "start": False})
    vm = api.ok("describe-vm", {"name": "plain1"}, role="viewer")["vm"]
    assert (vm["firmware"], vm["secure_boot"], vm["tpm"]) == ("bios", None, False)
    assert [(d["target"], d["bus"]) for d in vm["disks"] if d["device"] == "cdrom"] == [("hda", "ide")]


@pytest.mark.parametrize("body", [
    {"secure_boot": True},                                 # firmware defaults to bios
    {"secure_boot": True, "firmware": "bios"},
    {"secure_boot": True, "firmware": "bios", "tpm": True},
])
def test_secure_boot_without_uefi_is_refused_before_anything_is_made(api, body):
    before = inventory(api)
    err = api.error("create-vm", {"name": "bad1", "volume": "scratch.raw", **body}, status=400,
                    code="InvalidInput", role="operator")
    assert "secure_boot" in err["details"]["field_errors"]
    assert "firmware: uefi" in str(err["details"]["field_errors"]["secure_boot"])
    assert inventory(api) == before


@pytest.mark.parametrize("field,value", [("secure_boot", "yes please"), ("tpm", 2), ("tpm", None)])
def test_secure_boot_and_tpm_are_booleans(api, field, value):
    before = inventory(api)
    err = api.error("create-vm", {"name": "bad2", "volume": "scratch.raw", "firmware": "uefi", field: value},
                    status=400, code="ValidationFailed", role="operator")
    assert field in err["details"]["field_errors"]
    assert inventory(api) == before
