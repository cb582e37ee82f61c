"""clone-from-snapshot: a new VM whose every disk holds the source's state at the snapshot.

Choices (also in the README):
- the definition is the snapshot's copy of the source VM (its devices as they were then), with a new name,
  UUID and MACs (clone_xml.py);
- each disk the snapshot holds becomes a new, flat qcow2 volume with the disk's content at the snapshot
  (disk.py): independent of the source's disks and of any backing image, named like create-vm's
  (`<new>-root.qcow2` for the system disk, `<new>-disk<N>.qcow2`), in `pool` or else the source disk's pool;
- a VM with cloud-init gets its own seed ISO: the source's documents with a new instance id, the clone's
  host name and MACs (cloudinit/reseed.py); read-only media other than the seed stay as they were;
- the task holds the source VM (exclusive with its other snapshot tasks); the source keeps running;
- a failure removes every volume and the domain it made. The clone starts unless `start` is false.
"""
from __future__ import annotations

import logging
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jvp.cloudinit import iso as ci_iso
from jvp.cloudinit import reseed
from jvp.cloudinit import seed as ci_seed
from jvp.domain.snapshot import SnapshotDefinition
from jvp.domain.storage_pool import FILE_POOL_TYPES, INTERNAL_VOLUME_PREFIX
from jvp.errors import JvpError, NotSupported, PreconditionFailed, already_exists, pool_inactive
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.snapshot.disk import DiskReader
from jvp.service.snapshot.service import SnapshotService, vm_resource
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.vm.rules import random_mac
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)


@dataclass
class CloneDisk:
    target: str
    path: str
    pool: str
    volume: str                   # the new volume's name


@dataclass(frozen=True)
class CloneSeed:
    """The clone's cloud-init seed: the drive it fills, the source's seed to start from, the new volume."""
    target: str
    source_path: str | None       # None: the source's seed volume is gone (a new seed is written)
    pool: str
    volume: str


@dataclass
class ClonePlan:
    node: str
    vm: str
    snapshot: str
    name: str
    uuid: str
    source: SnapshotDefinition    # the snapshot's copy of the source definition (edited into the clone's)
    disks: list[CloneDisk]
    old_macs: list[str]
    macs: list[str]
    seed: CloneSeed | None
    start: bool
    created_by: str | None
    notes: list[str] = field(default_factory=list)


class SnapshotCloner:
    def __init__(self, snapshots: SnapshotService, nodes: NodeService, gateway: NodeGateway, tasks: TaskService,
                 reader: DiskReader):
        self.snapshots = snapshots
        self.nodes = nodes
        self.gateway = gateway
        self.tasks = tasks
        self.reader = reader

    # -- every check before the task ------------------------------------------------------------------------
    def plan(self, node: str, vm: str, name: str, new_name: str, pool: str | None, start: bool,
             created_by: str | None) -> ClonePlan:
        self.nodes.ensure_available(node)
        self.snapshots.vm_state(node, vm)
        source = self.snapshots.definition(node, vm, name)
        view = source.view
        if view.location != "internal" or source.xml is None:
            raise NotSupported(f"snapshot '{name}' of vm '{vm}' is not an internal snapshot with the VM's "
                               "definition; only those can be cloned", code="NotSupported",
                               details={"vm": vm, "snapshot": name})
        if self.gateway.clone_vm_exists(node, new_name):
            raise already_exists("vm", new_name, node, code="VmExists")
        captured = {d.target for d in view.disks if d.snapshot == "internal"}
        choices, refused = source.disks, source.refused
        writable = [d for d in choices if d.snapshot == "internal" or d in refused]
        missing = [d.target for d in writable if d.target not in captured]
        if missing:
            raise PreconditionFailed(f"snapshot '{name}' of vm '{vm}' does not hold writable disk(s) "
                                     f"{', '.join(missing)}: a clone would have no content for them",
                                     code="SnapshotIncomplete", details={"vm": vm, "snapshot": name,
                                                                         "disks": missing})
        system = source.system_disk
        disks, extra = [], 0
        for d in (c for c in choices if c.target in captured):
            src = self.gateway.snapshot_volume_at(node, d.path)
            if src is None:
                raise PreconditionFailed(f"disk {d.target} of the snapshot ({d.path}) is no longer a volume of "
                                         f"an active storage pool on node '{node}'", code="DiskNotReadable",
                                         details={"target": d.target, "path": d.path})
            if d.target != system:
                extra += 1
            volume = f"{new_name}-root.qcow2" if d.target == system else f"{new_name}-disk{extra}.qcow2"
            disks.append(CloneDisk(d.target, d.path, self._pool(node, pool or src["pool"]), volume))
        self.reader.check_space([self.reader.chain(node, d.path) for d in disks])
        for d in disks:
            if self.gateway.clone_volume_exists(node, d.pool, d.volume):
                raise already_exists("volume", d.volume, node, code="VolumeExists", pool=d.pool)
        used = self.gateway.clone_macs_in_use(node)
        old_macs = list(source.macs)
        macs = []
        for _ in old_macs:
            macs.append(random_mac(used))
            used[macs[-1]] = new_name
        plan = ClonePlan(node=node, vm=vm, snapshot=name, name=new_name, uuid=str(uuidlib.uuid4()), source=source,
                         disks=disks, old_macs=old_macs, macs=macs, seed=None, start=start, created_by=created_by)
        plan.seed = self._seed(plan, choices, pool)
        return plan

    def _pool(self, node: str, pool: str) -> str:
        info = self.gateway.clone_pool_info(node, pool)
        if not info["active"]:
            raise pool_inactive(pool, node)
        if info["type"] not in FILE_POOL_TYPES:
            raise PreconditionFailed(f"storage pool '{pool}' on node '{node}' is a {info['type']} pool; the clone's "
                                     "qcow2 disks need a dir, fs or netfs pool", code="FormatNotSupported",
                                     details={"pool": pool, "node": node, "type": info["type"]})
        return pool

    def _seed(self, plan: ClonePlan, choices, pool: str | None) -> CloneSeed | None:
        """Where the clone's seed goes, and the source's seed to start from (None when it is gone)."""
        facts = plan.source
        if not facts.seed_volume:
            plan.notes.append("the source has no cloud-init seed: the clone keeps the source's host name and "
                              "guest configuration (only its UUID and MACs are new)")
            return None
        drive = next((d for d in choices if d.device == "cdrom" and d.path
                      and PurePosixPath(d.path).name == facts.seed_volume), None)
        if drive is None:
            plan.notes.append("the snapshot's definition has no cloud-init seed drive: the clone has no seed")
            return None
        src = self.gateway.snapshot_volume_at(plan.node, drive.path, label=facts.seed_volume)
        if src is None:
            plan.notes.append("the source's cloud-init seed volume is gone: the clone gets a new seed with its "
                              "identity and DHCP on every NIC (the source's user-data is not known)")
        target_pool = self._pool(plan.node, pool or facts.seed_pool or plan.disks[0].pool)
        volume = f"{INTERNAL_VOLUME_PREFIX}cidata-{plan.name}-{uuidlib.uuid4().hex[:8]}.iso"
        return CloneSeed(target=drive.target, source_path=src["path"] if src else None, pool=target_pool,
                         volume=volume)

    # -- submitting and the task ----------------------------------------------------------------------------------
    def submit(self, plan: ClonePlan, request_id: str | None) -> dict[str, Any]:
        return self.tasks.submit(
            "clone-from-snapshot", vm_resource(plan.node, plan.vm), lambda h: self.run(plan, h),
            params={"snapshot": plan.snapshot, "new_name": plan.name}, created_by=plan.created_by,
            request_id=request_id, message="queued")

    def run(self, plan: ClonePlan, h: TaskHandle) -> dict[str, Any]:
        work = self.reader.workdir(h)
        made: list[dict[str, Any]] = []
        paths: dict[str, dict[str, str]] = {}
        span = 85.0 / max(len(plan.disks), 1)
        for i, d in enumerate(plan.disks):
            def progress(frac: float, msg: str, base: float = i * span) -> None:
                h.progress(base + span * frac, f"disk {d.target}: {msg}")
            image = self.reader.at_snapshot(plan.node, plan.vm, plan.snapshot, d.path, work, compress=False,
                                            progress=lambda f, m, p=progress: p(0.8 * f, m))
            vol = self.reader.store(h, plan.node, d.pool, d.volume, image,
                                    lambda f, m, p=progress: p(0.8 + 0.2 * f, m))
            made.append({"type": "volume", "node": plan.node, "pool": d.pool, "name": d.volume})
            image.unlink(missing_ok=True)
            paths[d.target] = {"path": vol.path, "format": "qcow2"}
        instance_id = f"i-{uuidlib.uuid4().hex[:16]}"
        seed_path = self._make_seed(plan, h, work, instance_id, made) if plan.seed else None
        facts: dict[str, Any] = {"created_at": rfc3339(), "created_by": plan.created_by,
                                 "description": f"clone of vm '{plan.vm}' at snapshot '{plan.snapshot}'"}
        if plan.seed:
            facts["cloud_init"] = {"instance-id": instance_id, "pool": plan.seed.pool, "volume": plan.seed.volume}
        h.progress(92, f"defining vm '{plan.name}'", force=True)
        self.gateway.define_clone(plan.node, plan.source.xml or "", name=plan.name, uuid=plan.uuid, disks=paths,
                                  macs=plan.macs, facts=facts,
                                  seed={"target": plan.seed.target, "path": seed_path} if plan.seed else None,
                                  cloned_from={"vm": plan.vm, "snapshot": plan.snapshot, "uuid": plan.source.uuid})
        dom_spec = {"type": "vm-domain", "node": plan.node, "name": plan.name, "uuid": plan.uuid}
        h.add_cleanup(dom_spec)
        if plan.start:
            h.progress(95, f"starting vm '{plan.name}'", force=True)
            self.gateway.start_clone(plan.node, plan.name)
        for spec in [*made, dom_spec]:
            h.drop_cleanup(spec)
        self.reader.done_with(h, work)
        state = self.gateway.snapshot_vm_state(plan.node, plan.name)
        message = (f"vm '{plan.name}' cloned from snapshot '{plan.snapshot}' of vm '{plan.vm}' on node "
                   f"'{plan.node}', {state}")
        return {"vm": {"name": plan.name, "node": plan.node, "uuid": plan.uuid, "state": state,
                       "macs": plan.macs, "instance_id": instance_id if plan.seed else None},
                "volumes": [{"pool": m["pool"], "volume": m["name"]} for m in made],
                "notes": plan.notes, "message": "; ".join([message, *plan.notes])}

    def _make_seed(self, plan: ClonePlan, h: TaskHandle, work: Path, instance_id: str,
                   made: list[dict[str, Any]]) -> str:
        seed = plan.seed
        assert seed is not None  # the caller makes a seed only for a plan that has one
        h.progress(86, "writing the clone's cloud-init seed", force=True)
        files: dict[str, bytes] = {}
        if seed.source_path:
            local = work / "source-seed.iso"
            length = self.reader.chain(plan.node, seed.source_path)[0]["length"]
            self.gateway.fetch_disk_image(plan.node, seed.source_path, seed.source_path, local, length,
                                          lambda n: None)
            files = reseed.read_seed(local.read_bytes())
        macs = dict(zip(plan.old_macs, plan.macs))
        files, notes = reseed.clone_seed(files, instance_id=instance_id, hostname=plan.name, macs=macs)
        if "network-config" not in files:
            files["network-config"] = ci_seed.network_config([ci_seed.Nic(mac=m) for m in plan.macs]).encode()
        plan.notes += notes
        spec = {"type": "volume", "node": plan.node, "pool": seed.pool, "name": seed.volume}
        h.add_cleanup(spec)
        data = ci_iso.build_iso(files)
        try:
            info = self.gateway.upload_clone_seed(plan.node, seed.pool, seed.volume, data)
        except JvpError as exc:
            if exc.code == "VolumeExists":  # not ours to remove
                h.drop_cleanup(spec)
            raise
        made.append(spec)
        return info["path"]
