"""UEFI guests with a TPM on the real libvirtd (tier 3, issue 18).

The cached Debian cloud image (tests/fixtures/build-guest-image.sh) is hybrid: extlinux for BIOS, and an EFI
System Partition with a standalone GRUB at \\EFI\\BOOT\\BOOTX64.EFI for UEFI. A VM made from it with
firmware: uefi, secure_boot: false, tpm: true boots under OVMF (the guest agent answers), the guest sees UEFI
(/sys/firmware/efi) and the emulated TPM 2.0 (/dev/tpm0, /dev/tpmrm0), and delete-vm removes the NVRAM file
and swtpm's state. A second VM with secure_boot: true is started to see libvirt pick the Secure Boot OVMF
on q35 with SMM and an NVRAM made from the enrolled-keys template; the image's GRUB is not signed, so that
guest is not expected to boot and nothing inside it is checked. Boots take minutes under TCG.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import unique
from tests.host import vmutil

SWTPM_STATE = Path("/var/lib/libvirt/swtpm")  # libvirt's swtpm state, one directory per domain UUID


def run(api, action: str, body: dict, timeout: float = 900) -> dict:
    resp = api.call(action, body)
    assert resp.status_code == 202, resp.get_json()
    done = api.services.tasks.wait(resp.get_json()["task"]["id"], timeout)
    assert done["state"] == "succeeded", done
    return done


def sh(dom, script: str, timeout_s: float = 120) -> tuple[int, str]:
    code, out, err = vmutil.guest_exec(dom, "/bin/sh", "-c", script, timeout_s=timeout_s)
    return code, out + err


def live_xml(conn, name: str) -> etree._Element:
    return etree.fromstring(conn.lookupByName(name).XMLDesc(0).encode())


@pytest.fixture
def env(host_api, tmp_path):
    image = vmutil.guest_image()
    conn = vmutil.open_conn()
    names = {"pool": unique("U-pool-"), "net": unique("U-net-"), "vm": unique("U-vm-"), "sb": unique("U-sb-")}
    try:
        p = vmutil.make_pool(conn, names["pool"], tmp_path / "pool")
        vmutil.upload_file(conn, p, "base.qcow2", image)
        p.refresh(0)
        vmutil.make_isolated_network(conn, names["net"], vmutil.free_subnet(conn))
        yield host_api, conn, names
    finally:
        vmutil.drop_domain(conn, names["vm"])
        vmutil.drop_domain(conn, names["sb"])
        vmutil.drop_network(conn, names["net"])
        vmutil.drop_pool(conn, names["pool"])
        conn.close()


def test_a_uefi_guest_with_a_tpm_boots_the_test_image_and_delete_removes_nvram_and_tpm_state(env):
    api, conn, n = env
    run(api, "create-vm", {
        "name": n["vm"], "pool": n["pool"], "volume": "base.qcow2", "clone": "linked", "memory_mib": 512,
        "firmware": "uefi", "secure_boot": False, "tpm": True, "nics": [{"network": n["net"]}],
        "cloud_init": {"hostname": n["vm"]}, "wait_for": "agent", "wait_timeout_s": 600})
    vm = api.ok("describe-vm", {"name": n["vm"]}, role="viewer")["vm"]
    assert vm["state"] == "running" and vm["guest_agent"] is True, vm
    assert (vm["firmware"], vm["secure_boot"], vm["tpm"]) == ("uefi", False, True)

    root = live_xml(conn, n["vm"])
    loader, nvram = root.findtext("os/loader").strip(), root.findtext("os/nvram").strip()
    assert "OVMF" in loader and "secboot" not in loader and root.find("os/loader").get("secure") != "yes"
    assert Path(nvram).is_file()  # made by libvirt from the firmware's template at the first start
    assert root.find("devices/tpm/backend").attrib["type"] == "emulator"
    tpm_state = SWTPM_STATE / vm["uuid"]
    assert tpm_state.is_dir() and any(tpm_state.rglob("tpm2-00.permall"))  # swtpm's TPM 2.0 state file

    dom = conn.lookupByName(n["vm"])
    assert sh(dom, "test -d /sys/firmware/efi")[0] == 0  # booted through UEFI, not the extlinux path
    code, out = sh(dom, "test -c /dev/tpm0 && test -c /dev/tpmrm0 && cat /sys/class/tpm/tpm0/tpm_version_major")
    assert code == 0 and out.strip() == "2", out
    code, out = sh(dom, "cloud-init status --wait >/dev/null; cat /proc/sys/kernel/hostname", timeout_s=300)
    why = sh(dom, "cloud-init status --long; blkid; tail -n 20 /run/cloud-init/ds-identify.log")[1]
    assert out.split()[-1] == n["vm"], why  # cloud-init read its seed (virtio-scsi cdrom)

    res = api.ok("delete-vm", {"name": n["vm"], "force": True, "delete_volumes": True}, role="operator")
    assert res["nvram_removed"] is True
    assert not Path(nvram).exists() and not tpm_state.exists()
    assert n["vm"] not in {d.name() for d in conn.listAllDomains(0)}


def test_secure_boot_picks_the_secure_boot_firmware_on_q35_with_smm(env):
    """What is checked: libvirt's auto-selection found a Secure Boot OVMF for the q35 machine with SMM, QEMU
    started with it, and the NVRAM came from the enrolled-keys template. Not checked: that the firmware then
    refuses the image's unsigned GRUB (the guest is not expected to boot; nothing inside it is asked)."""
    api, conn, n = env
    run(api, "create-vm", {"name": n["sb"], "pool": n["pool"], "volume": "base.qcow2", "clone": "linked",
                           "memory_mib": 512, "firmware": "uefi", "secure_boot": True, "tpm": True,
                           "cloud_init": {"hostname": n["sb"]}})
    vm = api.ok("describe-vm", {"name": n["sb"]}, role="viewer")["vm"]
    assert vm["state"] == "running" and (vm["firmware"], vm["secure_boot"], vm["tpm"]) == ("uefi", True, True)
    root = live_xml(conn, n["sb"])
    assert "q35" in root.find("os/type").get("machine")
    assert root.find("features/smm").get("state") == "on"
    loader = root.find("os/loader")
    assert loader.get("secure") == "yes" and loader.get("type") == "pflash"
    nvram = root.find("os/nvram")
    assert Path(nvram.text.strip()).is_file()
    # Debian's descriptors: 40-...-secure-enrolled (Microsoft's keys, OVMF_VARS_4M.ms.fd) wins over the
    # empty-varstore secure build, as enrolled-keys was asked on
    assert nvram.get("template", "").endswith(".ms.fd")
    cdroms = [d for d in vm["disks"] if d["device"] == "cdrom"]
    assert {d["bus"] for d in cdroms} == {"scsi"}  # on virtio-scsi, as every UEFI VM's
    res = api.ok("delete-vm", {"name": n["sb"], "force": True, "delete_volumes": True}, role="operator")
    assert res["nvram_removed"] is True and not Path(nvram.text.strip()).exists()
