"""Snapshot: an internal qcow2 snapshot of a VM's disks, with or without its memory (SPEC 2.5)."""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import PROBLEMS_DOC, Problem, ResponseSchema, answer_schema, envelopes, shown
from jvp.domain.vm import VmSchema


@dataclass
class DiskChoice:
    """A disk of a VM with the snapshot mode a capture gives it (jvp/hypervisor/snapshot_xml.disk_choices)."""
    target: str
    device: str
    path: str | None
    format: str | None
    snapshot: str                 # internal | no
    reason: str | None = None     # why a disk is left out or refused


@dataclass(frozen=True)
class SnapshotDiskView:
    target: str | None = shown(required=True, nullable=False)
    snapshot: str = shown(doc="libvirt's snapshot mode of the disk: internal (the disk's state is in the image), "
                              "external (an overlay file holds the changes since, see snapshot_file), manual, or "
                              "no (read-only or empty drive, or left out)")
    path: str | None = shown(doc="the disk's image in the snapshot's copy of the VM")
    snapshot_file: str | None = shown(None, doc="an external snapshot's overlay file (null for internal ones)")


@dataclass
class SnapshotView:
    """One snapshot as describe-snapshot answers it (jvp/hypervisor/snapshot_xml.view builds it; the tree's
    `children` are filled in by snapshot_xml.link_tree)."""
    name: str | None = shown(required=True, nullable=False)
    vm: str
    node: str
    created_at: str | None
    state: str = shown(doc="the VM's state when the snapshot was taken")
    description: str
    parent: str | None
    children: list[str]           # names, oldest first
    has_memory: bool
    disks: list[SnapshotDiskView]
    current: bool = shown(doc="the snapshot the VM last took or reverted to")
    location: str = shown(doc="internal (qcow2) or external")
    revert_state: str = shown(doc="the state a revert leaves the VM in without `start`: the state recorded "
                                  "(running, paused or stopped); with memory the VM resumes where it was, "
                                  "without it boots from the disks")
    quiesced: bool | None = shown(doc="disk-only snapshot of a running VM: the guest's filesystems were frozen "
                                      "(null otherwise)")
    system_disk: str | None
    libvirt_state: str | None = shown(None, doc="libvirt's own state of the snapshot as written (running, paused, "
                                                "shutoff, disk-snapshot, crashed, pmsuspended ...); `state` is it "
                                                "in JVP's VM state names")
    memory: str | None = shown(None, doc="libvirt's memory snapshot mode: no, internal or external (null when "
                                         "libvirt says none)")
    memory_file: str | None = shown(None, doc="an external memory snapshot's file")
    problems: list[Problem] = shown(factory=list, doc=PROBLEMS_DOC)


@dataclass(frozen=True)
class CaptureFacts:
    """What a capture is checked against before the task."""
    state: str
    disks: list[DiskChoice]
    refused: list[DiskChoice]     # the disks that refuse an internal snapshot
    persistent: bool
    agent: bool                   # a qemu guest agent answers


@dataclass(frozen=True)
class CaptureResult:
    """How a snapshot was taken."""
    method: str                   # libvirt | qemu-monitor
    quiesced: bool | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotDefinition:
    """What clone-from-snapshot and export-snapshot-to-template read from a snapshot's copy of its VM's
    definition (jvp/hypervisor/gateway/snapshot.py reads it; the service never sees the XML's elements)."""
    view: SnapshotView                    # the snapshot's view (location, disks, system_disk, ...)
    xml: str | None                       # the definition itself, None when the snapshot holds none
    uuid: str = ""                        # the source VM's UUID
    system_disk: str | None = None        # the definition's system disk target
    disks: list[DiskChoice] = field(default_factory=list)    # every disk with its snapshot mode
    refused: list[DiskChoice] = field(default_factory=list)  # the disks that refuse an internal snapshot
    macs: list[str] = field(default_factory=list)     # the NICs' MACs in document order ('' for none)
    seed_volume: str | None = None        # the cloud-init seed volume JVP recorded, if any
    seed_pool: str | None = None
    template: dict[str, str] | None = None  # {name, pool, volume} of the VM's template, as JVP recorded it
    agent_channel: bool = False           # a qemu guest agent channel is defined
    disk_buses: dict[str, str | None] = field(default_factory=dict)  # target -> bus


SnapshotDiskSchema = answer_schema(SnapshotDiskView, "SnapshotDiskSchema")
SnapshotSchema = answer_schema(SnapshotView, "SnapshotSchema")


SnapshotResponse, SnapshotListResponse = envelopes(SnapshotSchema, "snapshot", "snapshots")


class SnapshotRevertResponse(ResponseSchema):
    vm = fields.Nested(VmSchema, required=True)
    state = fields.String(required=True, metadata={"description": "the state the VM reached"})
    snapshot = fields.Nested(SnapshotSchema, required=True)
    message = fields.String(required=True)


class SnapshotDeleteResponse(ResponseSchema):
    ok = fields.Boolean(required=True)
    vm = fields.String(required=True)
    node = fields.String(required=True)
    deleted = fields.List(fields.String(), required=True, metadata={"description": "names of the deleted snapshots"})
    message = fields.String(required=True)
