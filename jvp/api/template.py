"""Template actions (SPEC 2.4): the base-image library, its downloads and its manual update flow."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import Name, NodeFilter, NodeRef, Ref, RequestSchema, Text
from jvp.domain.task import TaskResponse
from jvp.domain.template import (SOURCE_TYPES, TemplateDeleteResponse, TemplateHistoryResponse,
                                 TemplateListResponse, TemplateResponse, TemplateUpdateCheckResponse)

TAG = "template"
SHA256 = dict(validate=validate.Regexp(r"^[0-9a-fA-F]{64}$", error="64 hex digits."))
CHECKSUM = dict(validate=validate.Regexp(r"^(sha256:[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128})$",
                                         error="sha256:<64 hex digits> or sha512:<128 hex digits>."))
URL = dict(min_length=1, max_length=4096)


def Tags() -> fields.List:  # noqa: N802 - a field factory reads like a field class
    return fields.List(fields.String(validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,62}$",
                                                              error="1-63 letters, digits or . _ : + -")),
                       validate=validate.Length(max=32), metadata={"description": "at most 32"})
LOOKUP = ("NodeNotFound", "TemplateNotFound")


class TemplateSourceRequest(RequestSchema):
    type = fields.String(required=True, validate=validate.OneOf(SOURCE_TYPES))
    url = Text(**URL, metadata={"description": "url: http(s):// (file:// when download.allow_file_urls)"})
    sha256 = fields.String(**SHA256, metadata={"description": "url/file: the image's expected sha256"})
    checksum = fields.String(**CHECKSUM, metadata={"description": "url/file: sha256:<hex> or sha512:<hex>"})
    checksum_url = Text(**URL, metadata={
        "description": "url: a published checksum file (SHA256SUMS, SHA512SUMS, CHECKSUM) listing the image"})
    format = fields.String(validate=validate.OneOf(["qcow2", "raw"]), metadata={
        "description": "url/file: declare the format; a raw image without a partition table needs format=raw"})
    path = Text(min_length=1, max_length=1024, metadata={
        "description": "file: a file on the JVP server under download.file_dirs"})
    pool = Ref(required=False, metadata={"description": "volume: its pool (default: the template's pool)"})
    volume = Ref(required=False, metadata={"description": "volume: a volume of the node to copy"})
    vm = Ref(required=False, metadata={"description": "snapshot: the VM"})
    snapshot = Ref(required=False, metadata={"description": "snapshot: the snapshot"})


class TemplateOsRequest(RequestSchema):
    name = Text(max_length=64, allow_none=True)
    version = Text(max_length=64, allow_none=True)
    arch = Text(max_length=32, allow_none=True)
    kernel = Text(max_length=128, allow_none=True)


class TemplateFeaturesRequest(RequestSchema):
    cloud_init = fields.Boolean(allow_none=True)
    virtio = fields.Boolean(allow_none=True)
    qemu_guest_agent = fields.Boolean(allow_none=True)


class RegisterTemplateRequest(RequestSchema):
    node = NodeRef()
    pool = Ref(metadata={"description": "a dir, fs or netfs pool; the image goes to its _templates_ directory"})
    name = Name()
    source = fields.Nested(TemplateSourceRequest, required=True)
    os = fields.Nested(TemplateOsRequest)
    features = fields.Nested(TemplateFeaturesRequest)
    tags = Tags()
    description = Text(multiline=True, max_length=1024)


class TemplateRef(RequestSchema):
    node = NodeRef()
    name = Name()


class ListTemplatesRequest(RequestSchema):
    node = NodeFilter()
    pool = Ref(required=False, metadata={"description": "only the templates of this storage pool"})


class UpdateTemplateRequest(TemplateRef):
    description = Text(multiline=True, max_length=1024)
    os = fields.Nested(TemplateOsRequest)
    features = fields.Nested(TemplateFeaturesRequest)
    tags = Tags()


class UpdateTemplateImageRequest(TemplateRef):
    url = Text(**URL, metadata={"description": "a new source URL (e.g. the next release); default: the "
                                                        "template's"})
    sha256 = fields.String(**SHA256)
    checksum = fields.String(**CHECKSUM)
    checksum_url = Text(**URL)
    force = fields.Boolean(load_default=False, metadata={
        "description": "download even when check-template-update finds the template up to date"})


@registry.action("register-template", request=RegisterTemplateRequest, response=TaskResponse, role=Role.ADMIN,
                 tag=TAG, status=202,
                 errors=("TemplateExists", "UnsupportedUrlScheme", "InvalidUrl", "AddressNotAllowed",
                         "StoragePoolNotFound",
                         "StoragePoolInactive", "StoragePoolIsInternal", "TemplatesNotSupported", "VolumeNotFound",
                         "VolumeInUse", "FileSourceDisabled", "PathNotAllowed", "SourceFileNotFound",
                         "NodeInMaintenance", "ResourceBusy", "NotSupported", "InvalidInput", "FormatNotSupported",
                         "DownloadInProgress", "ChecksumMismatch", "NotADiskImage", "FormatMismatch",
                         "BackingFileNotAllowed", "DownloadTooLarge", "InsufficientSpace", "ChecksumNotFound",
                         "ChecksumFileTooLarge", "SourceNotFound", "RedirectLoop", "TooManyRedirects",
                         "InvalidRedirect", "DownloadWriteFailed", "SourceChanged", "QemuImgMissing",
                         "QemuImgFailed", "DownloadFailed", "SourceUnreachable", "TlsError"))
def register_template(ctx, req):
    """Register a template from a URL (download task: progress, checksum, resume, size limit), a file of the
    JVP server, a volume or a snapshot. Task errors: ChecksumMismatch, DownloadTooLarge, NotADiskImage,
    RedirectLoop, TooManyRedirects, DownloadFailed, SourceNotFound, InsufficientSpace."""
    ctx.status = 202
    return {"task": ctx.services.templates.register(
        req["node"], req["pool"], req["name"], req["source"], os=req.get("os"), features=req.get("features"),
        tags=req.get("tags"), description=req.get("description", ""), created_by=ctx.principal.name,
        request_id=ctx.request_id)}


@registry.action("list-templates", request=ListTemplatesRequest, response=TemplateListResponse, role=Role.VIEWER,
                 tag=TAG, errors=("NodeNotFound",))
def list_templates(ctx, req):
    """Templates of every node (or one), optionally of one pool, with their usage; a node that cannot be asked
    is listed under errors and its templates show usage null."""
    return ctx.services.templates.list(req.get("node"), req.get("pool"))


@registry.action("describe-template", request=TemplateRef, response=TemplateResponse, role=Role.VIEWER, tag=TAG,
                 errors=LOOKUP)
def describe_template(ctx, req):
    """One template with the VMs and volumes built from it and its previous images."""
    return {"template": ctx.services.templates.describe(req["node"], req["name"])}


@registry.action("update-template", request=UpdateTemplateRequest, response=TemplateResponse, role=Role.ADMIN,
                 tag=TAG, errors=LOOKUP)
def update_template(ctx, req):
    """Change a template's description, OS facts, features or tags."""
    return {"template": ctx.services.templates.update(
        req["node"], req["name"], description=req.get("description"), os=req.get("os"),
        features=req.get("features"), tags=req.get("tags"))}


@registry.action("delete-template", request=TemplateRef, response=TemplateDeleteResponse, role=Role.ADMIN,
                 tag=TAG, errors=(*LOOKUP, "TemplateInUse", "TemplateUsageUnknown", "ResourceBusy"))
def delete_template(ctx, req):
    """Delete a template and its images; 409 TemplateInUse lists the volumes and VMs still on it, 409
    TemplateUsageUnknown names the storage pools (inactive or unreadable) that could hide such a volume."""
    return ctx.services.templates.delete(req["node"], req["name"])


@registry.action("check-template-update", request=TemplateRef, response=TemplateUpdateCheckResponse,
                 role=Role.VIEWER, tag=TAG,
                 errors=(*LOOKUP, "NotUpdatable", "SourceUnreachable", "SourceNotFound", "DownloadFailed",
                         "RedirectLoop", "TooManyRedirects", "InvalidRedirect", "AddressNotAllowed", "TlsError",
                         "ChecksumNotFound"))
def check_template_update(ctx, req):
    """Ask the template's source whether a newer image exists (ETag, Last-Modified, length or the published
    checksum; nothing is downloaded) and list the VMs and volumes built from the template. Recorded in the
    template's history."""
    return ctx.services.templates.check_update(req["node"], req["name"], by=ctx.principal.name)


@registry.action("update-template-image", request=UpdateTemplateImageRequest, response=TaskResponse,
                 role=Role.ADMIN, tag=TAG, status=202,
                 errors=(*LOOKUP, "NotUpdatable", "TemplateUpToDate", "ResourceBusy", "InvalidUrl",
                         "UnsupportedUrlScheme", "AddressNotAllowed", "SourceUnreachable", "NodeInMaintenance", "DownloadInProgress",
                         "ChecksumMismatch", "NotADiskImage", "FormatMismatch", "BackingFileNotAllowed",
                         "DownloadTooLarge", "InsufficientSpace", "ChecksumNotFound", "ChecksumFileTooLarge",
                         "SourceNotFound", "RedirectLoop", "TooManyRedirects", "InvalidRedirect",
                         "DownloadWriteFailed", "QemuImgMissing", "QemuImgFailed", "DownloadFailed", "TlsError"))
def update_template_image(ctx, req):
    """Download the new version (task) and switch the template to it for new VMs; existing VMs keep their base,
    which is removed once nothing is backed by it."""
    ctx.status = 202
    return {"task": ctx.services.templates.update_image(
        req["node"], req["name"], url=req.get("url"), sha256=req.get("sha256"), checksum=req.get("checksum"),
        checksum_url=req.get("checksum_url"), force=req["force"], created_by=ctx.principal.name,
        request_id=ctx.request_id)}


class CheckTemplatesRequest(RequestSchema):
    node = NodeFilter()


@registry.action("check-template-updates", request=CheckTemplatesRequest, response=TaskResponse, role=Role.VIEWER,
                 tag=TAG, status=202, errors=("NodeNotFound", "ResourceBusy"))
def check_template_updates(ctx, req):
    """check-template-update for every template (of one node, or of all), as one task: at most 4 sources asked
    at once, a result per template (up-to-date, update-available, unknown, not-updatable or failed with its
    error) in the task's result; each check is recorded in its template's history. Nothing is downloaded."""
    ctx.status = 202
    return {"task": ctx.services.templates.check_all(req.get("node"), ctx.principal.name, ctx.request_id)}


class TemplateHistoryRequest(TemplateRef):
    limit = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=1, max=500))


@registry.action("list-template-history", request=TemplateHistoryRequest, response=TemplateHistoryResponse,
                 role=Role.VIEWER, tag=TAG, errors=LOOKUP)
def list_template_history(ctx, req):
    """What happened to the template's image, newest first: update checks, image updates, verifications and
    the start-up validation's findings, VM rebuilds; each with time, principal, task, the image before and
    after (volume, version, sha256, size) and the outcome."""
    return ctx.services.templates.history_entries(req["node"], req["name"], req["limit"])


@registry.action("verify-template", request=TemplateRef, response=TaskResponse, role=Role.ADMIN, tag=TAG,
                 status=202, errors=(*LOOKUP, "ResourceBusy", "TemplateImageMissing", "ImageChanged",
                                     "NotSupported"))
def verify_template(ctx, req):
    """Read the whole image through libvirt (task) and compare its sha256 with the recorded one: a match marks
    the template ok again (a broken one can be used again) and records its size and mtime; a difference marks
    it broken (task error ImageChanged)."""
    ctx.status = 202
    return {"task": ctx.services.templates.verify(req["node"], req["name"], ctx.principal.name, ctx.request_id)}


class RebuildTemplateVmsRequest(TemplateRef):
    vms = fields.List(Ref(), validate=validate.Length(min=1, max=500), metadata={
        "description": "only these VMs (default: every VM built from the template)"})
    running = fields.String(load_default="restart", validate=validate.OneOf(["restart", "skip"]), metadata={
        "description": "restart: a running VM is shut down, rebuilt and started again; skip: left as it is"})
    stop_timeout_s = fields.Integer(strict=True, load_default=120, validate=validate.Range(min=0, max=3600),
                                    metadata={"description": "graceful shutdown wait per running VM, then forced"})


@registry.action("rebuild-template-vms", request=RebuildTemplateVmsRequest, response=TaskResponse,
                 role=Role.OPERATOR, tag=TAG, status=202,
                 errors=(*LOOKUP, "NodeInMaintenance", "ResourceBusy", "InvalidInput"))
def rebuild_template_vms(ctx, req):
    """rebuild-vm for the VMs built from the template (after update-template-image), one after the other in
    one task with per-VM progress; the result lists each VM's state before and what happened (rebuilt,
    skipped, failed with its error: a failed VM is put back as it was). System-disk content is replaced."""
    ctx.status = 202
    return {"task": ctx.services.vm_rebuilder.submit_template(
        req["node"], req["name"], vms=req.get("vms"), running=req["running"], stop_timeout_s=req["stop_timeout_s"],
        created_by=ctx.principal.name, request_id=ctx.request_id)}
