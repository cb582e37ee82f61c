"""VM: a libvirt domain plus JVP's own facts, kept in the domain's <metadata> (SPEC 2.7).

The dataclasses describe a domain to build (DomainSpec and its devices) and JVP's facts about it (VmFacts);
the schemas are the answers of the VM actions.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import ListErrorSchema, ResponseSchema

STATES = ("running", "paused", "stopped", "shutting-down", "crashed", "suspended", "unknown")
NIC_KINDS = ("network", "bridge", "direct")
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139")
FIRMWARES = ("bios", "uefi")
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
    disks: list[DiskDevice] = field(default_factory=list)
    nics: list[NicDevice] = field(default_factory=list)
    facts: VmFacts = field(default_factory=VmFacts)


# -- views (what describe-vm answers; built by jvp/hypervisor/domain_view.py, dumped by VmSchema) ----------
@dataclass
class DiskView:
    target: str | None
    device: str                     # disk | cdrom
    bus: str | None
    path: str | None                # None: an empty cdrom drive
    format: str | None
    pool: str | None = None         # the volume at `path`, when a pool of the node holds it
    volume: str | None = None
    capacity_bytes: int | None = None
    readonly: bool = False
    backing: str | None = None      # backing file of a linked clone
    system: bool = False            # the system disk (detach is refused)


@dataclass
class NicView:
    mac: str
    type: str | None                # network | bridge | direct
    network: str | None = None
    bridge: str | None = None
    device: str | None = None       # host interface of a direct NIC
    model: str | None = None
    ips: list[str] = field(default_factory=list)


@dataclass
class GraphicsView:
    type: str | None
    listen: str | None
    port: int | None
    autoport: bool


@dataclass
class ConsoleView:
    type: str | None
    target: str | None


@dataclass
class CloudInitView:
    instance_id: str | None
    seed_pool: str | None
    seed_volume: str | None


@dataclass
class VmView:
    """One VM as describe-vm shows it (list-vms rows are the first twelve fields, kept as dicts for speed)."""
    name: str
    uuid: str
    node: str
    state: str
    vcpus: int | None
    memory_mib: int | None
    persistent: bool | None
    template: str | None
    labels: dict[str, str]
    description: str | None
    created_at: str | None
    ips: list[str]
    autostart: bool | None = None
    domain_type: str | None = None
    cpu_mode: str | None = None
    firmware: str | None = None
    created_by: str | None = None
    keypairs: list[str] = field(default_factory=list)
    started_at: str | None = None
    uptime: int | None = None
    disks: list[DiskView] = field(default_factory=list)
    nics: list[NicView] = field(default_factory=list)
    graphics: list[GraphicsView] = field(default_factory=list)
    console: ConsoleView | None = None
    cloud_init: CloudInitView | None = None
    guest_agent: bool | None = None


# -- answers ---------------------------------------------------------------------------------------------
class VmDiskSchema(ResponseSchema):
    target = fields.String(required=True)
    device = fields.String(required=True, metadata={"description": "disk or cdrom"})
    bus = fields.String(allow_none=True)
    path = fields.String(allow_none=True, metadata={"description": "null: empty cdrom drive"})
    format = fields.String(allow_none=True)
    pool = fields.String(allow_none=True)
    volume = fields.String(allow_none=True)
    capacity_bytes = fields.Integer(allow_none=True)
    readonly = fields.Boolean()
    backing = fields.String(allow_none=True, metadata={"description": "backing file of a linked clone"})
    system = fields.Boolean(metadata={"description": "the system disk (cannot be detached)"})


class VmNicSchema(ResponseSchema):
    mac = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "network, bridge or direct"})
    network = fields.String(allow_none=True)
    bridge = fields.String(allow_none=True)
    device = fields.String(allow_none=True, metadata={"description": "host interface of a direct NIC"})
    model = fields.String(allow_none=True)
    ips = fields.List(fields.String(), required=True, metadata={
        "description": "from the DHCP leases of the VM's networks and the guest agent"})


class VmGraphicsSchema(ResponseSchema):
    type = fields.String(required=True)
    listen = fields.String(allow_none=True)
    port = fields.Integer(allow_none=True)
    autoport = fields.Boolean()


class VmConsoleSchema(ResponseSchema):
    type = fields.String(required=True)
    target = fields.String(allow_none=True)


class VmCloudInitSchema(ResponseSchema):
    instance_id = fields.String(allow_none=True)
    seed_pool = fields.String(allow_none=True)
    seed_volume = fields.String(allow_none=True)


class VmSummarySchema(ResponseSchema):
    name = fields.String(required=True)
    uuid = fields.String(required=True)
    node = fields.String(required=True)
    state = fields.String(required=True)
    vcpus = fields.Integer(allow_none=True)
    memory_mib = fields.Integer(allow_none=True)
    persistent = fields.Boolean()
    template = fields.String(allow_none=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    description = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    ips = fields.List(fields.String(), required=True, metadata={"description": "from DHCP leases"})


class VmSchema(VmSummarySchema):
    autostart = fields.Boolean(allow_none=True)
    domain_type = fields.String(allow_none=True)
    cpu_mode = fields.String(allow_none=True)
    firmware = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    keypairs = fields.List(fields.String())
    uptime = fields.Integer(allow_none=True, metadata={
        "description": "seconds since JVP started the domain (null when stopped or started outside JVP)"})
    started_at = fields.String(allow_none=True)
    disks = fields.List(fields.Nested(VmDiskSchema), required=True)
    nics = fields.List(fields.Nested(VmNicSchema), required=True)
    graphics = fields.List(fields.Nested(VmGraphicsSchema), required=True)
    console = fields.Nested(VmConsoleSchema, allow_none=True)
    cloud_init = fields.Nested(VmCloudInitSchema, allow_none=True)
    guest_agent = fields.Boolean(allow_none=True, metadata={
        "description": "the guest agent answered (null: not running or no agent channel)"})


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
        return [dict(zip(keys, pick(row))) for row in value] if self.many else dict(zip(keys, pick(value)))


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
