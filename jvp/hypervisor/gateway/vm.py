"""VM operations of the node gateway (see base.py for the rules every operation follows): domains (listing,
describing, power, devices, JVP's facts, define and undefine), what a node offers VMs (figures, domain types,
domain capabilities, the KVM probe), and the storage and networking facts VM creation and device changes
check. The VM service (jvp/service/vm/) calls nothing else.

Names: every method names the VM (`*_vm*`) or is VM-specific (`vm_pool`, `vm_volume`, ...), so that no
method of this mixin shadows a storage or network operation of the same name in NodeGateway (a test checks).

A device change the domain document cannot take (domain_edit.EditError: no such target, a transient VM)
leaves as 409 InvalidDeviceChange.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from jvp.domain.event import VmEvent
from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice, VmView
from jvp.domain.vm_caps import DomainCaps
from jvp.domain.volume import DiskUser, References
from jvp.errors import Conflict
from jvp.hypervisor import domain, domain_describe, domain_devices, host_caps, kvm_probe, vm_net, vm_volumes
from jvp.hypervisor import volume as vol_hv
from jvp.hypervisor.domain_edit import BUS_PREFIX, EditError
from jvp.hypervisor.domain_xml import build_domain_xml
from jvp.hypervisor.events import DOMAIN_EVENTS, DomainEvent
from jvp.hypervisor.gateway.base import GatewayBase

T = TypeVar("T")

# re-exported for the VM service: the disk target prefix of each bus, and whether a volume is a template's
# base image (pure functions of their arguments; no node is asked)
is_template_volume = vm_volumes.is_template_volume
__all__ = ["VmOps", "BUS_PREFIX", "is_template_volume"]


@contextmanager
def _edit_errors(node: str, name: str) -> Iterator[None]:
    try:
        yield
    except EditError as exc:
        raise Conflict(f"vm '{name}' on node '{node}': {exc}", code="InvalidDeviceChange",
                       details={"vm": name, "node": node}) from exc


class VmOps(GatewayBase):
    # -- domains: reading ----------------------------------------------------------------------------
    def vm_summaries(self, node: str) -> list[dict[str, Any]]:
        """Every domain of the node as a list-vms row (one bulk stats call, cached XML facts, leases)."""
        return self._read(node, lambda c: domain_describe.summaries(c, node), kind="node", obj=node)

    def describe_vm(self, node: str, name: str) -> VmView:
        """One VM as describe-vm shows it (state, devices with their volumes, IPs, guest agent)."""
        return self._read(node, lambda c: domain_describe.describe(c, node, name), kind="vm", obj=name)

    def vm_xml(self, node: str, name: str) -> dict[str, Any]:
        """{xml: the live document, inactive_xml: the persistent one or None for a transient VM}."""
        return self._read(node, lambda c: domain.xml(c, name), kind="vm", obj=name)

    def vm_state(self, node: str, name: str) -> str:
        """running, paused, stopped, crashed, ... (404 VmNotFound when there is no such domain)."""
        return self._read(node, lambda c: domain.state(c, name), kind="vm", obj=name)

    def vm_exists(self, node: str, name: str) -> bool:
        """Whether a domain of that name is defined (or running) on the node."""
        return self._read(node, lambda c: domain.exists(c, name), kind="vm", obj=name)

    def vm_disk_targets(self, node: str, name: str) -> dict[str, dict[str, Any]]:
        """target -> {path, device} over the VM's live and persistent config."""
        return self._read(node, lambda c: domain_devices.used_targets(c, name), kind="vm", obj=name)

    def wait_vm_stopped(self, node: str, name: str, timeout_s: float) -> tuple[str, float]:
        """Poll until the VM is off or timeout_s passed: (state reached, seconds waited)."""
        return self._read(node, lambda c: domain.wait_stopped(c, name, timeout_s), kind="vm", obj=name)

    # -- domains: power --------------------------------------------------------------------------------
    def start_vm(self, node: str, name: str, started_at: str, *, action: str | None = None) -> str:
        """Power the VM on and record when (uptime); the state reached."""
        return self._write(node, lambda c: domain.start(c, name, started_at), kind="vm", obj=name, action=action)

    def power_vm(self, node: str, name: str, op: str) -> str:
        """shutdown (a request to the guest, returns at once), destroy, reboot, reset, suspend or resume; the
        state reached."""
        return self._write(node, lambda c: domain.power(c, name, op), kind="vm", obj=name)

    # -- domains: changes ------------------------------------------------------------------------------
    def _edit(self, node: str, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A write of `fn(conn, name, *args, **kwargs)` that edits the VM's definition: its EditError (a change
        the definition refuses) answers Conflict InvalidDeviceChange."""
        with _edit_errors(node, name):
            return self._write(node, lambda c: fn(c, name, *args, **kwargs), kind="vm", obj=name)

    def define_vm(self, node: str, spec: DomainSpec) -> str:
        """Define a new persistent domain built from the spec; its UUID."""
        xml = build_domain_xml(spec)
        return self._write(node, lambda c: domain.define(c, xml), kind="vm", obj=spec.name, action="defining")

    def resize_vm(self, node: str, name: str, vcpus: int | None, memory_mib: int | None) -> dict[str, list[str]]:
        """vCPUs and memory saved in the config, applied live where the running VM's maxima allow:
        {applied_live, next_boot, notes}."""
        return self._edit(node, name, domain_devices.modify, vcpus, memory_mib)

    def update_vm_facts(self, node: str, name: str, *, description: str | None = None,
                        labels: dict[str, str] | None = None) -> None:
        """Change JVP's facts in the domain's metadata (the ones given; the others kept)."""
        facts = {k: v for k, v in (("description", description), ("labels", labels)) if v is not None}
        self._edit(node, name, domain_devices.update_vm_facts, **facts)

    def set_vm_autostart(self, node: str, name: str, on: bool) -> None:
        """Whether the VM starts with libvirtd."""
        self._write(node, lambda c: domain.set_autostart(c, name, on), kind="vm", obj=name)

    def rename_vm(self, node: str, name: str, new_name: str) -> None:
        """Rename a stopped VM."""
        self._edit(node, name, domain_devices.rename, new_name)

    def attach_vm_disk(self, node: str, name: str, disk: DiskDevice) -> str:
        """Add a disk (live and persistent; disk.target is chosen when empty): applied | not-running."""
        return self._edit(node, name, domain_devices.attach_disk, disk)

    def detach_vm_disk(self, node: str, name: str, target: str) -> str:
        """Remove the disk at target: applied | pending (the guest has not released it yet) | not-running."""
        return self._edit(node, name, domain_devices.detach_disk, target)

    def change_vm_media(self, node: str, name: str, target: str, path: str | None, fmt: str = "raw") -> str:
        """Insert (path) or eject (None) a cdrom's media: applied | not-running."""
        return self._edit(node, name, domain_devices.change_media, target, path, fmt)

    def attach_vm_nic(self, node: str, name: str, nic: NicDevice) -> str:
        """Add a NIC (live and persistent): applied | not-running."""
        return self._edit(node, name, domain_devices.attach_nic, nic)

    def detach_vm_nic(self, node: str, name: str, mac: str) -> str:
        """Remove the NIC with this MAC: applied | pending | not-running."""
        return self._edit(node, name, domain_devices.detach_nic, mac)

    def set_vm_user_password(self, node: str, name: str, user: str, password: str) -> None:
        """Set a guest user's password through the guest agent."""
        self._write(node, lambda c: domain_devices.set_user_password(c, name, user, password), kind="vm",
                    obj=name)

    def undefine_vm(self, node: str, name: str) -> dict[str, Any]:
        """Power off, delete snapshots, undefine with NVRAM and managed save: {snapshots_deleted,
        nvram_removed}."""
        return self._edit(node, name, domain_devices.undefine)

    def undefine_vm_if_uuid(self, node: str, name: str, uuid: str) -> bool:
        """undefine_vm, only while the domain of that name still has this UUID (a failed create's cleanup);
        whether it was removed."""
        return self._write(node, lambda c: domain_devices.undefine_if_uuid(c, name, uuid), kind="vm", obj=name)

    def replace_vm_system_disk(self, node: str, name: str, target: str, path: str, fmt: str,
                               seed_target: str | None, seed_path: str | None, facts: dict[str, Any]) -> str:
        """rebuild-vm: the stopped VM's system disk (and cloud-init seed drive) point at new files and JVP's
        facts change (template, cloud_init, keypairs); the config as it was before, for the rollback."""
        return self._edit(node, name, domain_devices.replace_system_disk, target, path, fmt, seed_target,
                          seed_path, facts)

    def restore_vm_definition(self, node: str, name: str, uuid: str, xml: str) -> bool:
        """Define a config the VM had again (a failed rebuild's rollback), only while the domain of that name
        still has this UUID; whether it was restored."""
        return self._write(node, lambda c: domain_devices.restore_definition(c, name, uuid, xml), kind="vm",
                           obj=name)

    # -- what the node offers VMs ----------------------------------------------------------------------
    def node_figures(self, node: str) -> dict[str, Any]:
        """{arch, cpus, memory_mib} of the node (the bounds of one VM)."""
        return self._read(node, host_caps.node_figures, kind="node", obj=node)

    def guest_types(self, node: str, arch: str) -> list[str]:
        """Domain types libvirt offers for hvm guests of arch, e.g. ['qemu', 'kvm']."""
        return self._read(node, lambda c: host_caps.guest_types(c, arch), kind="node", obj=node)

    def domain_capabilities(self, node: str, domain_type: str, arch: str, machine: str | None = None) -> DomainCaps:
        """CPU modes, firmware (Secure Boot for that machine) and TPM libvirt offers guests of that type and
        arch."""
        return self._read(node, lambda c: host_caps.domain_caps(c, domain_type, arch, machine), kind="node",
                          obj=node)

    def probe_kvm(self, node: str, pool: str) -> tuple[bool, str]:
        """Boot a probe guest under KVM (a temporary volume in pool, a transient domain): (usable, observed)."""
        return self._write(node, lambda c: kvm_probe.probe_kvm(c, pool), kind="node", obj=node)

    def macs_in_use(self, node: str) -> dict[str, str]:
        """MAC -> VM name over every domain's live and persistent config."""
        return self._check(node, domain.macs_in_use, kind="node", obj=node)

    def vm_network(self, node: str, name: str) -> dict[str, Any]:
        """{name, active, bridge, ipv4, dhcp_ranges} of a libvirt network a NIC would join."""
        return self._read(node, lambda c: vm_net.network_info(c, name), kind="network", obj=name)

    def vm_host_interfaces(self, node: str) -> set[str]:
        """Names of the node's interfaces a bridge or direct NIC can use."""
        return self._read(node, vm_net.host_interfaces, kind="node", obj=node)

    # -- the storage a VM uses -------------------------------------------------------------------------
    def vm_pool(self, node: str, pool: str) -> dict[str, Any]:
        """{name, active, type, path} of a pool (404 StoragePoolNotFound)."""
        return self._read(node, lambda c: vm_volumes.pool_info(c, pool), kind="storage_pool", obj=pool)

    def vm_volume(self, node: str, pool: str, name: str) -> dict[str, Any]:
        """{pool, volume, path, format, capacity_bytes, backing} of a volume (404 VolumeNotFound)."""
        return self._read(node, lambda c: vm_volumes.volume_info(c, pool, name), kind="volume", obj=name)

    def vm_volume_exists(self, node: str, pool: str, name: str) -> bool:
        """Whether the pool holds a volume of that name."""
        return self._read(node, lambda c: vm_volumes.volume_exists(c, pool, name), kind="volume", obj=name)

    def vm_references(self, node: str) -> References:
        """Who references which image on the node (the storage module's one scan: disks, boot files, chains)."""
        return self._check(node, vol_hv.references, kind="node", obj=node)

    def vm_volume_users(self, node: str, pool: str, name: str, path: str | None) -> list[DiskUser]:
        """The VMs that open this volume directly (not through a chain), from the reference index for the VMs
        naming it only: a linked clone's check, without the whole node's scan (vm_references)."""
        return self._check(node, lambda c: vol_hv.direct_users(c, pool, name, path), kind="volume", obj=name)

    def create_vm_volume(self, node: str, pool: str, name: str, capacity_bytes: int, fmt: str,
                         backing: dict[str, str] | None = None, *, expected_path: str | None = None
                         ) -> dict[str, Any]:
        """A blank disk, or with backing {path, format} a qcow2 overlay on it; its volume info (`expected_path`:
        where the pool's type puts it, see vm_volumes.create_volume)."""
        return self._write(node, lambda c: vm_volumes.create_volume(c, pool, name, capacity_bytes, fmt, backing,
                                                                    expected_path=expected_path),
                           kind="volume", obj=name, action="creating")

    def copy_vm_volume(self, node: str, pool: str, name: str, source: dict[str, Any], fmt: str,
                       capacity_bytes: int) -> dict[str, Any]:
        """A full copy of source {pool, volume} made on the node; its volume info."""
        return self._write(node, lambda c: vm_volumes.copy_volume(c, pool, name, source, fmt, capacity_bytes),
                           kind="volume", obj=name, action="copying to")

    def resize_vm_volume(self, node: str, pool: str, name: str, capacity_bytes: int) -> None:
        """Grow a VM's new disk."""
        self._write(node, lambda c: vm_volumes.resize_volume(c, pool, name, capacity_bytes), kind="volume",
                    obj=name, action="resizing")

    def upload_vm_seed(self, node: str, pool: str, name: str, data: bytes) -> dict[str, Any]:
        """A new volume holding the cloud-init seed ISO, sent through a libvirt upload stream; its info."""
        return self._write(node, lambda c: vm_volumes.upload_volume(c, pool, name, data), kind="volume", obj=name,
                           action="uploading the cloud-init seed to")

    def delete_vm_volume(self, node: str, pool: str, name: str) -> bool:
        """Delete a VM's volume: True when deleted, False when already gone (409 ResourceBusy when held)."""
        return self._write(node, lambda c: vm_volumes.delete_volume(c, pool, name), kind="volume", obj=name)

    # -- following changes ---------------------------------------------------------------------------------
    def follow_vm_events(self, node: str, key: str, fn: Callable[[VmEvent], None]) -> bool:
        """fn(VmEvent) for every domain change on the node, from libvirt's events on the node's current
        connection (hypervisor/events.py). Idempotent per `key` and connection: a follower calls it again and
        again, and it subscribes only to a connection it does not follow yet (a reopened connection starts
        with no subscribers). False when the node's driver has no events."""
        def translate(ev: DomainEvent) -> None:
            fn(vm_event(node, ev))
        return self._read(node, lambda c: DOMAIN_EVENTS.subscribe_once(c, key, translate), kind="node", obj=node)


def vm_event(node: str, ev: DomainEvent) -> VmEvent:
    """The stream's name of a libvirt event: a start or stop caused by a migration is `migrated` (reason
    `incoming` / `outgoing`), a stop after a crash is `crashed`; metadata and device changes are named so."""
    if ev.kind == "metadata":
        return VmEvent(node, ev.uuid, ev.name, "metadata-changed")
    if ev.kind in ("device-added", "device-removed"):
        return VmEvent(node, ev.uuid, ev.name, ev.kind, device=ev.change)
    event, reason = ev.change or "changed", ev.detail
    if reason == "migrated" and event in ("started", "stopped"):
        event, reason = "migrated", "incoming" if event == "started" else "outgoing"
    elif event == "stopped" and reason == "crashed":
        event = "crashed"
    return VmEvent(node, ev.uuid, ev.name, event, reason)
