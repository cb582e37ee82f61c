"""Snapshot actions (SPEC 2.5): capture, list, describe, revert, delete, clone into a VM, export as a template."""
from __future__ import annotations

from marshmallow import fields

from jvp.api.actions import Role, registry
from jvp.api.schemas import Name, NodeRef, Ref, RequestSchema, Text
from jvp.domain.snapshot import (SnapshotDeleteResponse, SnapshotListResponse, SnapshotResponse,
                                 SnapshotRevertResponse)
from jvp.domain.task import TaskResponse

TAG = "snapshot"
LOOKUP = ("NodeNotFound", "NodeUnreachable", "VmNotFound", "SnapshotNotFound")


class SnapshotRef(RequestSchema):
    node = NodeRef()
    vm = Ref(metadata={"description": "the VM"})
    name = Ref(metadata={"description": "the snapshot"})


class CreateSnapshotRequest(RequestSchema):
    node = NodeRef()
    vm = Ref(metadata={"description": "the VM"})
    name = Name(required=False, metadata={"description": "default: snap-YYYYMMDD-HHMMSS (UTC)"})
    description = Text(multiline=True, load_default="", max_length=1024)
    include_memory = fields.Boolean(load_default=False, metadata={
        "description": "also save the RAM of a running VM: revert then resumes it where it was"})


class ListSnapshotsRequest(RequestSchema):
    node = NodeRef()
    vm = Ref(required=False, metadata={"description": "default: the snapshots of every VM of the node"})


class RevertSnapshotRequest(SnapshotRef):
    start = fields.Boolean(load_default=False, allow_none=True, metadata={
        "description": "true: run the VM afterwards whatever the snapshot recorded; false (the default, as "
                       "SPEC 2.5): the VM ends in the state the snapshot recorded (revert_state)"})


class DeleteSnapshotRequest(SnapshotRef):
    children = fields.Boolean(load_default=False, metadata={
        "description": "delete its descendants too (default: they move to its parent)"})


class CloneFromSnapshotRequest(SnapshotRef):
    new_name = Name(metadata={"description": "the new VM"})
    pool = Ref(required=False, metadata={"description": "where the new disks go (default: each source disk's pool)"})
    start = fields.Boolean(load_default=True)


class ExportSnapshotRequest(SnapshotRef):
    template = Name(metadata={"description": "the new template"})
    pool = Ref(required=False, metadata={
        "description": "a dir, fs or netfs pool for the template (default: the system disk's pool)"})
    description = Text(multiline=True, load_default="", max_length=1024)


@registry.action("create-snapshot", request=CreateSnapshotRequest, response=TaskResponse, role=Role.OPERATOR,
                 tag=TAG, status=202, errors=("NodeNotFound", "VmNotFound", "SnapshotExists", "InvalidState",
                                              "DiskNotSnapshottable", "ResourceBusy"))
def create_snapshot(ctx, req):
    """Snapshot a running or stopped VM (task): internal qcow2 snapshots of every writable disk, and its
    memory with include_memory."""
    ctx.status = 202
    return {"task": ctx.services.snapshots.create(req["node"], req["vm"], req.get("name"), req["description"],
                                                  req["include_memory"], created_by=ctx.principal.name,
                                                  request_id=ctx.request_id)}


@registry.action("list-snapshots", request=ListSnapshotsRequest, response=SnapshotListResponse, role=Role.VIEWER,
                 tag=TAG, errors=("NodeNotFound", "NodeUnreachable", "VmNotFound"))
def list_snapshots(ctx, req):
    """The snapshots of one VM, or of every VM of the node, with their tree (parent, children, current)."""
    return ctx.services.snapshots.list(req["node"], req.get("vm"))


@registry.action("describe-snapshot", request=SnapshotRef, response=SnapshotResponse, role=Role.VIEWER, tag=TAG,
                 errors=LOOKUP)
def describe_snapshot(ctx, req):
    """One snapshot: state, memory, disks, parent, children, current."""
    return {"snapshot": ctx.services.snapshots.describe(req["node"], req["vm"], req["name"])}


@registry.action("revert-snapshot", request=RevertSnapshotRequest, response=SnapshotRevertResponse,
                 role=Role.OPERATOR, tag=TAG, errors=(*LOOKUP, "ResourceBusy", "InvalidState"))
def revert_snapshot(ctx, req):
    """Return the VM to the snapshot; it ends in the state the snapshot recorded (revert_state: with memory it
    resumes where it was, without it a VM recorded running boots from the reverted disks), unless start says
    otherwise (start true: running)."""
    # SPEC 2.5's `start=false` is the default and means "as recorded"; the service's None says the same
    return ctx.services.snapshots.revert(req["node"], req["vm"], req["name"], True if req["start"] else None,
                                         created_by=ctx.principal.name, request_id=ctx.request_id)


@registry.action("delete-snapshot", request=DeleteSnapshotRequest, response=SnapshotDeleteResponse,
                 role=Role.OPERATOR, tag=TAG, errors=(*LOOKUP, "ResourceBusy", "SnapshotDeleteRefused"))
def delete_snapshot(ctx, req):
    """Delete the snapshot and its data in the disks (with its descendants when children is true)."""
    return ctx.services.snapshots.delete(req["node"], req["vm"], req["name"], req["children"],
                                         created_by=ctx.principal.name, request_id=ctx.request_id)


@registry.action("clone-from-snapshot", request=CloneFromSnapshotRequest, response=TaskResponse,
                 role=Role.OPERATOR, tag=TAG, status=202,
                 errors=(*LOOKUP, "NodeInMaintenance", "VmExists", "VolumeExists", "StoragePoolNotFound",
                         "StoragePoolInactive", "FormatNotSupported", "NotSupported", "SnapshotIncomplete",
                         "DiskNotReadable", "InsufficientSpace", "ResourceBusy"))
def clone_from_snapshot(ctx, req):
    """A new, independent VM from every disk's state at the snapshot (task), with a new UUID, new MACs and
    a new cloud-init instance id."""
    ctx.status = 202
    svc = ctx.services.snapshot_cloner
    plan = svc.plan(req["node"], req["vm"], req["name"], req["new_name"], req.get("pool"), req["start"],
                    ctx.principal.name)
    return {"task": svc.submit(plan, ctx.request_id)}


@registry.action("export-snapshot-to-template", request=ExportSnapshotRequest, response=TaskResponse,
                 role=Role.ADMIN, tag=TAG, status=202,
                 errors=(*LOOKUP, "NodeInMaintenance", "TemplateExists", "StoragePoolNotFound",
                         "TemplatesNotSupported", "SnapshotIncomplete", "DiskNotReadable", "InsufficientSpace",
                         "ResourceBusy"))
def export_snapshot_to_template(ctx, req):
    """The system disk at the snapshot becomes a template (task): one flat, compressed qcow2 registered in
    the template library (admin, like register-template)."""
    ctx.status = 202
    return {"task": ctx.services.snapshot_exporter.submit(
        req["node"], req["vm"], req["name"], req["template"], req.get("pool"), req["description"],
        created_by=ctx.principal.name, request_id=ctx.request_id)}
