"""Storage pool actions (SPEC 2.2)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import Name, NodeRef, Ref, RequestSchema, Text
from jvp.domain.storage_pool import (POOL_TYPES, StoragePoolDeleteResponse, StoragePoolListResponse,
                                     StoragePoolResponse)

TAG = "storage_pool"


class AuthRequest(RequestSchema):
    type = fields.String(validate=validate.OneOf(["chap", "ceph"]))
    username = Text(required=True, min_length=1, max_length=64)
    secret_uuid = Text(max_length=36)
    secret_usage = Text(max_length=128)


class PoolSourceRequest(RequestSchema):
    """Which fields each type takes: fs {device, format}, netfs {host, dir, format}, logical {devices, name,
    format}, disk {device, format}, iscsi {host, port, iqn, initiator_iqn, auth}, rbd {hosts, name, auth}."""
    host = Text(max_length=253, metadata={"description": "netfs, iscsi"})
    hosts = fields.List(Text(max_length=300), validate=validate.Length(max=16),
                        metadata={"description": "rbd monitors: host or host:port"})
    port = fields.Integer(strict=True, metadata={"description": "iscsi"})
    dir = Text(max_length=1024, metadata={"description": "netfs export"})
    device = Text(max_length=1024, metadata={"description": "fs, disk: /dev/..."})
    devices = fields.List(Text(max_length=1024), validate=validate.Length(max=64),
                          metadata={"description": "logical: physical volumes"})
    name = Text(max_length=127, metadata={"description": "logical VG, rbd pool"})
    format = Text(max_length=32)
    iqn = Text(max_length=223, metadata={"description": "iscsi target"})
    initiator_iqn = Text(max_length=223)
    auth = fields.Nested(AuthRequest)


class ListPoolsRequest(RequestSchema):
    node = NodeRef()
    include_internal = fields.Boolean(load_default=False, metadata={
        "description": "also JVP's template pools (<pool>_templates_)"})


class PoolRequest(RequestSchema):
    node = NodeRef()
    name = Ref()


class CreatePoolRequest(RequestSchema):
    node = NodeRef()
    name = Name()
    type = fields.String(required=True, validate=validate.OneOf(POOL_TYPES))
    path = Text(max_length=4096, metadata={
        "description": "absolute target directory (dir, fs, netfs: required); no '..'"})
    source = fields.Nested(PoolSourceRequest)
    autostart = fields.Boolean(load_default=True)
    build = fields.Boolean(metadata={"description": "default: true for dir and netfs (create the directory), "
                                                    "false for fs, logical, disk (which would format a device; "
                                                    "when true, never over existing data)"})


class DeletePoolRequest(PoolRequest):
    delete_volumes = fields.Boolean(load_default=False)


class ModifyPoolRequest(RequestSchema):
    node = NodeRef()
    name = Ref()
    autostart = fields.Boolean()


@registry.action("list-storage-pools", request=ListPoolsRequest, response=StoragePoolListResponse,
                 role=Role.VIEWER, tag=TAG, errors=("NodeNotFound", "NodeUnreachable"))
def list_storage_pools(ctx, req):
    """Pools of a node with capacity, allocation, free space and volume count."""
    return ctx.services.pools.list(req["node"], req["include_internal"])


@registry.action("describe-storage-pool", request=PoolRequest, response=StoragePoolResponse, role=Role.VIEWER,
                 tag=TAG, errors=("StoragePoolNotFound",))
def describe_storage_pool(ctx, req):
    """One pool."""
    return {"pool": ctx.services.pools.describe(req["node"], req["name"])}


@registry.action("create-storage-pool", request=CreatePoolRequest, response=StoragePoolResponse,
                 role=Role.ADMIN, tag=TAG,
                 errors=("StoragePoolExists", "StoragePoolPathInUse", "PoolPathNotDirectory", "InvalidPoolPath",
                         "InvalidPoolSource", "ReservedName", "NodeInMaintenance", "NotSupported"))
def create_storage_pool(ctx, req):
    """Define, build, start and (by default) autostart a pool."""
    return {"pool": ctx.services.pools.create(req["node"], req["name"], req["type"], req.get("path"),
                                              req.get("source"), req["autostart"], req.get("build"))}


@registry.action("delete-storage-pool", request=DeletePoolRequest, response=StoragePoolDeleteResponse,
                 role=Role.ADMIN, tag=TAG,
                 errors=("StoragePoolNotFound", "StoragePoolInUse", "StoragePoolNotEmpty", "StoragePoolIsInternal",
                         "VolumeHasDependents"))
def delete_storage_pool(ctx, req):
    """Stop and undefine a pool; refused while VMs use its volumes or while it holds volumes (unless
    delete_volumes). A dir pool's directory is removed when empty."""
    return ctx.services.pools.delete(req["node"], req["name"], req["delete_volumes"])


@registry.action("start-storage-pool", request=PoolRequest, response=StoragePoolResponse, role=Role.ADMIN,
                 tag=TAG, errors=("StoragePoolNotFound", "PoolPathNotDirectory"))
def start_storage_pool(ctx, req):
    """Start (activate) a pool; an active pool is left as it is."""
    return {"pool": ctx.services.pools.start(req["node"], req["name"])}


@registry.action("stop-storage-pool", request=PoolRequest, response=StoragePoolResponse, role=Role.ADMIN,
                 tag=TAG, errors=("StoragePoolNotFound", "StoragePoolInUse"))
def stop_storage_pool(ctx, req):
    """Stop (deactivate) a pool; refused while running VMs have its volumes open."""
    return {"pool": ctx.services.pools.stop(req["node"], req["name"])}


@registry.action("refresh-storage-pool", request=PoolRequest, response=StoragePoolResponse, role=Role.ADMIN,
                 tag=TAG, errors=("StoragePoolNotFound", "StoragePoolInactive"))
def refresh_storage_pool(ctx, req):
    """Re-scan a pool's volumes and free space."""
    return {"pool": ctx.services.pools.refresh(req["node"], req["name"])}


@registry.action("modify-storage-pool", request=ModifyPoolRequest, response=StoragePoolResponse,
                 role=Role.ADMIN, tag=TAG, errors=("StoragePoolNotFound",))
def modify_storage_pool(ctx, req):
    """Change whether a pool starts with the host."""
    return {"pool": ctx.services.pools.modify(req["node"], req["name"], req.get("autostart"))}
