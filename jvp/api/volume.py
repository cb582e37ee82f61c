"""Volume actions (SPEC 2.3), including the streaming upload-volume and download-volume."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import STREAM_DOWNLOAD, STREAM_UPLOAD, ByteStream, Role, registry
from jvp.api.schemas import Name, NodeRef, OkResponse, Ref, RequestSchema
from jvp.domain.storage_pool import MAX_SIZE_GIB, VOLUME_FORMATS
from jvp.domain.task import TaskResponse
from jvp.domain.volume import VolumeListResponse, VolumeResizeResponse, VolumeResponse

TAG = "volume"


def SizeGib(**kwargs) -> fields.Integer:  # noqa: N802
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_SIZE_GIB),
                          metadata={"description": f"whole GiB, 1-{MAX_SIZE_GIB}"}, **kwargs)


def Format(**kwargs) -> fields.String:  # noqa: N802
    return fields.String(validate=validate.OneOf(VOLUME_FORMATS), **kwargs)


class VolumeRequest(RequestSchema):
    node = NodeRef()
    pool = Ref()
    name = Ref()


class ListVolumesRequest(RequestSchema):
    node = NodeRef()
    pool = Ref(required=False, metadata={"description": "every pool of the node when omitted"})
    include_internal = fields.Boolean(load_default=False, metadata={
        "description": "also JVP's own files: templates and .jvp-* media"})


class CreateVolumeRequest(RequestSchema):
    node = NodeRef()
    pool = Ref()
    name = Name()
    size_gib = SizeGib()
    format = Format(metadata={"description": "qcow2 (default in dir/fs/netfs pools) or raw"})
    backing_volume = Ref(required=False, metadata={
        "description": "a volume of the same pool: the new volume is a qcow2 overlay on it"})


class ResizeVolumeRequest(VolumeRequest):
    size_gib = SizeGib()


class CloneVolumeRequest(VolumeRequest):
    new_name = Name()
    target_pool = Ref(required=False, metadata={"description": "another pool of the node (default: the same)"})


class UploadVolumeRequest(RequestSchema):
    """Query-string parameters; the body is the image's bytes, with a Content-Length."""
    node = NodeRef()
    pool = Ref()
    name = Name()
    format = Format(metadata={"description": "qcow2 or raw; omitted: qcow2 when the data has a qcow2 header"})


@registry.action("list-volumes", request=ListVolumesRequest, response=VolumeListResponse, role=Role.VIEWER,
                 tag=TAG, errors=("StoragePoolNotFound", "StoragePoolInactive"))
def list_volumes(ctx, req):
    """Volumes of one pool or of every pool of the node, each with the VMs that use it."""
    return ctx.services.volumes.list(req["node"], req.get("pool"), req["include_internal"])


@registry.action("describe-volume", request=VolumeRequest, response=VolumeResponse, role=Role.VIEWER, tag=TAG,
                 errors=("VolumeNotFound", "StoragePoolNotFound", "StoragePoolInactive"))
def describe_volume(ctx, req):
    """One volume."""
    return {"volume": ctx.services.volumes.describe(req["node"], req["pool"], req["name"])}


@registry.action("create-volume", request=CreateVolumeRequest, response=VolumeResponse, role=Role.OPERATOR,
                 tag=TAG, errors=("VolumeExists", "StoragePoolNotFound", "StoragePoolInactive", "InsufficientSpace",
                                  "FormatNotSupported", "BackingVolumeNotFound", "InvalidSize",
                                  "StoragePoolIsInternal", "NodeInMaintenance"))
def create_volume(ctx, req):
    """A blank volume (thin in file pools), or a qcow2 overlay on backing_volume."""
    return {"volume": ctx.services.volumes.create(req["node"], req["pool"], req["name"], req["size_gib"],
                                                  req.get("format"), req.get("backing_volume"))}


@registry.action("resize-volume", request=ResizeVolumeRequest, response=VolumeResizeResponse,
                 role=Role.OPERATOR, tag=TAG,
                 errors=("VolumeNotFound", "VolumeShrinkRefused", "InsufficientSpace", "VolumeInUse", "ResourceBusy",
                         "NotSupported", "StoragePoolNotFound"))
def resize_volume(ctx, req):
    """Grow a volume; a running VM that attaches it sees the new size at once."""
    return ctx.services.volumes.resize(req["node"], req["pool"], req["name"], req["size_gib"])


@registry.action("clone-volume", request=CloneVolumeRequest, response=TaskResponse, role=Role.OPERATOR, tag=TAG,
                 status=202, errors=("VolumeNotFound", "VolumeExists", "VolumeInUse", "InsufficientSpace",
                                     "StoragePoolNotFound", "StoragePoolInactive", "ResourceBusy"))
def clone_volume(ctx, req):
    """A full copy made on the node, as a task with byte progress."""
    return {"task": ctx.services.volumes.clone(req["node"], req["pool"], req["name"], req["new_name"],
                                               req.get("target_pool"), created_by=ctx.principal.name,
                                               request_id=ctx.request_id)}


@registry.action("delete-volume", request=VolumeRequest, response=OkResponse, role=Role.OPERATOR, tag=TAG,
                 errors=("VolumeNotFound", "VolumeInUse", "VolumeHasDependents", "VolumeIsInternal",
                         "ResourceBusy", "StoragePoolNotFound"))
def delete_volume(ctx, req):
    """Delete a volume; refused while a VM attaches it or another volume is backed by it."""
    ctx.services.volumes.delete(req["node"], req["pool"], req["name"])
    return {"ok": True}


@registry.action("upload-volume", request=UploadVolumeRequest, response=VolumeResponse, role=Role.OPERATOR,
                 tag=TAG, stream=STREAM_UPLOAD,
                 errors=("LengthRequired", "EmptyUpload", "UploadIncomplete", "VolumeExists", "InsufficientSpace",
                         "FormatMismatch", "FormatNotSupported", "BackingFileNotAllowed", "InvalidUploadBody",
                         "TaskCancelled", "StoragePoolNotFound", "StoragePoolInactive", "NotSupported"))
def upload_volume(ctx, req):
    """Stream an image (the raw request body, with Content-Length) into a new volume; on any failure the
    volume is removed."""
    return {"volume": ctx.services.transfers.upload(req["node"], req["pool"], req["name"], ctx.extra["body"],
                                                    req.get("format"), created_by=ctx.principal.name,
                                                    request_id=ctx.request_id)}


@registry.action("download-volume", request=VolumeRequest, response=None, role=Role.OPERATOR, tag=TAG,
                 stream=STREAM_DOWNLOAD, errors=("VolumeNotFound", "VolumeInUse", "ResourceBusy",
                                                 "StoragePoolNotFound", "StoragePoolInactive", "NotSupported"))
def download_volume(ctx, req):
    """Stream a volume's bytes (a qcow2 volume comes as its qcow2 file)."""
    facts, chunks = ctx.services.transfers.download(req["node"], req["pool"], req["name"])
    return ByteStream(chunks=chunks, length=facts["length"], filename=req["name"],
                      headers={"X-Volume-Format": str(facts["format"]),
                               "X-Volume-Capacity": str(facts["capacity_bytes"])})
