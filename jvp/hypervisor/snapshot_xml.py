"""Snapshot XML, built and read with lxml: which disks a snapshot covers, the <domainsnapshot> documents JVP
hands to libvirt, and the view of one libvirt snapshot.

Pure functions of the documents (no libvirt), so every rule here is unit-tested.

Which disks (also in the README):
- a writable qcow2 disk gets an internal snapshot (`snapshot='internal'`);
- a read-only disk (cdroms: the install ISO, the cloud-init seed) or an empty drive is left out
  (`snapshot='no'`): it cannot change, so there is nothing to keep, and qemu skips read-only images anyway;
- any other writable disk (raw, or a shared disk another VM writes) cannot hold an internal snapshot: the
  whole request is refused, naming those disks, before libvirt sees anything.
"""
from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from lxml import etree

from jvp.domain.base import Problem
from jvp.domain.snapshot import DiskChoice, SnapshotDiskView, SnapshotView
from jvp.domain.volume import disk_format, format_label
from jvp.hypervisor.domain_view import disk_key, system_disk_target
from jvp.hypervisor.xml import parse, to_string
from jvp.hypervisor.xml.domain import Domain
from jvp.hypervisor.xml.snapshot import SNAP_NS, Capture, Snapshot, SnapshotDisk, SnapshotDomain
from jvp.timeutil import rfc3339

# JVP's facts about a capture libvirt cannot record itself (a disk-only snapshot of a running VM is
# registered in libvirt as `shutoff`, the only disk-only state libvirt reverts): kept in the snapshot's copy
# of the domain under its own namespace (jvp.hypervisor.xml.snapshot.Capture).
CAPTURE = f"{{{SNAP_NS}}}capture"
# libvirt's snapshot states -> JVP's VM states
_STATES = {"running": "running", "blocked": "running", "paused": "paused", "shutoff": "stopped",
           "shutdown": "stopped", "crashed": "crashed", "pmsuspended": "pmsuspended", "disk-snapshot": "running",
           "nostate": "unknown"}


def disk_choices(root: etree._Element, volumes: dict[Any, dict[str, Any]] | None = None
                 ) -> tuple[list[DiskChoice], list[DiskChoice]]:
    """(every disk with its snapshot mode, the disks that refuse an internal snapshot). `volumes` (as
    domain_describe.volumes_of gives it) names the format of a disk whose definition names none (disk_format): the same
    name clone-from-snapshot and export give the same disk."""
    chosen, refused = [], []
    for d in Domain(root).disks:
        if d.target is None:
            continue
        key = disk_key(d)
        vol_format = (volumes or {}).get(key, {}).get("format") if key else None
        fmt, device, path = disk_format(d.format, vol_format), d.device, d.path
        choice = DiskChoice(target=d.target, device=device, path=path, format=fmt, snapshot="no")
        if path is None:
            choice.reason = "empty drive"
        elif d.readonly or device == "cdrom":
            choice.reason = "read-only"
        elif d.shareable:
            choice.reason = "shared with other VMs"
            refused.append(choice)
        elif d.format != "qcow2":
            choice.reason = (f"{format_label(d.format, vol_format)} format (internal snapshots need qcow2)"
                             if d.format or fmt != "qcow2" else
                             "a qcow2 image its definition opens without <driver type='qcow2'/> (internal "
                             "snapshots need it)")
            refused.append(choice)
        else:
            choice.snapshot = "internal"
        chosen.append(choice)
    return chosen, refused


def _new(name: str, description: str) -> Snapshot:
    return Snapshot.new(name=name, description=description or None)


def _add_disks(snap: Snapshot, disks: list[DiskChoice]) -> None:
    snap.disks_box.make()  # <disks/> even when empty: no disk is snapshotted then
    for d in disks:
        snap.disks.add(SnapshotDisk.new(name=d.target, snapshot=d.snapshot))


def create_xml(name: str, description: str, disks: list[DiskChoice], memory: bool) -> str:
    """What virDomainSnapshotCreateXML gets: internal disks and, when asked, the memory state."""
    snap = _new(name, description)
    snap.memory = "internal" if memory else "no"
    _add_disks(snap, disks)
    return to_string(snap.el)


def redefine_xml(name: str, description: str, parent: str | None, created: int, disks: list[DiskChoice],
                 live: etree._Element, inactive: etree._Element | None, vm_state: str, quiesced: bool) -> str:
    """libvirt's metadata for internal disk snapshots JVP took itself (VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE):
    state shutoff and no memory, so that revert applies the disks (`qemu-img snapshot -a` on the node) and
    boots fresh; the domain copies are the VM's at the moment of the capture, with JVP's capture facts."""
    snap = _new(name, description)
    snap.state = "shutoff"
    snap.parent = parent or None
    snap.creation_time = created
    snap.memory = "no"
    _add_disks(snap, disks)
    for tag, doc in (("domain", live), ("inactiveDomain", inactive)):
        if doc is None:
            continue
        dom = copy.deepcopy(doc)
        dom.tag = tag
        copy_ = SnapshotDomain(dom)
        for old in copy_.captures:
            old.remove()
        meta = copy_.descend(dom, ["metadata"])
        meta.append(Capture.new(vm_state=vm_state, quiesced="yes" if quiesced else "no").el)
        snap.el.append(dom)
    return to_string(snap.el)


def snapshot_domain(snap_root: etree._Element) -> etree._Element | None:
    """The VM's definition recorded with the snapshot: the persistent one when libvirt kept it
    (<inactiveDomain>), else the one it ran with (<domain>), renamed to <domain>."""
    snap = Snapshot(snap_root)
    found = snap.inactive_domain.el
    if found is None:
        found = snap.domain.el
    if found is None:
        return None
    dom = copy.deepcopy(found)
    dom.tag = "domain"
    return dom


def strip_capture(dom: etree._Element) -> bool:
    """Remove JVP's capture facts from a domain document; True when there were some."""
    found = SnapshotDomain(dom).captures
    for el in found:
        el.remove()
    return bool(found)


def view(xml: str, *, vm: str, node: str, current: bool) -> SnapshotView:
    """One snapshot as describe-snapshot shows it (children are filled in by the caller from the tree)."""
    snap = Snapshot(parse(xml))
    dom = snap.domain
    capture = next(iter(dom.captures), None)
    libvirt_state = (snap.state or "nostate").strip()
    memory_mode = snap.memory
    has_memory = memory_mode in ("internal", "external")
    state = capture.vm_state if capture is not None else _STATES.get(libvirt_state, libvirt_state)
    paths = {d.target: d.path for d in dom.disks if d.target is not None}
    disks = [SnapshotDiskView(target=d.name, snapshot=d.snapshot or "no", path=paths.get(d.name),
                              snapshot_file=d.source_file or d.source_dev)
             for d in snap.disks]
    created = snap.creation_time
    external = any(d.snapshot == "external" for d in disks) or memory_mode == "external"
    return SnapshotView(
        name=snap.name,
        vm=vm,
        node=node,
        created_at=rfc3339(dt.datetime.fromtimestamp(created, dt.timezone.utc)) if created is not None else None,
        state=state,
        description=snap.description or "",   # as libvirt has it: whitespace and line breaks kept
        parent=snap.parent or None,
        children=[],
        has_memory=has_memory,
        disks=disks,
        current=current,
        location="external" if external else "internal",
        # the state recorded: a snapshot with memory resumes there; without, a VM recorded running (or paused)
        # is started (paused) from the reverted disks
        revert_state=state if state in ("running", "paused") else "stopped",
        quiesced=(capture.quiesced == "yes") if capture is not None else None,
        system_disk=system_disk_target(dom.el) if dom.exists() else None,
        libvirt_state=snap.state,
        memory=memory_mode,
        memory_file=snap.memory_file,
    )


def unreadable_view(name: str, *, vm: str, node: str, current: bool, error: str) -> SnapshotView:
    """The row of a snapshot whose document cannot be read: its name, and the problem."""
    return SnapshotView(name=name, vm=vm, node=node, created_at=None, state="unknown", description="", parent=None,
                        children=[], has_memory=False, disks=[], current=current, location="unknown",
                        revert_state="stopped", quiesced=None, system_disk=None,
                        problems=[Problem(code="SnapshotXmlUnreadable",
                                          message=f"snapshot '{name}' of vm '{vm}': its XML cannot be read "
                                                  f"({error})")])


def link_tree(views: list[SnapshotView]) -> list[SnapshotView]:
    """Fill each snapshot's children (names, oldest first) from the parents. Ordered oldest first, and always
    a parent before its children: within one second (creationTime has one-second resolution) and even when
    the clock went back between them (a child then comes right after its parent)."""
    by_name = {v.name: v for v in views}

    def depth(v: SnapshotView) -> int:
        n, seen = 0, set()
        while v.parent in by_name and v.name not in seen:
            seen.add(v.name)
            v, n = by_name[v.parent], n + 1
        return n
    by_time = sorted(views, key=lambda v: (v.created_at or "", depth(v), v.name or ""))
    ordered: list[SnapshotView] = []
    placed: set[str | None] = set()
    waiting: dict[str, list[SnapshotView]] = {}  # parent name -> children met before it, in time order

    def place(v: SnapshotView) -> None:
        ordered.append(v)
        placed.add(v.name)
        for child in waiting.pop(v.name or "", []):
            place(child)
    for v in by_time:
        parent = v.parent
        if parent in by_name and parent not in placed:
            waiting.setdefault(parent, []).append(v)
        else:
            place(v)
    for stuck in waiting.values():  # a parent loop (a corrupt tree): still listed, after the others
        ordered += [v for v in stuck if v.name not in placed]
    for v in ordered:
        parent = by_name.get(v.parent or "")
        if parent is not None:
            parent.children.append(v.name or "")
    return ordered
