"""Every check of a create-vm request, before any task or libvirt change: the result is a CreatePlan.

System disk (exactly one source; also in the README):
- `volume` (in `pool`): by default the VM uses that volume itself (it must not be attached to another VM,
  back linked clones, or be a template); `clone: linked` makes a qcow2 overlay `<vm>-root.qcow2` on top of
  it (the volume must then be attached to no VM: writes under an overlay corrupt it), `clone: full` an
  independent copy. `disk_size_gib` grows a clone; it is refused for a volume used as is.
- a base-image source registered by another module (the template module registers `template`): resolver
  (node, value) -> BaseImage; a linked clone unless `clone: full`.
- none of these: a blank qcow2 disk of `disk_size_gib`, usually with `iso` (a volume holding an install
  ISO) to boot from.
New volumes are named `<vm>-root.qcow2`, `<vm>-disk<N>.<format>` and `.jvp-cidata-<vm>-<8 hex>.iso`
(the `.jvp-` prefix marks JVP's internal files); an existing volume of that name is a 409.
"""
from __future__ import annotations

import copy
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from jvp.domain.storage_pool import INTERNAL_VOLUME_PREFIX
from jvp.domain.vm import VmFacts
from jvp.domain.volume import References
from jvp.errors import InvalidInput, already_exists, pool_inactive
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.keypair import KeypairService
from jvp.service.node import NodeService
from jvp.service.vm import profile
from jvp.service.vm.cloudinit import Seed, build_seed
from jvp.service.vm.rules import (capacity_error, check_mac, check_nic_source, check_writable_volume, random_mac,
                                  volume_in_use)
from jvp.timeutil import rfc3339

GIB = 2**30


@dataclass
class BaseImage:
    """What a clone starts from."""
    pool: str
    volume: str
    path: str
    format: str
    capacity_bytes: int
    template: dict[str, str] | None = None   # {"name", "pool", "volume"}: recorded in the VM's metadata
    # called once the VM made from it exists (the create task succeeded), never for a refused or failed create
    on_used: Callable[[], None] | None = None


BaseImageResolver = Callable[[str, Any], BaseImage]
Checked = dict[tuple[str, str], dict[str, Any]]  # (node, pool) -> gateway.vm_pool's answer, per plan

# Pool types whose volumes libvirt puts at `<the pool's target path>/<volume name>` (its filesystem backend)
PATH_BY_NAME_POOLS = frozenset({"dir", "fs", "netfs"})


@dataclass
class DiskPlan:
    target: str
    action: str                       # use | blank | linked | full
    pool: str
    name: str
    format: str = "qcow2"
    size_bytes: int = 0
    base: BaseImage | None = None
    existing: dict[str, Any] | None = None
    # where a new disk will be (PATH_BY_NAME_POOLS), known before it exists: the create task makes such disks
    # while it registers their cleanups and defines the domain (None: made first, path from libvirt)
    path: str | None = None


@dataclass
class CreatePlan:
    node: str
    name: str
    uuid: str
    arch: str
    vcpus: int
    memory_mib: int
    pool: str
    firmware: str
    cpu_mode: str | None
    secure_boot: bool
    tpm: bool
    disks: list[DiskPlan]
    iso: dict[str, Any] | None
    nics: list[dict[str, Any]]
    seed: Seed | None
    seed_volume: str | None
    facts: VmFacts
    autostart: bool
    start: bool
    wait_for: str
    wait_timeout_s: int
    # os_profile (service/vm/profile.py): the guest OS family, the bus of every disk, the VirtIO driver ISO
    os_profile: str = "linux"
    disk_bus: str = "virtio"
    virtio_iso: dict[str, Any] | None = None
    cleanups: list[dict[str, Any]] = field(default_factory=list)


def new_volume_path(pool: dict[str, Any] | None, disk: DiskPlan) -> str | None:
    """The path libvirt gives a new volume in a pool of a PATH_BY_NAME_POOLS type (its sanitized target path,
    a slash, the name); None for other pools (logical, rbd, ...: libvirt decides)."""
    if not pool or pool.get("type") not in PATH_BY_NAME_POOLS or not pool.get("path"):
        return None
    return f"{pool['path'].rstrip('/') or ''}/{disk.name}"


_AHEAD_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="create-vm-plan")


class _Ahead:
    """The gateway, with some reads started ahead (`start`: in parallel on a small pool): the first call of the
    same method with the same arguments takes that answer (or its error, raised then); any other call goes to
    the gateway as usual. An answer never asked for (the plan stopped at an earlier error) is dropped."""

    def __init__(self, gateway: NodeGateway):
        self._gateway = gateway
        self._started: dict[tuple[str, tuple[Any, ...]], Future[Any]] = {}

    def start(self, method: str, *args: Any) -> None:
        self._started[(method, args)] = _AHEAD_POOL.submit(getattr(self._gateway, method), *args)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        fn = getattr(self._gateway, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            fut = None if kwargs else self._started.pop((method, args), None)
            return fn(*args, **kwargs) if fut is None else fut.result()
        return call


def _once(fn: Callable[[], References]) -> Callable[[], References]:
    """fn, called at most once (its answer kept)."""
    kept: list[References] = []

    def get() -> References:
        if not kept:
            kept.append(fn())
        return kept[0]
    return get


def _bad(field_name: str, message: str, code: str = "InvalidInput") -> InvalidInput:
    return InvalidInput(message, code=code, details={"field_errors": {field_name: [message]}})


class Planner:
    """`base_image_sources`: the system-disk sources other modules provide, by request field (the template
    module's "template": resolver(node, request["template"]) -> BaseImage)."""

    def __init__(self, nodes: NodeService, gateway: NodeGateway, keypairs: KeypairService,
                 base_image_sources: dict[str, BaseImageResolver] | None = None):
        self.nodes = nodes
        self.gateway = gateway
        self.keypairs = keypairs
        self.base_image_sources: dict[str, BaseImageResolver] = dict(base_image_sources or {})

    def _pool(self, node: str, name: str, checked: Checked | None = None) -> None:
        """The pool exists and is active (404 StoragePoolNotFound, 412 StoragePoolInactive). `checked`: the
        pools one plan has checked already, with what the node said of each (each is asked once per plan)."""
        if checked is not None and (node, name) in checked:
            return
        info = self.gateway.vm_pool(node, name)
        if not info["active"]:
            raise pool_inactive(name, node)
        if checked is not None:
            checked[(node, name)] = info

    def _volume(self, node: str, pool: str, name: str, checked: Checked | None = None
                ) -> dict[str, Any]:
        self._pool(node, pool, checked)
        return self.gateway.vm_volume(node, pool, name)

    def _free_name(self, node: str, pool: str, name: str) -> None:
        if self.gateway.vm_volume_exists(node, pool, name):
            raise already_exists("volume", name, node, code="VolumeExists", pool=pool)

    # -- the system disk -----------------------------------------------------------------------------
    def system_disk(self, req: dict[str, Any], users: Callable[[], References],
                    checked: Checked | None = None) -> DiskPlan:
        """`users()`: the node's References (the one usage scan), read only when a volume used as is needs
        them."""
        node, name, pool = req["node"], req["name"], req["pool"]
        given = [k for k in ("volume", *self.base_image_sources) if req.get(k) is not None]
        if len(given) > 1:
            raise _bad(given[1], f"give one system disk source, not {' and '.join(given)}")
        size = req["disk_size_gib"] * GIB if req.get("disk_size_gib") else None
        clone = req.get("clone")
        root_name = f"{name}-root.qcow2"
        if not given:
            if clone:
                raise _bad("clone", "clone applies to a volume or a template, and none was given")
            if not size:
                raise _bad("disk_size_gib", "say what the system disk is: `volume` (an existing volume), a "
                           "template, or `disk_size_gib` for a blank disk (with `iso` to install from)")
            self._free_name(node, pool, root_name)
            return DiskPlan("vda", "blank", pool, root_name, "qcow2", size)
        if given[0] == "volume":
            vol = self._volume(node, pool, req["volume"], checked)
            if not clone:
                if size:
                    raise _bad("disk_size_gib", "disk_size_gib resizes a clone; to use the volume itself, resize "
                               "it with resize-volume (or ask for clone: linked or full)")
                check_writable_volume(self.gateway, node, vol, users())
                return DiskPlan("vda", "use", pool, vol["volume"], vol["format"], existing=vol)
            # a VM writing to the base itself would corrupt a linked clone; other clones on it are fine. Only
            # the VMs naming this volume are read (the reference index), not the whole node's usage scan
            if clone == "linked":
                in_use = sorted({u.vm for u in self.gateway.vm_volume_users(node, pool, vol["volume"], vol["path"])})
                if in_use:
                    raise volume_in_use(pool, vol["volume"], in_use, node)
            base = BaseImage(pool=pool, volume=vol["volume"], path=vol["path"], format=vol["format"],
                             capacity_bytes=vol["capacity_bytes"] or 0)
        else:
            base = self.base_image_sources[given[0]](node, req[given[0]])
        clone = clone or "linked"
        if size and size < base.capacity_bytes:
            raise _bad("disk_size_gib", f"the base image is {base.capacity_bytes / GIB:.1f} GiB: the disk "
                       "cannot be smaller (disks only grow)")
        self._free_name(node, pool, root_name)
        return DiskPlan("vda", clone, pool, root_name, "qcow2", max(size or 0, base.capacity_bytes), base=base)

    def extra_disks(self, req: dict[str, Any], users: Callable[[], References], taken: set[str],
                    checked: Checked | None = None) -> list[DiskPlan]:
        out = []
        for i, d in enumerate(req.get("extra_disks") or [], start=1):
            target = f"vd{chr(ord('a') + i)}"
            pool = d.get("pool") or req["pool"]
            if (d.get("volume") is None) == (d.get("size_gib") is None):
                raise _bad(f"extra_disks.{i - 1}", "give either size_gib (a new disk) or volume (an existing one)")
            if d.get("volume"):
                vol = self._volume(req["node"], pool, d["volume"], checked)
                if vol["path"] in taken:
                    raise _bad(f"extra_disks.{i - 1}.volume", f"volume '{d['volume']}' is given twice")
                check_writable_volume(self.gateway, req["node"], vol, users())
                taken.add(vol["path"])
                out.append(DiskPlan(target, "use", pool, vol["volume"], vol["format"], existing=vol))
            else:
                self._pool(req["node"], pool, checked)
                name = f"{req['name']}-disk{i}.{d['format']}"
                self._free_name(req["node"], pool, name)
                out.append(DiskPlan(target, "blank", pool, name, d["format"], d["size_gib"] * GIB))
        return out

    # -- NICs ----------------------------------------------------------------------------------------
    def nics(self, req: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        node = req["node"]
        used = self.gateway.macs_in_use(node) if req.get("nics") else {}
        out, networks = [], {}
        for i, n in enumerate(req.get("nics") or []):
            kinds = [k for k in ("network", "bridge", "direct") if n.get(k)]
            if len(kinds) != 1:
                raise _bad(f"nics.{i}", "give exactly one of network, bridge or direct")
            kind, source = kinds[0], n[kinds[0]]
            info = check_nic_source(self.gateway, node, kind, source, need_active=req["start"])
            if info:
                networks[source] = info
            if n.get("mac"):
                mac = check_mac(n["mac"], used, node, field=f"nics.{i}.mac")
            else:
                mac = random_mac(used)
            used[mac] = req["name"]  # the next NIC of this request cannot take it either
            out.append({"kind": kind, "source": source, "mac": mac, "model": n.get("model") or "virtio",
                        "network": source if kind == "network" else None})
        return out, networks

    # -- everything ----------------------------------------------------------------------------------
    def plan(self, req: dict[str, Any], created_by: str | None) -> CreatePlan:
        node = req["node"]
        if req.get("secure_boot") and req["firmware"] != "uefi":
            raise _bad("secure_boot", "Secure Boot is a UEFI feature: give firmware: uefi with secure_boot: true")
        if req.get("secure_boot") and req.get("os_profile") == "windows":
            # Secure Boot needs q35 (no IDE), and a Windows installer has no driver for the virtio-scsi
            # cdroms JVP puts there (jvp/domain/vm_firmware.py): refused until SATA cdroms are added
            raise _bad("secure_boot", "Secure Boot is not offered for os_profile windows yet: use firmware: uefi "
                                      "without secure_boot")
        self.nodes.ensure_available(node)
        return copy.copy(self)._plan(req, created_by)  # the copy reads through its own _Ahead

    def _plan(self, req: dict[str, Any], created_by: str | None) -> CreatePlan:
        node, name = req["node"], req["name"]
        # the node's answers the checks below need, asked at once in parallel (each a libvirt round trip or a
        # few); every check still reads them in its order, so the first error reported is the same
        self.gateway = ahead = _Ahead(self.gateway)
        ahead.start("vm_exists", node, name)
        ahead.start("node_figures", node)
        ahead.start("vm_pool", node, req["pool"])
        if req.get("volume") is not None:
            ahead.start("vm_volume", node, req["pool"], req["volume"])
        ahead.start("vm_volume_exists", node, req["pool"], f"{name}-root.qcow2")
        if req.get("nics"):
            ahead.start("macs_in_use", node)
        if self.gateway.vm_exists(node, name):
            raise already_exists("vm", name, node, code="VmExists")
        figures = self.gateway.node_figures(node)
        if req["vcpus"] > figures["cpus"]:
            raise capacity_error(node, "vcpus", req["vcpus"], figures["cpus"])
        if req["memory_mib"] > figures["memory_mib"]:
            raise capacity_error(node, "memory_mib", req["memory_mib"], figures["memory_mib"])
        checked: Checked = {}  # each pool is looked up once
        self._pool(node, req["pool"], checked)
        users = _once(lambda: self.gateway.vm_references(node))  # the whole node's scan, only when needed
        system = self.system_disk(req, users, checked)
        taken = {system.existing["path"]} if system.existing else set()
        disks = [system, *self.extra_disks(req, users, taken, checked)]
        iso = None
        if req.get("iso"):
            iso = self._volume(node, req["iso"].get("pool") or req["pool"], req["iso"]["volume"], checked)
        for d in disks:  # where libvirt will put a new disk, when its pool type says so before it exists
            d.path = new_volume_path(checked.get((node, d.pool)), d) if d.action in ("linked", "blank") else None
        devices = profile.devices(req, blank_system_disk=system.action == "blank")
        for d in disks:
            d.target = profile.disk_target(devices.disk_bus, d.target)
        virtio_iso = None
        if req.get("virtio_iso"):
            virtio_iso = self._volume(node, req["virtio_iso"].get("pool") or req["pool"], req["virtio_iso"]["volume"],
                                      checked)
        nics, networks = self.nics(req)
        for n, model in zip(nics, devices.nic_models):
            n["model"] = model
        seed = build_seed(vm_name=name, cloud_init=req.get("cloud_init"), user_data=req.get("user_data"),
                          nics=nics, networks=networks,
                          keypair_key=lambda k: self.keypairs.get(k)["public_key"], os_profile=devices.os_profile)
        seed_volume = f"{INTERNAL_VOLUME_PREFIX}cidata-{name}-{uuid.uuid4().hex[:8]}.iso" if seed else None
        base = system.base
        facts = VmFacts(created_at=rfc3339(), created_by=created_by, description=req.get("description") or "",
                        template=base.template if base else None, keypairs=seed.keypairs if seed else [],
                        labels=req.get("labels") or {}, system_disk=system.target,
                        instance_id=seed.instance_id if seed else None, seed_pool=req["pool"] if seed else None,
                        seed_volume=seed_volume)
        return CreatePlan(node=node, name=name, uuid=str(uuid.uuid4()), arch=figures["arch"], vcpus=req["vcpus"],
                          memory_mib=req["memory_mib"], pool=req["pool"], firmware=req["firmware"],
                          secure_boot=req.get("secure_boot", False), tpm=req.get("tpm", False),
                          cpu_mode=req.get("cpu_mode"), disks=disks, iso=iso, nics=nics, seed=seed,
                          seed_volume=seed_volume, facts=facts, autostart=req["autostart"], start=req["start"],
                          wait_for=req["wait_for"], wait_timeout_s=req["wait_timeout_s"],
                          os_profile=devices.os_profile, disk_bus=devices.disk_bus, virtio_iso=virtio_iso)
