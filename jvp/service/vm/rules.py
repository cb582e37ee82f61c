"""Checks shared by VM creation and VM device changes: MACs, NIC sources, volumes in use, domain type and
CPU mode.

Domain type and CPU (also in the README):
- `domain_type: auto` uses `kvm` when libvirt offers it on the node AND a probe guest really ran under KVM
  there (jvp/hypervisor/kvm_probe.py; once per node, the answer is kept in the node's metadata), else
  `qemu` (TCG), with a warning in the log and a note in the create task. `kvm`/`qemu` force the type
  (refused with 422 when the node does not offer it). The test driver's only type (`test`) is used there.
- `cpu_mode: auto` is `host-model` when the domain type is kvm and libvirt's domain capabilities say
  host-model is supported and its CPU model is usable on this host; otherwise no <cpu> element (libvirt's
  default model). host-model under TCG asks QEMU for host MSRs TCG cannot give (it fails at start), and
  nested KVM hosts often list the host-model CPU as not usable. An explicit mode is used as asked when
  the domain capabilities say it is supported; `none` never writes a <cpu> element.
"""
from __future__ import annotations

import logging
import random
import re
import threading
from typing import Any

from jvp.domain.volume import References
from jvp.errors import Conflict, InvalidInput, NotSupported, PreconditionFailed, not_found
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.gateway.vm import is_template_volume
from jvp.service.node import NodeService

log = logging.getLogger(__name__)
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def check_mac(mac: str, used: dict[str, str], node: str, field: str = "mac") -> str:
    mac = mac.lower()
    if not MAC_RE.match(mac):
        raise InvalidInput(f"{mac!r} is not a MAC address (six hex octets separated by ':')", code="InvalidMac",
                           details={"field_errors": {field: ["Not a MAC address."]}})
    if int(mac[:2], 16) & 1:
        raise InvalidInput(f"{mac} is a multicast address; a NIC needs a unicast MAC (even first octet)",
                           code="InvalidMac", details={"field_errors": {field: ["Multicast MAC."]}})
    if mac in used:
        raise Conflict(f"MAC {mac} is already used by vm '{used[mac]}' on node '{node}'", code="MacInUse",
                       details={"mac": mac, "vm": used[mac], "node": node,
                                "field_errors": {field: ["MAC in use."]}})
    return mac


def random_mac(used: dict[str, str] | set[str]) -> str:
    """A free address in QEMU's locally administered 52:54:00 range."""
    while True:
        mac = "52:54:00:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))
        if mac not in used:
            return mac


def volume_in_use(pool: str, volume: str, users: list[str], node: str) -> Conflict:
    return Conflict(f"volume '{volume}' in pool '{pool}' is used by vm(s) {', '.join(sorted(users))} on node "
                    f"'{node}'; a disk written by two VMs gets corrupted", code="VolumeInUse",
                    details={"pool": pool, "volume": volume, "vms": sorted(users), "node": node})


def check_writable_volume(gateway: NodeGateway, node: str, vol: dict[str, Any], refs: References,
                          hint: str = "use clone linked or full") -> None:
    """A volume a VM writes to directly (create-vm's `volume` used as is or an existing extra disk, and
    attach-volume) must not be a template's base image, be used by another VM (as a disk, a boot file or under
    a chain), or back other volumes (linked clones): writing to it would corrupt them. `vol` is
    gateway.vm_volume's answer, `refs` gateway.vm_references' (the storage module's one usage scan)."""
    if is_template_volume(vol):
        raise Conflict(f"volume '{vol['volume']}' is a template's base image: {hint}",
                       code="VolumeIsTemplate", details={"pool": vol["pool"], "volume": vol["volume"], "node": node})
    users = refs.users(vol["pool"], vol["volume"], vol["path"])
    direct = sorted({u.vm for u in users if not u.backing})
    if direct:
        raise volume_in_use(vol["pool"], vol["volume"], direct, node)
    deps = [v.path or f"{v.pool}/{v.name}" for v in refs.dependents([vol["path"]])]
    if deps or users:
        what = ", ".join(deps) or f"the disks of vm(s) {', '.join(sorted({u.vm for u in users}))}"
        raise Conflict(f"volume '{vol['volume']}' is the backing file of {what}; writing to it "
                       f"would corrupt them: {hint}", code="VolumeInUse",
                       details={"pool": vol["pool"], "volume": vol["volume"], "dependents": deps,
                                "vms": sorted({u.vm for u in users}), "node": node})


def check_nic_source(gateway: NodeGateway, node: str, kind: str, source: str, *, need_active: bool = False
                     ) -> dict[str, Any] | None:
    """The network's facts (kind=network), after checking that the source exists on the node."""
    if kind == "network":
        info = gateway.vm_network(node, source)
        if need_active and not info["active"]:
            raise PreconditionFailed(f"network '{source}' on node '{node}' is not active; start it first",
                                     code="NetworkInactive", details={"network": source, "node": node})
        return info
    names = gateway.vm_host_interfaces(node)
    if source not in names:
        code = "BridgeNotFound" if kind == "bridge" else "InterfaceNotFound"
        raise not_found("bridge" if kind == "bridge" else "interface", source, node, code=code)
    return None


class DomainTypes:
    """Chooses the domain type and CPU mode per node, probing KVM at most once per node (the answer is kept
    in the node's record by the node service)."""

    def __init__(self, nodes: NodeService, gateway: NodeGateway, domain_type: str = "auto", cpu_mode: str = "auto"):
        self.nodes = nodes
        self.gateway = gateway
        self.setting = domain_type
        self.cpu_setting = cpu_mode
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, node: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(node, threading.Lock())

    def choose(self, node: str, pool: str, cpu_mode: str | None = None, progress=None
               ) -> tuple[str, str | None, list[str]]:
        """(domain type, cpu mode or None, notes for the task)."""
        arch = self.gateway.node_figures(node)["arch"]
        offered = self.gateway.guest_types(node, arch)
        notes: list[str] = []
        if self.setting in ("kvm", "qemu"):
            if self.setting not in offered:
                raise NotSupported(f"domain_type is set to {self.setting}, but node '{node}' offers "
                                   f"{', '.join(offered) or 'no domain type'} for {arch} guests",
                                   code="NotSupported", details={"node": node, "offered": offered})
            dtype = self.setting
        elif "kvm" in offered:
            usable = self._kvm_usable(node, pool, progress)
            dtype = "kvm" if usable else ("qemu" if "qemu" in offered else "kvm")
            if not usable:
                note = (f"KVM does not run guests on node '{node}' (probed); the VM runs under QEMU emulation "
                        "(TCG), which is much slower")
                log.warning(note)
                notes.append(note)
        else:
            dtype = "qemu" if "qemu" in offered else (offered[0] if offered else "qemu")
        return dtype, self._cpu_mode(node, dtype, arch, cpu_mode or self.cpu_setting), notes

    def _kvm_usable(self, node: str, pool: str, progress) -> bool:
        with self._lock(node):
            known = self.nodes.record(node).kvm_usable
            if known is not None:
                return known
            if progress:
                progress("probing whether KVM really runs guests on this node (once per node)")
            usable, observed = self.gateway.probe_kvm(node, pool)
            log.info("KVM probe on node %s: %s (%s)", node, usable, observed)
            self.nodes.record_kvm_probe(node, usable)
            return usable

    def _cpu_mode(self, node: str, dtype: str, arch: str, mode: str) -> str | None:
        if mode == "none":
            return None
        caps = self.gateway.domain_capabilities(node, dtype, arch)
        if mode == "auto":
            return "host-model" if dtype == "kvm" and caps.cpu_mode_usable("host-model") else None
        if not caps.cpu_mode_supported(mode):
            raise NotSupported(f"cpu_mode {mode} is not supported for {dtype} guests on node '{node}'",
                               code="NotSupported", details={"node": node, "cpu_mode": mode})
        return mode


def state_error(name: str, node: str, state: str, wanted: str, hint: str) -> Conflict:
    return Conflict(f"vm '{name}' on node '{node}' is {state}: {hint}", code="InvalidState",
                    details={"vm": name, "node": node, "state": state, "required": wanted})


def capacity_error(node: str, field: str, asked: int, has: int) -> PreconditionFailed:
    what = {"vcpus": ("vCPUs", "logical CPUs"), "memory_mib": ("MiB of memory", "MiB")}[field]
    return PreconditionFailed(f"{asked} {what[0]} asked, but node '{node}' has {has} {what[1]} in all; "
                              f"ask for at most {has} or place the VM on a larger node",
                              code="NodeCapacityExceeded",
                              details={"node": node, "field": field, "requested": asked, "available": has,
                                       "field_errors": {field: [f"At most {has} on node '{node}'."]}})
