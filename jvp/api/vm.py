"""VM actions (SPEC 2.7; consoles, metrics and migration come with their own modules)."""
from __future__ import annotations

from jvp.api.actions import Role, registry
from jvp.api.schemas import OkResponse
from jvp.api.vm_schemas import (AttachNicRequest, AttachVolumeRequest, CreateVmRequest, DeleteVmRequest,
                                DetachNicRequest, DetachVolumeRequest, EjectMediaRequest, ListVmsRequest,
                                MediaRequest, ModifyVmRequest, RebuildVmRequest, ResetPasswordRequest, StopVmRequest,
                                VmRef)
from jvp.domain.task import TaskResponse
from jvp.errors import InvalidInput
from jvp.domain.vm import (VmDeleteResponse, VmDeviceResponse, VmListResponse, VmModifyResponse, VmResponse,
                           VmStateResponse, VmStopResponse, VmXmlResponse)

TAG = "vm"
LOOKUP = ("NodeNotFound", "NodeUnreachable", "VmNotFound")
CREATE_ERRORS = ("NodeInMaintenance", "VmExists", "NodeCapacityExceeded", "StoragePoolNotFound",
                 "StoragePoolInactive", "VolumeNotFound", "VolumeExists", "VolumeInUse", "VolumeIsTemplate",
                 "NetworkNotFound", "NetworkInactive", "BridgeNotFound", "InterfaceNotFound", "InvalidMac",
                 "MacInUse", "KeypairNotFound", "InvalidSshKey", "InvalidUserData", "IpOutsideNetwork",
                 "IpInDhcpRange", "ResourceBusy", "TemplateNotFound", "TemplateImageMissing", "TemplateBroken",
                 "InvalidInput", "NoNodeAvailable", "NotSupported")
REBUILD_ERRORS = (*LOOKUP, "NodeInMaintenance", "InvalidState", "VmNotFromTemplate", "VmHasSnapshots",
                  "SystemDiskNotRebuildable", "CloudInitSeedMissing", "TemplateNotFound", "TemplateImageMissing", "TemplateBroken",
                  "VolumeExists", "VolumeNotFound", "ResourceBusy", "KeypairNotFound", "InvalidSshKey",
                  "InvalidUserData", "IpOutsideNetwork", "IpInDhcpRange", "NetworkNotFound", "InvalidInput",
                  "InvalidDeviceChange", "StoragePoolNotFound", "StoragePoolInactive", "NotSupported")


@registry.action("create-vm", request=CreateVmRequest, response=TaskResponse, role=Role.OPERATOR, tag=TAG,
                 status=202, errors=CREATE_ERRORS)
def create_vm(ctx, req):
    """Create a VM (task): system disk from a volume (as is, linked or full clone) or blank with an install
    ISO, extra disks, NICs, a cloud-init NoCloud seed; started unless start=false."""
    ctx.status = 202
    return {"task": ctx.services.vm_creator.submit(req, ctx.principal.name, ctx.request_id)}


@registry.action("list-vms", request=ListVmsRequest, response=VmListResponse, role=Role.VIEWER, tag=TAG,
                 errors=("NodeNotFound",))
def list_vms(ctx, req):
    """VMs of one node or of every node (queried concurrently; a node that fails is listed under errors)."""
    return ctx.services.vms.list(req.get("node"), req.get("state"), req.get("label"))


@registry.action("describe-vm", request=VmRef, response=VmResponse, role=Role.VIEWER, tag=TAG, errors=LOOKUP)
def describe_vm(ctx, req):
    """One VM: state, disks, NICs with IPs (DHCP leases and the guest agent), graphics, JVP's facts."""
    return {"vm": ctx.services.vms.describe(req["node"], req["name"])}


@registry.action("describe-vm-xml", request=VmRef, response=VmXmlResponse, role=Role.ADMIN, tag=TAG,
                 errors=LOOKUP)
def describe_vm_xml(ctx, req):
    """libvirt's XML of the VM: live when running, and the persistent config."""
    return ctx.services.vms.xml(req["node"], req["name"])


@registry.action("start-vm", request=VmRef, response=VmStateResponse, role=Role.OPERATOR, tag=TAG,
                 errors=(*LOOKUP, "InvalidState"))
def start_vm(ctx, req):
    """Power on a stopped VM, or a crashed one (powered off first)."""
    return ctx.services.vms.start(req["node"], req["name"])


@registry.action("stop-vm", request=StopVmRequest, response=VmStopResponse, role=Role.OPERATOR, tag=TAG,
                 errors=(*LOOKUP, "InvalidState"))
def stop_vm(ctx, req):
    """Shut down gracefully and wait up to timeout_s (answers the state reached), or power off with force (also
    the way out of `crashed`). A transient VM is gone once stopped: 200 with `gone: true`."""
    return ctx.services.vms.stop(req["node"], req["name"], req["force"], req["timeout_s"])


def _power_action(verb: str, action: str, summary: str, errors: tuple[str, ...] = ()) -> None:
    @registry.action(f"{verb}-vm", request=VmRef, response=VmStateResponse, role=Role.OPERATOR, tag=TAG,
                     summary=summary, errors=(*LOOKUP, "InvalidState", *errors))
    def handler(ctx, req):
        return ctx.services.vms.power(req["node"], req["name"], action)


_power_action("reboot", "reboot", "Ask the guest to reboot (ACPI or guest agent)")
_power_action("reset", "reset", "Hard reset, like the reset button")
_power_action("suspend", "suspend", "Pause the VM's vCPUs (memory stays)")
_power_action("resume", "resume", "Resume a paused VM, or wake a pm-suspended guest (NotSupported: the node's "
              "driver cannot wake it; stop-vm with force still can)", errors=("NotSupported",))


@registry.action("delete-vm", request=DeleteVmRequest, response=VmDeleteResponse, role=Role.OPERATOR, tag=TAG,
                 errors=(*LOOKUP, "InvalidState"))
def delete_vm(ctx, req):
    """Remove the VM with its snapshots, NVRAM and cloud-init media; its disks only with delete_volumes
    (never a volume another VM, a linked clone or a template needs)."""
    return ctx.services.vms.delete(req["node"], req["name"], req["force"], req["delete_volumes"])


@registry.action("modify-vm", request=ModifyVmRequest, response=VmModifyResponse, role=Role.OPERATOR, tag=TAG,
                 errors=(*LOOKUP, "InvalidState", "VmExists", "NodeCapacityExceeded", "InvalidDeviceChange"))
def modify_vm(ctx, req):
    """Edit the persistent XML in place; applied live where libvirt can (the answer says what waits)."""
    keys = ("vcpus", "memory_mib", "new_name", "autostart", "description", "labels")
    return ctx.services.vms.modify(req["node"], req["name"], **{k: req.get(k) for k in keys})


@registry.action("attach-volume", request=AttachVolumeRequest, response=VmDeviceResponse, role=Role.OPERATOR,
                 tag=TAG, errors=(*LOOKUP, "StoragePoolNotFound", "StoragePoolInactive", "VolumeNotFound", "VolumeInUse",
                                  "VolumeIsTemplate", "InvalidDeviceChange", "InvalidInput", "NotSupported"))
def attach_volume(ctx, req):
    """Attach a volume as a disk, live and in the config; never a template's image, a volume another VM uses
    or one that backs linked clones (written to, it would corrupt them)."""
    return ctx.services.vms.attach_volume(req["node"], req["name"], req["pool"], req["volume"], req.get("target"),
                                          req["bus"])


@registry.action("detach-volume", request=DetachVolumeRequest, response=VmDeviceResponse, role=Role.OPERATOR,
                 tag=TAG, errors=(*LOOKUP, "DiskNotFound", "SystemDisk", "StoragePoolNotFound", "StoragePoolInactive",
                                  "VolumeNotFound", "InvalidDeviceChange", "InvalidInput", "NotSupported"))
def detach_volume(ctx, req):
    """Detach a disk (by target, or by pool and volume), live and in the config; never the system disk."""
    return ctx.services.vms.detach_volume(req["node"], req["name"], req.get("pool"), req.get("volume"),
                                          req.get("target"))


@registry.action("attach-nic", request=AttachNicRequest, response=VmDeviceResponse, role=Role.OPERATOR,
                 tag=TAG, errors=(*LOOKUP, "NetworkNotFound", "NetworkInactive", "BridgeNotFound",
                                  "InterfaceNotFound", "InvalidMac", "MacInUse", "InvalidInput", "NotSupported"))
def attach_nic(ctx, req):
    """Add a NIC on a network, host bridge or host interface (macvtap), live and in the config."""
    kinds = [k for k in ("network", "bridge", "direct") if req.get(k)]
    if len(kinds) != 1:
        raise InvalidInput("give exactly one of network, bridge or direct", code="InvalidInput",
                           details={"field_errors": {"network": ["Exactly one of network, bridge, direct."]}})
    return ctx.services.vms.attach_nic(req["node"], req["name"], kinds[0], req[kinds[0]], req.get("mac"),
                                       req["model"])


@registry.action("detach-nic", request=DetachNicRequest, response=VmDeviceResponse, role=Role.OPERATOR,
                 tag=TAG, errors=(*LOOKUP, "NicNotFound", "NotSupported"))
def detach_nic(ctx, req):
    """Remove the NIC with that MAC, live and in the config."""
    return ctx.services.vms.detach_nic(req["node"], req["name"], req["mac"])


@registry.action("insert-media", request=MediaRequest, response=VmDeviceResponse, role=Role.OPERATOR, tag=TAG,
                 errors=(*LOOKUP, "CdromNotFound", "StoragePoolNotFound", "VolumeNotFound", "NotSupported"))
def insert_media(ctx, req):
    """Put a volume (an ISO) in a cdrom drive, live and in the config."""
    return ctx.services.vms.change_media(req["node"], req["name"], req["target"], req.get("pool"), req["volume"])


@registry.action("eject-media", request=EjectMediaRequest, response=VmDeviceResponse, role=Role.OPERATOR,
                 tag=TAG, errors=(*LOOKUP, "CdromNotFound", "NotSupported"))
def eject_media(ctx, req):
    """Empty a cdrom drive (the drive stays), live and in the config."""
    return ctx.services.vms.change_media(req["node"], req["name"], req["target"])


@registry.action("reset-vm-password", request=ResetPasswordRequest, response=OkResponse, role=Role.OPERATOR,
                 tag=TAG, errors=(*LOOKUP, "InvalidState", "GuestAgentUnavailable"))
def reset_vm_password(ctx, req):
    """Set a guest user's password through the guest agent (no shell involved)."""
    ctx.services.vms.reset_password(req["node"], req["name"], req["user"], req["password"])
    return {"ok": True}


@registry.action("rebuild-vm", request=RebuildVmRequest, response=TaskResponse, role=Role.OPERATOR, tag=TAG,
                 status=202, errors=REBUILD_ERRORS)
def rebuild_vm(ctx, req):
    """Replace the VM's system disk with a fresh linked clone of its template's current image (or of
    `template`), task: name, UUID, MACs, NICs, data disks and keypairs are kept; cloud-init runs again (new
    instance id; the VM's seed, or new settings); a running VM is shut down (forced after stop_timeout_s) and
    started again; any failure puts the old disk back. Refused for a VM with snapshots."""
    ctx.status = 202
    plan = ctx.services.vm_rebuilder.plan(req["node"], req["name"], template=req.get("template"),
                                          cloud_init=req.get("cloud_init"), user_data=req.get("user_data"),
                                          stop_timeout_s=req["stop_timeout_s"], created_by=ctx.principal.name)
    return {"task": ctx.services.vm_rebuilder.submit(plan, ctx.request_id)}
