"""The Windows profile of a new domain (`os_profile: windows`): what differs from a Linux guest, in one place.

domain_xml.build_domain makes the common document; `apply` then changes it in place:
- Hyper-V enlightenments (`<hyperv mode='custom'>`): relaxed timers, virtual APIC, paravirtual spinlocks
  (8191 retries, the value Microsoft's own Hyper-V uses), VP index, runtime, SynIC and its timers, reset and
  the TSC/APIC frequency MSRs. Windows detects Hyper-V and uses them; without them it runs, but slowly and
  with clock drift. libvirt 9.0 accepts all of them (tests/host/test_windows_xml_host.py defines the result
  on the real daemon and runs virt-xml-validate on what libvirt gives back). QEMU needs `vpindex` for `synic`
  and `synic` plus the Hyper-V clock (`hv-time`) for `stimer`: on KVM all are on together.
  Under TCG (`<domain type='qemu'>`, what this project's test host runs) QEMU 7.2 refuses to start with
  `vpindex` ("kernel doesn't allow setting HyperV VP_INDEX", seen on this host with virsh start, one
  enlightenment at a time), so a TCG guest goes without `vpindex` and the two that build on it (`synic`,
  `stimer`); the others start there.
- `<clock offset='localtime'>`: Windows keeps the RTC in local time; and the `hypervclock` timer (`hv-time`,
  the Hyper-V reference TSC page), which `stimer` needs.
- NIC model and disk bus are chosen by the planner (service/vm/plan.py: e1000e and SATA unless asked, since
  Windows has no VirtIO driver before the VirtIO driver ISO is installed); they reach the document through
  the DomainSpec's devices like a Linux VM's. The USB tablet every JVP VM has is the pointer Windows needs.
- JVP's metadata records `os-profile` = windows, which describe-vm shows (domain_view.os_profile).
"""
from __future__ import annotations

from jvp.hypervisor.xml.domain import Domain, Timer

WINDOWS = "windows"
SPINLOCK_RETRIES = 8191
ON = "on"
# every on/off enlightenment JVP turns on, by its mapping field (xml/domain.py Hyperv), and those a TCG
# guest goes without (QEMU 7.2 does not start with them under TCG)
ENLIGHTENMENTS = ("relaxed", "vapic", "vpindex", "runtime", "synic", "stimer", "reset", "frequencies")
NOT_UNDER_TCG = ("vpindex", "synic", "stimer")


def enlightenments(domain_type: str | None) -> tuple[str, ...]:
    """The on/off enlightenments for a domain type (kvm, or qemu: TCG)."""
    return tuple(e for e in ENLIGHTENMENTS if domain_type != "qemu" or e not in NOT_UNDER_TCG)


def apply(dom: Domain) -> None:
    """Turn the freshly built domain `dom` into a Windows guest (in place)."""
    hv = dom.hyperv
    hv.mode = "custom"
    for name in enlightenments(dom.type):
        setattr(hv, name, ON)
    hv.spinlocks, hv.spinlock_retries = ON, SPINLOCK_RETRIES
    dom.clock.offset = "localtime"
    if dom.clock.timer("hypervclock") is None:
        dom.clock.timers.add(Timer.new(name="hypervclock", present="yes"))
    dom.ensure_facts().os_profile = WINDOWS


def os_profile(dom: Domain) -> str:
    """What describe-vm shows: JVP's record; else libosinfo's os id (virt-install and virt-manager write
    `http://microsoft.com/win/<version>`); else linux."""
    recorded = dom.facts.os_profile if dom.facts.exists() else None
    if recorded:
        return recorded.strip()
    osinfo = dom.libosinfo_os or ""
    return WINDOWS if "microsoft.com/win" in osinfo else "linux"
