"""What UEFI Secure Boot asks of a VM's machine, decided once for the planner, the domain builder and tests.

OVMF's Secure Boot builds need SMM, and QEMU offers OVMF's SMM mode only on the q35 machine: Debian's firmware
descriptors (/usr/share/qemu/firmware/*secure*.json) list `pc-q35-*` machines only, and libvirt's firmware
auto-selection finds no firmware for Secure Boot on the default i440fx machine ("Unable to find any firmware to
satisfy 'efi'"). So a Secure Boot VM is a q35 VM; every other VM keeps the arch's default machine (hot-plug on
its PCI bus without spare root ports).

Cdroms: IDE (hda, hdc) under BIOS. Under UEFI they sit on a virtio-scsi controller (sda, sdb): under OVMF on
i440fx, Linux's ata_piix probed both IDE channels and found no drive, so cloud-init found no seed (seen on
this host: no /dev/sr0; the same image under SeaBIOS has it; the likely cause, PIIX's IDE decode bits left
off by the firmware, was not confirmed); q35 has no IDE at all, and its SATA needs an
AHCI driver that cloud kernels (Debian's linux-image-cloud-amd64) leave out, whereas every Linux guest has
virtio-scsi and OVMF boots from it.
"""
from __future__ import annotations

from dataclasses import dataclass

SECURE_BOOT_MACHINE = "q35"


@dataclass(frozen=True)
class CdromSlots:
    bus: str
    iso: str    # the install ISO, or an empty drive for insert-media later
    seed: str   # the cloud-init seed, on its own drive so that user media never replaces it
    drivers: str  # a driver ISO (os_profile windows: virtio_iso), after the install ISO


IDE_SLOTS = CdromSlots("ide", "hda", "hdc", "hdb")
SCSI_SLOTS = CdromSlots("scsi", "sda", "sdb", "sdc")  # on the virtio-scsi controller firmware_xml adds for UEFI


def machine_for(firmware: str, secure_boot: bool) -> str | None:
    """The machine type a VM needs (None: the arch's default)."""
    return SECURE_BOOT_MACHINE if firmware == "uefi" and secure_boot else None


def cdrom_slots(firmware: str, os_profile: str = "linux") -> CdromSlots:
    """IDE under BIOS; virtio-scsi under UEFI for Linux guests (above). A Windows guest keeps IDE under UEFI
    too: its installer has no virtio-scsi driver before the VirtIO ISO is loaded, and the OVMF/IDE problem
    above was seen with Linux's ata_piix only (a Windows guest under UEFI is not booted by any test here).
    Secure Boot needs q35, which has no IDE: the planner refuses os_profile windows with secure_boot."""
    if os_profile == "windows":
        return IDE_SLOTS
    return SCSI_SLOTS if firmware == "uefi" else IDE_SLOTS
