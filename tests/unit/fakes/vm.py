"""Fakes for the VM service: the node gateway's VM operations over in-memory VMs and volumes, and the node
service's part (node names, records with the KVM probe's answer). No libvirt, no patched module paths."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from jvp.domain.node import NodeRecord
from jvp.domain.vm import GONE, DiskDevice, DiskView, NicDevice, NicView, VmView
from jvp.domain.vm_caps import DomainCaps
from jvp.domain.volume import DiskUser, References, VmDisk, VolumeLink
from jvp.errors import JvpError, NotFound
from tests.unit.fakes.fan_out import SequentialFanOut


class FakeVmNodes:
    """The node service's names, record (kvm_usable as the test sets it), record_kvm_probe, ensure_available."""

    def __init__(self, names: tuple[str, ...] = ("local",), kvm_usable: bool | None = None):
        self._names = list(names)
        self.kvm_usable = kvm_usable
        self.recorded: list[bool] = []

    def names(self) -> list[str]:
        return list(self._names)

    def record(self, name: str) -> NodeRecord:
        if name not in self._names:
            raise NotFound(f"node '{name}' not found", code="NodeNotFound")
        return NodeRecord(name=name, uri="qemu:///system", kvm_usable=self.kvm_usable)

    def ensure_available(self, name: str) -> NodeRecord:
        return self.record(name)

    def record_kvm_probe(self, name: str, usable: bool) -> None:
        self.recorded.append(usable)
        self.kvm_usable = usable


def vm_view(name: str, state: str = "stopped", node: str = "local", **kw: Any) -> VmView:
    """A describe-vm view with the fields a test does not care about filled in."""
    args: dict[str, Any] = dict(name=name, uuid=f"uuid-{name}", node=node, state=state, state_reason=None, vcpus=1,
                                max_vcpus=1, memory_mib=512, max_memory_mib=512, persistent=True, template=None,
                                labels={}, description=None, created_at=None, problems=[], ips=[])
    args.update(kw)
    return VmView(**args)


def disk(target: str, path: str | None, *, device: str = "disk", pool: str | None = "default",
         volume: str | None = None, system: bool = False) -> DiskView:
    return DiskView(target=target, device=device, bus="virtio" if device == "disk" else "ide", path=path,
                    format="qcow2" if device == "disk" else "raw", pool=pool if volume else None, volume=volume,
                    system=system)


@dataclass
class FakeGuest:
    """One VM: its view, and how its guest answers a shutdown request (off after `stops_after` half-second
    polls; None: never)."""
    view: VmView
    stops_after: int | None = 0
    shutdown_asked: bool = False
    password: dict[str, str] = field(default_factory=dict)


class FakeVmGateway(SequentialFanOut):
    """The VM operations of NodeGateway over in-memory guests and volumes; `calls` records every change in
    order, as (method, *arguments)."""

    def __init__(self, guests: list[FakeGuest] = (), *, figures: dict[str, Any] | None = None,
                 offered: list[str] = ("qemu", "kvm"), probe: tuple[bool, str] = (False, "paused"),
                 caps: DomainCaps = DomainCaps(published=False), volumes: list[dict[str, Any]] = (),
                 users: dict[str, list[str]] | None = None, dependents: dict[str, list[str]] | None = None,
                 networks: dict[str, dict[str, Any]] | None = None, interfaces: set[str] = frozenset(),
                 failing_nodes: dict[str, JvpError] | None = None):
        self.guests = {g.view.name: g for g in guests}
        self.figures = figures or {"arch": "x86_64", "cpus": 4, "memory_mib": 8192}
        self.offered = list(offered)
        self.probe = probe
        self.caps = caps
        self.caps_asked: list[str | None] = []  # the machine of each domain_capabilities call
        self.volumes = {(v["pool"], v["volume"]): dict(v) for v in volumes}
        self.users = dict(users or {})
        self.dependents = dict(dependents or {})
        self.networks = dict(networks or {})
        self.interfaces = set(interfaces)
        self.failing_nodes = dict(failing_nodes or {})
        self.calls: list[tuple] = []
        self.probes = 0

    # -- helpers ------------------------------------------------------------------------------------------
    def _guest(self, node: str, name: str) -> FakeGuest:
        if name not in self.guests:
            raise NotFound(f"vm '{name}' not found on node '{node}'", code="VmNotFound")
        return self.guests[name]

    def _set_state(self, name: str, state: str) -> str:
        g = self.guests[name]
        g.view = replace(g.view, state=state)
        return state

    # -- domains: reading -----------------------------------------------------------------------------
    def vm_summaries(self, node: str) -> list[dict[str, Any]]:
        if node in self.failing_nodes:
            raise self.failing_nodes[node]
        return [{"name": g.view.name, "node": node, "state": g.view.state, "labels": dict(g.view.labels)}
                for g in self.guests.values() if g.view.node == node]

    def describe_vm(self, node: str, name: str) -> VmView:
        return self._guest(node, name).view

    def vm_xml(self, node: str, name: str) -> dict[str, Any]:
        self._guest(node, name)
        return {"xml": f"<domain><name>{name}</name></domain>", "inactive_xml": None}

    def vm_state(self, node: str, name: str) -> str:
        return self._guest(node, name).view.state

    def vm_exists(self, node: str, name: str) -> bool:
        return name in self.guests

    def vm_disk_targets(self, node: str, name: str) -> dict[str, dict[str, Any]]:
        return {d.target: {"path": d.path, "device": d.device} for d in self._guest(node, name).view.disks}

    def wait_vm_stopped(self, node: str, name: str, timeout_s: float) -> tuple[str, float]:
        g = self._guest(node, name)
        if not g.shutdown_asked or g.stops_after is None or g.stops_after * 0.5 > timeout_s:
            return g.view.state, float(timeout_s)
        if g.view.persistent is False:  # libvirt removes a transient domain when it stops
            del self.guests[name]
            return GONE, 0.5 * g.stops_after
        return self._set_state(name, "stopped"), 0.5 * g.stops_after

    # -- domains: power and changes ---------------------------------------------------------------------
    def start_vm(self, node: str, name: str, started_at: str, *, action: str | None = None) -> str:
        self._guest(node, name)
        self.calls.append(("start_vm", name))
        return self._set_state(name, "running")

    def power_vm(self, node: str, name: str, op: str) -> str:
        g = self._guest(node, name)
        self.calls.append(("power_vm", name, op))
        if op == "shutdown":
            g.shutdown_asked = True
            return g.view.state
        if op == "destroy" and g.view.persistent is False:
            del self.guests[name]
            return GONE
        return self._set_state(name, {"destroy": "stopped", "suspend": "paused", "resume": "running",
                                      "wakeup": "running"}.get(op, g.view.state))

    def define_vm(self, node: str, spec) -> str:
        self.calls.append(("define_vm", spec.name))
        self.guests[spec.name] = FakeGuest(vm_view(spec.name, node=node, uuid=spec.uuid))
        return spec.uuid

    def resize_vm(self, node: str, name: str, vcpus: int | None, memory_mib: int | None) -> dict[str, list[str]]:
        g = self._guest(node, name)
        self.calls.append(("resize_vm", name, vcpus, memory_mib))
        g.view = replace(g.view, vcpus=vcpus or g.view.vcpus, memory_mib=memory_mib or g.view.memory_mib)
        changed = [k for k, v in (("vcpus", vcpus), ("memory_mib", memory_mib)) if v is not None]
        return {"applied_live": [], "next_boot": changed, "notes": []}

    def update_vm_facts(self, node: str, name: str, *, description: str | None = None,
                        labels: dict[str, str] | None = None) -> None:
        g = self._guest(node, name)
        self.calls.append(("update_vm_facts", name, description, labels))
        g.view = replace(g.view, description=description if description is not None else g.view.description,
                         labels=labels if labels is not None else g.view.labels)

    def set_vm_autostart(self, node: str, name: str, on: bool) -> None:
        self._guest(node, name)
        self.calls.append(("set_vm_autostart", name, on))

    def rename_vm(self, node: str, name: str, new_name: str) -> None:
        g = self._guest(node, name)
        del self.guests[name]
        self.calls.append(("rename_vm", name, new_name))
        g.view = replace(g.view, name=new_name)
        self.guests[new_name] = g

    def attach_vm_disk(self, node: str, name: str, disk_: DiskDevice) -> str:
        g = self._guest(node, name)
        disk_.target = disk_.target or "vdb"
        self.calls.append(("attach_vm_disk", name, disk_.target, disk_.path))
        g.view = replace(g.view, disks=[*g.view.disks, disk(disk_.target, disk_.path)])
        return "applied" if g.view.state == "running" else "not-running"

    def detach_vm_disk(self, node: str, name: str, target: str) -> str:
        g = self._guest(node, name)
        self.calls.append(("detach_vm_disk", name, target))
        g.view = replace(g.view, disks=[d for d in g.view.disks if d.target != target])
        return "applied" if g.view.state == "running" else "not-running"

    def change_vm_media(self, node: str, name: str, target: str, path: str | None, fmt: str = "raw") -> str:
        self._guest(node, name)
        self.calls.append(("change_vm_media", name, target, path))
        return "not-running"

    def attach_vm_nic(self, node: str, name: str, nic: NicDevice) -> str:
        g = self._guest(node, name)
        self.calls.append(("attach_vm_nic", name, nic.mac))
        g.view = replace(g.view, nics=[*g.view.nics, NicView(mac=nic.mac, type=nic.kind)])
        return "applied" if g.view.state == "running" else "not-running"

    def detach_vm_nic(self, node: str, name: str, mac: str) -> str:
        g = self._guest(node, name)
        self.calls.append(("detach_vm_nic", name, mac))
        g.view = replace(g.view, nics=[n for n in g.view.nics if n.mac != mac])
        return "applied" if g.view.state == "running" else "not-running"

    def set_vm_user_password(self, node: str, name: str, user: str, password: str) -> None:
        self._guest(node, name).password[user] = password
        self.calls.append(("set_vm_user_password", name, user))

    def undefine_vm(self, node: str, name: str) -> dict[str, Any]:
        self._guest(node, name)
        self.calls.append(("undefine_vm", name))
        del self.guests[name]
        return {"snapshots_deleted": 0, "nvram_removed": False}

    def undefine_vm_if_uuid(self, node: str, name: str, uuid: str) -> bool:
        if name not in self.guests or self.guests[name].view.uuid != uuid:
            return False
        self.undefine_vm(node, name)
        return True

    # -- what the node offers ---------------------------------------------------------------------------
    def node_figures(self, node: str) -> dict[str, Any]:
        return dict(self.figures)

    def guest_types(self, node: str, arch: str) -> list[str]:
        return list(self.offered)

    def domain_capabilities(self, node: str, domain_type: str, arch: str, machine: str | None = None) -> DomainCaps:
        self.caps_asked.append(machine)
        return self.caps

    def probe_kvm(self, node: str, pool: str) -> tuple[bool, str]:
        self.probes += 1
        return self.probe

    def macs_in_use(self, node: str) -> dict[str, str]:
        return {n.mac: g.view.name for g in self.guests.values() for n in g.view.nics}

    def vm_network(self, node: str, name: str) -> dict[str, Any]:
        if name not in self.networks:
            raise NotFound(f"network '{name}' not found on node '{node}'", code="NetworkNotFound")
        return self.networks[name]

    def vm_host_interfaces(self, node: str) -> set[str]:
        return set(self.interfaces)

    # -- storage -----------------------------------------------------------------------------------------
    def vm_pool(self, node: str, pool: str) -> dict[str, Any]:
        if not any(p == pool for p, _ in self.volumes) and pool != "default":
            raise NotFound(f"storage pool '{pool}' not found on node '{node}'", code="StoragePoolNotFound")
        return {"name": pool, "active": True, "type": "dir", "path": f"/pools/{pool}"}

    def vm_volume(self, node: str, pool: str, name: str) -> dict[str, Any]:
        if (pool, name) not in self.volumes:
            raise NotFound(f"volume '{name}' not found on node '{node}'", code="VolumeNotFound")
        return dict(self.volumes[(pool, name)])

    def vm_volume_exists(self, node: str, pool: str, name: str) -> bool:
        return (pool, name) in self.volumes

    def vm_references(self, node: str) -> References:
        """`users` (path -> VMs whose disk opens it) and `dependents` (path -> volumes backed by it) as the
        usage scan's References."""
        disks = [DiskUser(vm=vm, running=False, disk=VmDisk(target="vdz", device="disk", path=p, pool=None,
                                                            volume=None))
                 for p, vms in self.users.items() for vm in vms]
        links = [VolumeLink(pool="default", name=d.rsplit("/", 1)[-1], path=d, backing=p)
                 for p, deps in self.dependents.items() for d in deps]
        return References(users_=disks, volumes=links)

    def vm_volume_users(self, node: str, pool: str, name: str, path: str | None) -> list[DiskUser]:
        """vm_references' direct users of the volume (the narrow query of a linked clone's check)."""
        return [u for u in self.vm_references(node).users(pool, name, path) if not u.backing]

    def delete_vm_volume(self, node: str, pool: str, name: str) -> bool:
        self.calls.append(("delete_vm_volume", pool, name))
        return self.volumes.pop((pool, name), None) is not None
