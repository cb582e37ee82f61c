"""Request schemas of the VM actions (create-vm's is the big one: disks, NICs, cloud-init)."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from jvp.api.schemas import FullMatch, Labels, Name, NodeFilter, NodeRef, Ref, RequestSchema, Text, text_problem
from jvp.domain.vm import CPU_MODES, DISK_BUSES, FIRMWARES, NIC_MODELS, OS_PROFILES, STATES

GIB_MAX = 64 * 1024
USER_RE = r"^[a-z_][a-z0-9_-]{0,31}$"
MAC = dict(validate=FullMatch(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$", error="Not a MAC address."))
TARGET = dict(validate=FullMatch(r"^(vd|sd|hd|xvd)[a-z]{1,2}$", error="Not a disk target (vdb, sdc, hdc)."))


class StringOrList(fields.Field):
    """A string, or a list of strings (an argv for runcmd); multi-line text (a shell script) is allowed."""
    multiline = True

    def _deserialize(self, value: Any, attr, data, **kwargs) -> Any:
        if isinstance(value, str) and len(value) <= 4096:
            problem = text_problem(value, multiline=True)
        elif isinstance(value, list) and 0 < len(value) <= 256 and all(isinstance(v, str) and len(v) <= 4096
                                                                        for v in value):
            problem = next(filter(None, (text_problem(v, multiline=True) for v in value)), None)
        else:
            raise ValidationError("A string, or a list of strings.")
        if problem:
            raise ValidationError(problem)
        return value


class SudoField(fields.Field):
    """true: passwordless sudo for everything; a string: that sudoers rule; false/absent: no sudo."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and 0 < len(value) <= 1024 and not text_problem(value):
            return value
        raise ValidationError("true, false, or one sudoers rule such as 'ALL=(ALL) NOPASSWD:ALL'.")


class VolumeRef(RequestSchema):
    pool = Ref(required=False, metadata={"description": "default: the VM's pool"})
    volume = Ref()


class ExtraDisk(RequestSchema):
    size_gib = fields.Integer(strict=True, validate=validate.Range(min=1, max=GIB_MAX),
                              metadata={"description": "a new disk"})
    volume = Ref(required=False, metadata={"description": "an existing volume"})
    pool = Ref(required=False)
    format = fields.String(load_default="qcow2", validate=validate.OneOf(["qcow2", "raw"]))


class NicRequest(RequestSchema):
    network = Ref(required=False, metadata={"description": "a libvirt network of the node"})
    bridge = fields.String(validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$"),
                           metadata={"description": "a host bridge"})
    direct = fields.String(validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$"),
                           metadata={"description": "a host interface (macvtap, bridge mode)"})
    mac = fields.String(**MAC)
    model = fields.String(load_default="virtio", validate=validate.OneOf(NIC_MODELS))


class CreateNicRequest(NicRequest):
    model = fields.String(validate=validate.OneOf(NIC_MODELS), metadata={
        "description": "default: virtio (os_profile linux) or e1000e (os_profile windows)"})


class UserRequest(RequestSchema):
    name = fields.String(required=True, validate=FullMatch(USER_RE, error="Not a Linux user name."))
    password = Text(min_length=1, max_length=256)
    ssh_keys = fields.List(Text(min_length=16, max_length=16384),
                           validate=validate.Length(max=32), load_default=list)
    sudo = SudoField(load_default=False)
    shell = fields.String(validate=FullMatch(r"^/[A-Za-z0-9/._-]{1,127}$"))
    groups = fields.List(fields.String(validate=FullMatch(USER_RE)), validate=validate.Length(max=32),
                         load_default=list)


class WriteFileRequest(RequestSchema):
    path = fields.String(required=True, validate=FullMatch(r"^(/|[A-Za-z]:[\\/])[^\0\n]{1,1023}$", error=(
        "An absolute path (/etc/x; on a Windows VM C:\\x).")))
    content = Text(multiline=True, required=True, max_length=256 * 1024)
    permissions = fields.String(validate=FullMatch(r"^0?[0-7]{3,4}$"))
    owner = fields.String(validate=FullMatch(r"^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$"))
    encoding = fields.String(validate=validate.OneOf(["text/plain", "b64", "base64", "gzip", "gz", "gz+b64",
                                                      "gz+base64", "gzip+b64", "gzip+base64"]))
    append = fields.Boolean()


class StaticNicRequest(RequestSchema):
    nic = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=15),
                         metadata={"description": "index in `nics`"})
    ipv4 = Text(required=True, max_length=18,
                         metadata={"description": "198.18.10.20 or 198.18.10.20/24"})
    gateway = Text(max_length=15)
    dns = fields.List(Text(max_length=15), validate=validate.Length(max=3))


class CloudInitRequest(RequestSchema):
    hostname = Text(min_length=1, max_length=253)
    users = fields.List(fields.Nested(UserRequest), validate=validate.Length(max=32), load_default=list)
    keypairs = fields.List(Name(), validate=validate.Length(max=32), load_default=list)
    packages = fields.List(fields.String(validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9.+:=~_-]{0,127}$")),
                           validate=validate.Length(max=256), load_default=list)
    runcmd = fields.List(StringOrList(), validate=validate.Length(max=256), load_default=list)
    write_files = fields.List(fields.Nested(WriteFileRequest), validate=validate.Length(max=64), load_default=list)
    timezone = fields.String(validate=FullMatch(r"^[A-Za-z0-9_+/-]{1,64}$"))
    network = fields.List(fields.Nested(StaticNicRequest), validate=validate.Length(max=16), load_default=list)


class CreateVmRequest(RequestSchema):
    node = NodeRef()
    name = Name()
    vcpus = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=512))
    memory_mib = fields.Integer(strict=True, load_default=1024, validate=validate.Range(min=64, max=16 * 1024 * 1024))
    pool = Ref(load_default="default", required=False, metadata={"description": "where new disks go"})
    volume = Ref(required=False, metadata={"description": "an existing volume in `pool` as the system disk"})
    template = Name(required=False, metadata={"description": "a template of the node: its image is cloned "
                                                             "(linked unless clone: full) into `pool`"})
    clone = fields.String(validate=validate.OneOf(["linked", "full"]), metadata={
        "description": "copy the volume/template: linked (qcow2 overlay) or full; a volume is used as is "
                       "when absent, a template is cloned linked"})
    disk_size_gib = fields.Integer(strict=True, validate=validate.Range(min=1, max=GIB_MAX), metadata={
        "description": "size of a blank system disk, or the grown size of a clone"})
    iso = fields.Nested(VolumeRef, metadata={"description": "a volume holding an install ISO (a cdrom)"})
    extra_disks = fields.List(fields.Nested(ExtraDisk), validate=validate.Length(max=16), load_default=list)
    nics = fields.List(fields.Nested(CreateNicRequest), validate=validate.Length(max=16), load_default=list)
    cloud_init = fields.Nested(CloudInitRequest)
    user_data = Text(multiline=True, min_length=1, max_length=512 * 1024, metadata={
        "description": "raw user-data, passed to the guest byte for byte"})
    firmware = fields.String(load_default="bios", validate=validate.OneOf(FIRMWARES))
    secure_boot = fields.Boolean(load_default=False, metadata={
        "description": "UEFI Secure Boot (firmware uefi only; the VM gets the q35 machine, SMM and SATA cdroms)"})
    tpm = fields.Boolean(load_default=False, metadata={"description": "an emulated TPM 2.0 (swtpm on the node)"})
    os_profile = fields.String(load_default="linux", validate=validate.OneOf(OS_PROFILES), metadata={
        "description": "windows: Hyper-V enlightenments, localtime clock, SATA disks and e1000e NICs by default, "
                       "and a cloud_init seed that Cloudbase-Init reads"})
    disk_bus = fields.String(validate=validate.OneOf(DISK_BUSES), metadata={
        "description": "bus of the VM's disks; default: virtio (linux) or sata (windows, whose installer has "
                       "no VirtIO driver)"})
    virtio_iso = fields.Nested(VolumeRef, metadata={
        "description": "a volume holding the VirtIO driver ISO (virtio-win), attached as a second cdrom"})
    cpu_mode = fields.String(validate=validate.OneOf(["auto", *CPU_MODES]), metadata={
        "description": "default: the cpu_mode setting"})
    autostart = fields.Boolean(load_default=False)
    start = fields.Boolean(load_default=True)
    description = Text(multiline=True, load_default="", max_length=1024)
    labels = Labels(load_default=dict)
    wait_for = fields.String(load_default="none", validate=validate.OneOf(["none", "agent", "ip"]), metadata={
        "description": "keep the task running until the guest agent answers or an IP shows"})
    wait_timeout_s = fields.Integer(strict=True, load_default=300, validate=validate.Range(min=10, max=3600))


class VmRef(RequestSchema):
    node = NodeRef()
    name = Ref(metadata={"description": "the VM"})


class ListVmsRequest(RequestSchema):
    node = NodeFilter()
    state = fields.String(validate=validate.OneOf(STATES))
    label = Text(min_length=1, max_length=320, metadata={"description": "key or key=value"})


class StopVmRequest(VmRef):
    force = fields.Boolean(load_default=False)
    timeout_s = fields.Integer(strict=True, load_default=60, validate=validate.Range(min=1, max=600))


class DeleteVmRequest(VmRef):
    force = fields.Boolean(load_default=False, metadata={"description": "power off a running VM first"})
    delete_volumes = fields.Boolean(load_default=False)


class ModifyVmRequest(VmRef):
    vcpus = fields.Integer(strict=True, validate=validate.Range(min=1, max=512))
    memory_mib = fields.Integer(strict=True, validate=validate.Range(min=64, max=16 * 1024 * 1024))
    new_name = Name(required=False)
    autostart = fields.Boolean()
    description = Text(multiline=True, max_length=1024)
    labels = Labels()


class AttachVolumeRequest(VmRef):
    pool = Ref()
    volume = Ref()
    target = fields.String(**TARGET)
    bus = fields.String(load_default="virtio", validate=validate.OneOf(["virtio", "scsi", "sata"]))


class DetachVolumeRequest(VmRef):
    pool = Ref(required=False)
    volume = Ref(required=False)
    target = fields.String(**TARGET)


class AttachNicRequest(VmRef, NicRequest):
    pass


class DetachNicRequest(VmRef):
    mac = fields.String(required=True, **MAC)


class MediaRequest(VmRef):
    target = fields.String(required=True, **TARGET)
    pool = Ref(required=False)
    volume = Ref()


class EjectMediaRequest(VmRef):
    target = fields.String(required=True, **TARGET)


class ResetPasswordRequest(VmRef):
    user = fields.String(required=True, validate=FullMatch(USER_RE, error="Not a Linux user name."))
    password = Text(required=True, min_length=1, max_length=256)


class RebuildVmRequest(RequestSchema):
    node = NodeRef()
    name = Ref(metadata={"description": "the VM"})
    template = Name(required=False, metadata={
        "description": "the template to rebuild from (default: the one the VM was created from)"})
    cloud_init = fields.Nested(CloudInitRequest, metadata={
        "description": "new cloud-init settings, as in create-vm (default: the VM's own seed, with a new "
                       "instance id)"})
    user_data = Text(multiline=True, min_length=1, max_length=512 * 1024, metadata={
        "description": "new raw user-data, as in create-vm"})
    stop_timeout_s = fields.Integer(strict=True, load_default=120, validate=validate.Range(min=0, max=3600),
                                    metadata={"description": "a running VM is shut down gracefully and waited "
                                                             "for this long, then powered off (0: at once)"})
