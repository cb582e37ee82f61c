"""UEFI, Secure Boot and TPM (issue 18): the domain XML built for them, what describe-vm reads back, what a
node's domain capabilities say it offers, and the NotSupported answers when it lacks them."""
from __future__ import annotations

import pytest
from lxml import etree

from jvp.domain.vm import DiskDevice, DomainSpec
from jvp.domain.vm_caps import DomainCaps
from jvp.domain.vm_firmware import IDE_SLOTS, SCSI_SLOTS, cdrom_slots, machine_for
from jvp.errors import NotSupported
from jvp.hypervisor import domain_view, host_caps
from jvp.hypervisor.domain_xml import build_domain_xml
from jvp.service.vm.firmware import check_firmware


def spec(**kw) -> DomainSpec:
    base = dict(name="fw", uuid="0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00bbbb", vcpus=1, memory_mib=512,
                domain_type="qemu", arch="x86_64", cpu_mode=None,
                disks=[DiskDevice("vda", "/p/fw-root.qcow2", "qcow2")])
    base.update(kw)
    return DomainSpec(**base)


def built(**kw) -> etree._Element:
    """The XML as libvirt receives it, parsed again by lxml."""
    return etree.fromstring(build_domain_xml(spec(**kw)).encode())


def view(root: etree._Element):
    return domain_view.describe(root, node="n", state="stopped", persistent=True, autostart=False, volumes={},
                                ips={}, agent=None)


def test_uefi_with_secure_boot_and_tpm():
    root = built(firmware="uefi", secure_boot=True, tpm=True)
    os_ = root.find("os")
    assert os_.get("firmware") == "efi"
    assert os_.find("type").get("machine") == "q35"  # OVMF's Secure Boot needs SMM, which needs q35
    assert {f.get("name"): f.get("enabled") for f in os_.findall("firmware/feature")} == \
        {"secure-boot": "yes", "enrolled-keys": "yes"}
    assert [c.tag for c in os_] == ["type", "firmware", "boot", "boot"]  # libvirt's schema order
    assert os_.find("loader") is None and os_.find("nvram") is None  # libvirt picks OVMF and makes the NVRAM
    assert root.find("features/smm").get("state") == "on"
    tpm = root.find("devices/tpm")
    assert tpm.get("model") == "tpm-crb"
    assert tpm.find("backend").attrib == {"type": "emulator", "version": "2.0"}
    controllers = root.findall("devices/controller")
    pci = [c for c in controllers if c.get("type") == "pci"]
    assert (pci[0].get("model"), pci[0].get("index")) == ("pcie-root", "0")  # q35's root complex
    ports = [c for c in controllers if c.get("model") == "pcie-root-port"]
    assert len(ports) >= 8  # room to hot-plug disks and NICs into the running q35 VM
    # the cdroms' controller under UEFI
    assert [c.get("model") for c in controllers if c.get("type") == "scsi"] == ["virtio-scsi"]
    vm = view(root)
    assert (vm.firmware, vm.secure_boot, vm.tpm) == ("uefi", True, True)


def test_uefi_without_secure_boot_keeps_the_default_machine_and_asks_the_features_off():
    root = built(firmware="uefi", tpm=True)
    assert root.find("os").get("firmware") == "efi" and root.find("os/type").get("machine") is None
    assert {f.get("name"): f.get("enabled") for f in root.findall("os/firmware/feature")} == \
        {"secure-boot": "no", "enrolled-keys": "no"}
    assert root.find("features/smm") is None
    assert [(c.get("type"), c.get("model")) for c in root.findall("devices/controller")] == [("scsi", "virtio-scsi")]
    assert root.find("devices/tpm/backend").get("type") == "emulator"
    vm = view(root)
    assert (vm.firmware, vm.secure_boot, vm.tpm) == ("uefi", False, True)


def test_bios_has_no_firmware_elements_and_no_tpm_unless_asked():
    root = built()
    assert root.find("os").get("firmware") is None and root.find("os/firmware") is None
    assert root.find("devices/tpm") is None and root.find("features/smm") is None
    assert root.find("devices/controller") is None
    vm = view(root)
    assert (vm.firmware, vm.secure_boot, vm.tpm) == ("bios", None, False)
    assert built(tpm=True).find("devices/tpm/backend").get("version") == "2.0"  # a TPM needs no UEFI


def test_a_firmware_chosen_by_path_reads_its_secure_flag():
    root = etree.fromstring(b"<domain type='kvm'><name>x</name><os><type>hvm</type>"
                            b"<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
                            b"</loader><nvram>/var/lib/libvirt/qemu/nvram/x_VARS.fd</nvram></os>"
                            b"<devices><tpm model='tpm-tis'><backend type='passthrough'/></tpm></devices></domain>")
    vm = view(root)
    assert (vm.firmware, vm.secure_boot, vm.tpm) == ("uefi", True, True)


def test_machine_and_cdrom_slots():
    assert machine_for("uefi", True) == "q35"
    assert machine_for("uefi", False) is None and machine_for("bios", False) is None
    assert cdrom_slots("uefi") == SCSI_SLOTS and (SCSI_SLOTS.iso, SCSI_SLOTS.seed) == ("sda", "sdb")
    assert cdrom_slots("bios") == IDE_SLOTS and (IDE_SLOTS.iso, IDE_SLOTS.seed) == ("hda", "hdc")


# -- what the node offers -------------------------------------------------------------------------------
HOST_CAPS = """<domainCapabilities>
  <os supported='yes'>
    <enum name='firmware'><value>efi</value></enum>
    <loader supported='yes'><enum name='secure'>{secure}</enum></loader>
  </os>
  <devices>
    <tpm supported='yes'>
      <enum name='model'><value>tpm-tis</value><value>tpm-crb</value></enum>
      <enum name='backendModel'><value>passthrough</value>{emulator}</enum>
      {versions}
    </tpm>
  </devices>
</domainCapabilities>"""


class Conn:
    def __init__(self, xml: str):
        self.xml, self.asked = xml, []

    def getDomainCapabilities(self, emulator, arch, machine, virttype, flags):  # noqa: N802 - libvirt's name
        self.asked.append(machine)
        return self.xml


def caps(secure="<value>yes</value><value>no</value>", emulator="<value>emulator</value>",
         versions="<enum name='backendVersion'><value>1.2</value><value>2.0</value></enum>", machine="q35"):
    conn = Conn(HOST_CAPS.format(secure=secure, emulator=emulator, versions=versions))
    found = host_caps.domain_caps(conn, "qemu", "x86_64", machine)
    assert conn.asked == [machine]  # Secure Boot firmware is listed per machine: asked for the VM's own
    return found


def test_domain_capabilities_say_secure_boot_and_tpm():
    found = caps()
    assert found.efi and found.secure_boot and found.tpm
    assert caps(secure="<value>no</value>").secure_boot is False  # i440fx: no SMM, no Secure Boot OVMF
    assert caps(emulator="").tpm is False                           # libvirt found no swtpm
    assert caps(versions="").tpm is True                           # an older libvirt lists no versions
    assert caps(versions="<enum name='backendVersion'><value>1.2</value></enum>").tpm is False


def test_no_tpm_element_means_no_tpm():
    conn = Conn("<domainCapabilities><os supported='yes'/><devices/></domainCapabilities>")
    found = host_caps.domain_caps(conn, "qemu", "x86_64", None)
    assert found.published and found.tpm is False and found.secure_boot is False and found.efi is False


# -- refusing what the node lacks -----------------------------------------------------------------------
FULL = DomainCaps(published=True, efi=True, secure_boot=True, tpm=True)


@pytest.mark.parametrize("firmware,secure_boot,tpm,lacking,detail", [
    ("uefi", False, False, {"efi": False}, "firmware"),
    ("uefi", True, False, {"secure_boot": False}, "secure_boot"),
    ("uefi", False, True, {"tpm": False}, "tpm"),
    ("bios", False, True, {"tpm": False}, "tpm"),
])
def test_what_the_node_lacks_is_not_supported(firmware, secure_boot, tpm, lacking, detail):
    node_caps = DomainCaps(**{**FULL.__dict__, **lacking})
    with pytest.raises(NotSupported) as err:
        check_firmware("n1", "qemu", firmware, secure_boot, tpm, node_caps)
    assert err.value.code == "NotSupported" and err.value.status == 422
    assert err.value.details["node"] == "n1" and detail in err.value.details
    assert "n1" in err.value.message


def test_what_the_node_has_or_does_not_publish_passes():
    check_firmware("n1", "qemu", "uefi", True, True, FULL)
    check_firmware("n1", "test", "uefi", True, True, DomainCaps(published=False))  # libvirt judges at define
    # a plain UEFI VM does not need Secure Boot firmware, a VM without TPM no swtpm
    check_firmware("n1", "qemu", "uefi", False, False, DomainCaps(published=True, efi=True, secure_boot=False,
                                                                   tpm=False))
