"""Moving a VM to another node (SPEC 2.7): migrate-vm (a task) and check-migrate-vm (its preflight alone).
The rules are in jvp/service/vm/migrate.py."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import Name, RequestSchema
from jvp.api.vm_schemas import VmRef
from jvp.domain.migration import COPY_STORAGE, MigrationPlanResponse
from jvp.domain.task import TaskResponse

TAG = "migration"
PREFLIGHT_ERRORS = ("NodeNotFound", "NodeUnreachable", "VmNotFound", "InvalidInput")
CHECK_CODES = ("NodeInMaintenance", "MigrationSameHost", "InvalidState", "VmExists", "MigrationMachineUnsupported",
               "MigrationCpuIncompatible", "NodeCapacityExceeded", "NetworkNotFound", "NetworkInactive",
               "BridgeNotFound", "InterfaceNotFound", "StoragePoolNotFound", "StoragePoolInactive",
               "MigrationStoragePathMismatch", "MigrationStorageNotShared", "VolumeExists")


class MigrateVmRequest(VmRef):
    target_node = Name(metadata={"description": "the node the VM moves to"})
    live = fields.Boolean(load_default=True, metadata={
        "description": "a running VM keeps running while it moves (false: paused during the move); a stopped VM "
                       "always moves offline"})
    copy_storage = fields.String(load_default="auto", validate=validate.OneOf(COPY_STORAGE), metadata={
        "description": "auto: copy the disks the target does not see at the same path; none: refuse unless "
                       "every disk is on shared storage; all: copy every disk"})
    max_downtime_ms = fields.Integer(strict=True, validate=validate.Range(min=1, max=600_000), metadata={
        "description": "the longest pause of the guest at the switch-over"})
    bandwidth_mib_s = fields.Integer(strict=True, validate=validate.Range(min=1, max=1_000_000), metadata={
        "description": "limit of the migration stream (and of the disk copy), MiB/s"})
    auto_converge = fields.Boolean(load_default=False, metadata={
        "description": "throttle the guest's vCPUs when its memory changes faster than it moves"})
    post_copy = fields.Boolean(load_default=False, metadata={
        "description": "switch to post-copy after the first memory pass (the guest runs on the target while "
                       "the rest of its memory follows; a network failure then loses the guest)"})


@registry.action("check-migrate-vm", request=MigrateVmRequest, response=MigrationPlanResponse,
                 role=Role.OPERATOR, tag=TAG, errors=PREFLIGHT_ERRORS)
def check_migrate_vm(ctx, req):
    """The preflight of migrate-vm alone: every check (target in maintenance, same host, state, name, machine
    type, CPU, memory, networks, storage) with its result and the code migrate-vm would answer, and what
    happens to each disk. Nothing moves."""
    return {"plan": ctx.services.vm_migrator.check(req).plan}


@registry.action("migrate-vm", request=MigrateVmRequest, response=TaskResponse, role=Role.OPERATOR, tag=TAG,
                 status=202, errors=(*PREFLIGHT_ERRORS, *CHECK_CODES, "ResourceBusy", "MigrationFailed",
                                     "TaskCancelled"))
def migrate_vm(ctx, req):
    """Move a VM to another node (task): live with shared storage, copying local disks when needed, offline for
    a stopped VM; persistent on the target, undefined on the source; progress with ETA; cancel-task aborts
    it and the VM stays on the source. Refused before anything moves when a preflight check fails."""
    ctx.status = 202
    return {"task": ctx.services.vm_migrator.submit(req, ctx.principal.name, ctx.request_id)}


class EvacuateNodeRequest(RequestSchema):
    name = Name(metadata={"description": "the node to empty"})
    target_nodes = fields.List(Name(), validate=validate.Length(min=1, max=64), metadata={
        "description": "where VMs may go (default: every other node not in maintenance)"})


@registry.action("evacuate-node", request=EvacuateNodeRequest, response=TaskResponse, role=Role.ADMIN, tag=TAG,
                 status=202, errors=("NodeNotFound", "InvalidInput", "ResourceBusy", "TaskCancelled"))
def evacuate_node(ctx, req):
    """Live-migrate every running VM off the node (each to the target that passes the preflight with the most
    free memory), then put the node in maintenance (task); per-VM results: moved, failed (with the code and
    message; the VM stays running where it is), stayed (stopped VMs)."""
    ctx.status = 202
    return {"task": ctx.services.node_evacuator.submit(req, ctx.principal.name, ctx.request_id)}
