"""What a node's libvirt says a VM of one domain type and architecture can have (its domain capabilities),
as the VM rules ask it: which CPU modes are supported and usable, whether UEFI firmware (with Secure Boot)
is there, and whether an emulated TPM can be given."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DomainCaps:
    """`published` is False when the driver has no domain capabilities (libvirt's test driver): then nothing
    is known, and the rules let libvirt judge at define/start time."""
    published: bool
    cpu_modes_supported: frozenset[str] = field(default_factory=frozenset)
    # supported, and for host-model the CPU model it expands to is usable on this host
    cpu_modes_usable: frozenset[str] = field(default_factory=frozenset)
    efi: bool | None = None         # None: not published
    secure_boot: bool | None = None  # a Secure Boot UEFI firmware for the machine asked (None: not published)
    tpm: bool | None = None         # an emulated TPM 2.0 (swtpm) can be given (None: not published)

    def cpu_mode_usable(self, mode: str) -> bool:
        return mode in self.cpu_modes_usable

    def cpu_mode_supported(self, mode: str) -> bool:
        return not self.published or mode in self.cpu_modes_supported
