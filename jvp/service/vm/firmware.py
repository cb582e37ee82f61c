"""The node must offer what a VM's firmware and TPM ask for (UEFI, Secure Boot, an emulated TPM 2.0).

Checked in the create task once the domain type is chosen (the capabilities differ per type and machine),
before anything is made. A node whose driver publishes no domain capabilities (libvirt's test driver) is not
judged here: libvirt judges at define/start time.
"""
from __future__ import annotations

from jvp.domain.vm_caps import DomainCaps
from jvp.errors import NotSupported


def check_firmware(node: str, domain_type: str, firmware: str, secure_boot: bool, tpm: bool,
                   caps: DomainCaps) -> None:
    """NotSupported (422) naming what the node lacks and what installs it."""
    if firmware == "uefi" and caps.efi is False:
        raise NotSupported(f"node '{node}' has no UEFI firmware for {domain_type} guests (install OVMF: Debian's "
                           "ovmf package)", code="NotSupported", details={"node": node, "firmware": "uefi"})
    if firmware == "uefi" and secure_boot and caps.secure_boot is False:
        raise NotSupported(f"node '{node}' has no Secure Boot UEFI firmware for {domain_type} guests on the q35 "
                           "machine (install OVMF: Debian's ovmf package), or create the VM with secure_boot: "
                           "false", code="NotSupported",
                           details={"node": node, "firmware": "uefi", "secure_boot": True})
    if tpm and caps.tpm is False:
        raise NotSupported(f"node '{node}' cannot give {domain_type} guests an emulated TPM 2.0 (install swtpm "
                           "and swtpm-tools on the node and restart libvirtd), or create the VM with tpm: false",
                           code="NotSupported", details={"node": node, "tpm": True})
