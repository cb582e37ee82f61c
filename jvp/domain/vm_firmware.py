"""What UEFI Secure Boot asks of a VM's machine, decided once for the planner, the domain builder and tests.

OVMF's Secure Boot builds need SMM, and QEMU offers OVMF's SMM mode only on the q35 machine: Debian's firmware
descriptors (/usr/share/qemu/firmware/*secure*.json) list `pc-q35-*` machines only, and libvirt's firmware
auto-selection finds no firmware for Secure Boot on the default i440fx machine ("Unable to find any firmware to
satisfy 'efi'"). So a Secure Boot VM is a q35 VM. q35 has no IDE bus: its cdrom drives sit on SATA (sda, sdb),
where an i440fx VM has hda and hdc. Every other VM keeps the arch's default machine (hot-plug on its PCI bus
without spare root ports, cdroms on IDE).
"""
from __future__ import annotations

from dataclasses import dataclass

SECURE_BOOT_MACHINE = "q35"


@dataclass(frozen=True)
class CdromSlots:
    bus: str
    iso: str    # the install ISO, or an empty drive for insert-media later
    seed: str   # the cloud-init seed, on its own drive so that user media never replaces it


IDE_SLOTS = CdromSlots("ide", "hda", "hdc")
SATA_SLOTS = CdromSlots("sata", "sda", "sdb")


def machine_for(firmware: str, secure_boot: bool) -> str | None:
    """The machine type a VM needs (None: the arch's default)."""
    return SECURE_BOOT_MACHINE if firmware == "uefi" and secure_boot else None


def cdrom_slots(machine: str | None) -> CdromSlots:
    return SATA_SLOTS if machine and "q35" in machine else IDE_SLOTS
