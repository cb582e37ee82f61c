"""A domain's firmware and TPM: UEFI through libvirt's firmware auto-selection, Secure Boot, an emulated TPM 2.0.

Building (`apply`, called by domain_xml.build_domain) and reading (`secure_boot`, `tpm` for the VM view) both
go through the domain mapping (jvp/hypervisor/xml/domain.py: Os, FirmwareFeature, Tpm, Domain.smm).

- UEFI: `<os firmware='efi'>`. libvirt picks OVMF from the firmware descriptors (Debian's `ovmf` package:
  /usr/share/qemu/firmware/*.json) and, at the first start, creates the VM's NVRAM file
  (/var/lib/libvirt/qemu/nvram/<name>_VARS.fd) from the firmware's variable-store template. delete-vm removes
  it with VIR_DOMAIN_UNDEFINE_NVRAM (domain_devices.undefine).
- Secure Boot: the features `secure-boot` and `enrolled-keys` asked on (libvirt then picks the Secure Boot
  OVMF with Microsoft's keys enrolled), SMM on, and the q35 machine (jvp/domain/vm_firmware.py says why).
  Without Secure Boot both features are asked off, so libvirt never picks a Secure Boot build for a plain
  UEFI VM. q35 gets spare PCIe root ports: a device hot-plugged into a running q35 VM needs a free one.
  A UEFI VM gets a virtio-scsi controller for its cdroms (sda, sdb).
- TPM: `<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>`: libvirt starts swtpm (Debian's
  `swtpm`/`swtpm-tools`) beside QEMU; its state lives in /var/lib/libvirt/swtpm/<uuid>/ and libvirt removes
  it when the domain is undefined (no KEEP_TPM flag is ever given). CRB is the interface TPM 2.0 guests
  expect (Windows 11, Linux's tpm_crb); it needs no ISA bus, so it works on i440fx and q35 alike.
"""
from __future__ import annotations

from lxml import etree

from jvp.domain.vm import DomainSpec
from jvp.domain.vm_firmware import machine_for
from jvp.hypervisor.xml import sub
from jvp.hypervisor.xml.domain import Domain, FirmwareFeature, Tpm

SPARE_ROOT_PORTS = 16   # q35: libvirt uses some for the devices defined; the rest take hot-plugged ones
TPM_MODEL, TPM_VERSION = "tpm-crb", "2.0"


def apply(dom: Domain, spec: DomainSpec) -> None:
    """Firmware, machine, SMM and TPM of a new domain (after <features> and <devices> exist)."""
    if spec.firmware == "uefi":
        dom.os.firmware = "efi"
        for name in ("secure-boot", "enrolled-keys"):
            dom.os.firmware_features.add(FirmwareFeature.new(enabled=spec.secure_boot, name=name))
        # the cdroms' bus under UEFI (jvp/domain/vm_firmware.py says why not IDE or SATA)
        sub(dom.el.find("devices"), "controller", {"type": "scsi", "index": 0, "model": "virtio-scsi"})
    machine = machine_for(spec.firmware, spec.secure_boot)
    if machine:
        dom.os.machine = machine
        dom.smm = "on"
        devices = dom.el.find("devices")
        # written once, never read: plain elements. The root complex is index 0 (a root port without an index
        # would take it); the ports get theirs from libvirt.
        sub(devices, "controller", {"type": "pci", "index": 0, "model": "pcie-root"})
        for _ in range(SPARE_ROOT_PORTS):
            sub(devices, "controller", {"type": "pci", "model": "pcie-root-port"})
    if spec.tpm:
        dom.tpms.add(Tpm.new(model=TPM_MODEL, backend_type="emulator", backend_version=TPM_VERSION))


def secure_boot(root: etree._Element, firmware: str) -> bool | None:
    """Secure Boot on: asked of the auto-selection, or a firmware chosen by path marked secure; None when the
    VM is not UEFI."""
    if firmware != "uefi":
        return None
    os_ = Domain(root).os
    feature = next((f for f in os_.firmware_features if f.name == "secure-boot"), None)
    if feature is not None:
        return bool(feature.enabled)
    return bool(os_.loader_secure)


def tpm(root: etree._Element) -> bool:
    return len(Domain(root).tpms) > 0
