"""VM: a libvirt domain plus JVP's own facts, kept in the domain's <metadata> (SPEC 2.7).

The dataclasses describe a domain to build (DomainSpec and its devices) and JVP's facts about it (VmFacts);
the schemas are the answers of the VM actions.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import PROBLEMS_DOC, ListErrorSchema, Problem, ResponseSchema, answer_schema, shown

# The state a VM shows (jvp/hypervisor/domain_state.py maps libvirt's states to these; `state_reason` keeps
# libvirt's reason). `pmsuspended`: the guest suspended itself (ACPI S3/S4); `paused` is JVP's suspend-vm.
STATES = ("running", "paused", "stopped", "shutting-down", "crashed", "pmsuspended", "unknown")
GONE = "gone"  # what a power action reached when the domain no longer exists (a transient one that stopped)
NIC_KINDS = ("network", "bridge", "direct")
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139")
FIRMWARES = ("bios", "uefi")
OS_PROFILES = ("linux", "windows")  # the guest OS family: devices and the cloud-init seed follow it
DISK_BUSES = ("virtio", "sata")    # the bus of a new VM's disks (linux: virtio, windows: sata by default)
CPU_MODES = ("host-model", "host-passthrough", "maximum", "none")


@dataclass
class DiskDevice:
    """A disk or cdrom backed by a file (a volume's path as libvirt reports it); cdrom path None = empty."""
    target: str
    path: str | None
    format: str = "qcow2"
    bus: str = "virtio"
    device: str = "disk"


@dataclass
class NicDevice:
    kind: str          # network | bridge | direct
    source: str        # network name, host bridge, or host interface (macvtap)
    mac: str
    model: str = "virtio"


@dataclass
class VmFacts:
    """What libvirt does not model; stored under JVP's namespace in <metadata>, so it travels with the domain."""
    created_at: str | None = None
    created_by: str | None = None
    description: str = ""
    template: dict[str, str] | None = None     # {"name", "pool", "volume"} of the base image
    keypairs: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    system_disk: str | None = None             # target of the system disk (detach is refused)
    instance_id: str | None = None             # cloud-init instance id
    seed_pool: str | None = None               # cloud-init NoCloud ISO volume (removed with the VM)
    seed_volume: str | None = None


@dataclass
class DomainSpec:
    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    domain_type: str                # kvm | qemu (| test on libvirt's test driver)
    arch: str
    cpu_mode: str | None            # None: no <cpu> element (libvirt's default CPU model)
    firmware: str = "bios"
    secure_boot: bool = False       # UEFI with Secure Boot: the q35 machine and SMM (jvp/domain/vm_firmware.py)
    tpm: bool = False               # an emulated TPM 2.0 (swtpm)
    os_profile: str = "linux"       # windows: Hyper-V enlightenments, localtime clock (hypervisor/domain_windows)
    disks: list[DiskDevice] = field(default_factory=list)
    nics: list[NicDevice] = field(default_factory=list)
    facts: VmFacts = field(default_factory=VmFacts)


# -- views (what describe-vm answers; built by jvp/hypervisor/domain_view.py, dumped by VmSchema) ----------
# Each view is its answer's schema too (answer_schema in jvp/domain/base.py): a field is declared once.
@dataclass
class DiskView:
    target: str | None = shown(required=True, nullable=False)
    device: str = shown(doc="disk or cdrom")
    bus: str | None
    path: str | None = shown(doc="null: empty cdrom drive")
    format: str | None
    pool: str | None = None         # the volume at `path`, when a pool of the node holds it
    volume: str | None = None
    capacity_bytes: int | None = None
    readonly: bool = shown(False, required=False)
    backing: str | None = shown(None, doc="backing file of a linked clone")
    system: bool = shown(False, required=False, doc="the system disk (cannot be detached)")
    type: str | None = shown(None, doc="libvirt's disk type: file | block | dir | volume | network")
    source: str | None = shown(None, doc="a network disk's source (protocol://host:port/name); its path is null")


@dataclass
class NicView:
    mac: str
    type: str | None = shown(required=True, nullable=False, doc="network, bridge or direct")
    network: str | None = None
    bridge: str | None = None
    device: str | None = shown(None, doc="host interface of a direct NIC")
    model: str | None = None
    ips: list[str] = shown(factory=list, doc="from the DHCP leases of the VM's networks and the guest agent")


@dataclass
class GraphicsView:
    type: str | None = shown(required=True, nullable=False)
    listen: str | None
    port: int | None
    autoport: bool = shown(required=False)


@dataclass
class ConsoleView:
    type: str | None = shown(required=True, nullable=False)
    target: str | None


@dataclass
class CloudInitView:
    instance_id: str | None
    seed_pool: str | None
    seed_volume: str | None


@dataclass
class VmView:
    """One VM as describe-vm shows it (list-vms rows are the fields up to `ips`, kept as dicts for speed)."""
    name: str
    uuid: str
    node: str
    state: str
    state_reason: str | None = shown(doc="libvirt's reason for the state (e.g. paused: ioerror, stopped: "
                                         "destroyed, crashed: panicked; running: blocked when libvirt says "
                                         "BLOCKED)")
    vcpus: int | None = shown(doc="vCPUs now (max_vcpus: the most it can have)")
    max_vcpus: int | None
    memory_mib: int | None = shown(doc="current memory (the balloon; max_memory_mib: the maximum)")
    max_memory_mib: int | None
    persistent: bool | None = shown(nullable=False, doc="false: a transient domain (stopping it removes it)")
    template: str | None
    labels: dict[str, str] = shown(required=False)
    description: str | None
    created_at: str | None
    problems: list[Problem] = shown(doc=PROBLEMS_DOC)
    ips: list[str] = shown(doc="from DHCP leases")
    macs: list[str] = shown(factory=list, doc="the MAC addresses of its NICs, in device order (global search)")
    autostart: bool | None = None
    domain_type: str | None = None
    os_profile: str | None = shown(None, doc="linux or windows: the guest OS family JVP set the VM up for "
                                             "(JVP's metadata; else libosinfo's os id in the domain's metadata)")
    cpu_mode: str | None = None
    firmware: str | None = None
    secure_boot: bool | None = shown(None, doc="UEFI Secure Boot on (null: not UEFI)")
    tpm: bool | None = shown(None, doc="the VM has a TPM (an emulated TPM 2.0 when JVP made it)")
    created_by: str | None = None
    keypairs: list[str] = shown(factory=list, required=False)
    uptime: int | None = shown(None, doc="seconds since JVP started the domain (null when stopped or started "
                                         "outside JVP)")
    started_at: str | None = None
    disks: list[DiskView] = field(default_factory=list)
    nics: list[NicView] = field(default_factory=list)
    graphics: list[GraphicsView] = field(default_factory=list)
    console: ConsoleView | None = None
    cloud_init: CloudInitView | None = None
    guest_agent: bool | None = shown(None, doc="the guest agent answered (null: not running or no agent channel)")


# -- answers ---------------------------------------------------------------------------------------------
VmDiskSchema = answer_schema(DiskView, "VmDiskSchema")
VmNicSchema = answer_schema(NicView, "VmNicSchema")
VmGraphicsSchema = answer_schema(GraphicsView, "VmGraphicsSchema")
VmConsoleSchema = answer_schema(ConsoleView, "VmConsoleSchema")
VmCloudInitSchema = answer_schema(CloudInitView, "VmCloudInitSchema")
VmSummarySchema = answer_schema(VmView, "VmSummarySchema", upto="macs")
VmSchema = answer_schema(VmView, "VmSchema")


class VmResponse(ResponseSchema):
    vm = fields.Nested(VmSchema, required=True)


class TrustedRows(fields.Nested):
    """A list row built by JVP's own code, already in its final types: dumped by picking the schema's keys.

    Marshmallow's per-field dump costs ~50 us a row, which was most of list-vms' time over 1,000 VMs; the
    OpenAPI document still sees a Nested field and documents the row schema."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        keys = tuple(self.schema.fields)
        pick = operator.itemgetter(*keys)  # a missing key is a bug in the row's builder: KeyError, not null

        def one(row):  # a row with exactly the schema's keys in its order is the answer as it stands
            return row if tuple(row) == keys else dict(zip(keys, pick(row)))
        return [one(row) for row in value] if self.many else one(value)


class VmListResponse(ResponseSchema):
    vms = TrustedRows(VmSummarySchema, many=True, required=True)
    errors = fields.List(fields.Nested(ListErrorSchema), required=True)


class VmXmlResponse(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    xml = fields.String(required=True, metadata={"description": "the live XML when running, else the config"})
    inactive_xml = fields.String(allow_none=True, metadata={"description": "the persistent config"})


class VmStateResponse(ResponseSchema):
    vm = fields.Nested(VmSchema, required=True)
    state = fields.String(required=True, metadata={"description": "the state actually reached"})
    message = fields.String(required=True)


class VmStopResponse(VmStateResponse):
    stopped = fields.Boolean(required=True)
    waited_s = fields.Float(required=True)
    gone = fields.Boolean(required=True, metadata={
        "description": "the VM no longer exists: it was transient (persistent: false) and libvirt removed it "
                       "when it stopped; `vm` is its last description"})


class VmModifyResponse(ResponseSchema):
    vm = fields.Nested(VmSchema, required=True)
    applied_live = fields.List(fields.String(), required=True)
    next_boot = fields.List(fields.String(), required=True, metadata={
        "description": "changes saved in the config that take effect at the next boot"})
    notes = fields.List(fields.String(), required=True)


class VmDeviceResponse(ResponseSchema):
    vm = fields.Nested(VmSchema, required=True)
    target = fields.String(allow_none=True)
    mac = fields.String(allow_none=True)
    live = fields.String(required=True, metadata={
        "description": "applied | pending (the guest has not released the device yet) | not-running"})


class DeletedVolumeSchema(ResponseSchema):
    pool = fields.String(allow_none=True)
    volume = fields.String(allow_none=True)
    path = fields.String(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "why a volume was kept"})


class VmDeleteResponse(ResponseSchema):
    name = fields.String(required=True)
    node = fields.String(required=True)
    deleted_volumes = fields.List(fields.Nested(DeletedVolumeSchema), required=True)
    kept_volumes = fields.List(fields.Nested(DeletedVolumeSchema), required=True)
    snapshots_deleted = fields.Integer(required=True)
    nvram_removed = fields.Boolean(required=True)
