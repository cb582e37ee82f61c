"""Snapshot: an internal qcow2 snapshot of a VM's disks, with or without its memory (SPEC 2.5)."""
from __future__ import annotations

from marshmallow import fields

from jvp.domain.base import ResponseSchema
from jvp.domain.vm import VmSchema


class SnapshotDiskSchema(ResponseSchema):
    target = fields.String(required=True)
    snapshot = fields.String(required=True, metadata={
        "description": "internal (the disk's state is in the snapshot) or no (read-only or empty drive)"})
    path = fields.String(allow_none=True)


class SnapshotSchema(ResponseSchema):
    name = fields.String(required=True)
    vm = fields.String(required=True)
    node = fields.String(required=True)
    created_at = fields.String(allow_none=True)
    state = fields.String(required=True, metadata={"description": "the VM's state when the snapshot was taken"})
    description = fields.String(required=True)
    parent = fields.String(allow_none=True)
    children = fields.List(fields.String(), required=True)
    has_memory = fields.Boolean(required=True)
    disks = fields.List(fields.Nested(SnapshotDiskSchema), required=True)
    current = fields.Boolean(required=True, metadata={"description": "the snapshot the VM last took or reverted to"})
    location = fields.String(required=True, metadata={"description": "internal (qcow2) or external"})
    revert_state = fields.String(required=True, metadata={
        "description": "the state a revert leaves the VM in without `start`: the state recorded (running, paused "
                       "or stopped); with memory the VM resumes where it was, without it boots from the disks"})
    quiesced = fields.Boolean(allow_none=True, metadata={
        "description": "disk-only snapshot of a running VM: the guest's filesystems were frozen (null otherwise)"})
    system_disk = fields.String(allow_none=True)


class SnapshotResponse(ResponseSchema):
    snapshot = fields.Nested(SnapshotSchema, required=True)


class SnapshotListResponse(ResponseSchema):
    snapshots = fields.List(fields.Nested(SnapshotSchema), required=True)


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
