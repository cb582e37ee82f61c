"""Node: a libvirt host JVP manages."""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Any

from marshmallow import fields, validate

from jvp.domain.base import ResponseSchema, ListErrorSchema

LOCAL = "local"
STATES = ("online", "offline", "maintenance")


@dataclass
class NodeRecord:
    """What JVP keeps about a node (metadata/nodes/<name>.yaml); `local` exists even without a file."""
    name: str
    uri: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    maintenance: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    kvm_usable: bool | None = None        # a KVM guest really ran here (probed once by the VM module)
    kvm_probed_at: str | None = None

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        return {k: v for k, v in doc.items() if v is not None}


# -- views (built by jvp/hypervisor/host.py and the node service, dumped by the schemas below) ------------
@dataclass(frozen=True)
class VmCounts:
    running: int
    total: int


@dataclass(frozen=True)
class HostFacts:
    """What list-nodes shows of a reachable node (one getInfo, one memory call, two bulk domain listings)."""
    hostname: str | None
    hypervisor: str | None          # "QEMU 8.2.2"
    libvirt_version: str | None
    arch: str | None
    cpus: int | None
    memory_bytes: int | None
    vm_counts: VmCounts | None


@dataclass
class NodeView:
    """One node as describe-node answers it: its record, its state and (when reachable) its host facts."""
    name: str
    uri: str
    local: bool
    description: str
    labels: dict[str, str]          # free-form, set by users
    maintenance: bool
    created_at: str | None
    updated_at: str | None
    state: str = "offline"          # online | offline | maintenance
    reachable: bool = False
    last_error: str | None = None
    hostname: str | None = None
    hypervisor: str | None = None
    libvirt_version: str | None = None
    arch: str | None = None
    cpus: int | None = None
    memory_bytes: int | None = None
    vm_counts: VmCounts | None = None


@dataclass
class NodeList:
    nodes: list[NodeView]
    errors: list[dict[str, str]]    # metadata files that could not be read (ListErrorSchema)


@dataclass(frozen=True)
class CpuFacts:
    arch: str | None
    model: str | None
    vendor: str | None
    sockets: int | None
    dies: int | None
    cores: int | None               # per socket
    threads: int | None             # per core
    count: int | None               # logical CPUs
    mhz: int | None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MemoryFacts:
    total_bytes: int | None
    free_bytes: int | None
    buffers_bytes: int | None
    cached_bytes: int | None
    used_bytes: int | None


@dataclass(frozen=True)
class NumaCell:
    id: int
    cpus: list[int]
    memory_bytes: int | None
    free_memory_bytes: int | None
    distances: dict[str, int]       # sibling cell id -> distance


@dataclass(frozen=True)
class Hugepages:
    size_kib: int
    total: int | None
    free: int | None


@dataclass(frozen=True)
class Virtualization:
    kvm_available: bool
    domain_types: list[str]
    nested: bool | None
    iommu: bool | None
    kvm_usable: bool | None = None  # from the node's record (set by the service)


@dataclass(frozen=True)
class HostSummary:
    """describe-node-summary: the host's CPU, memory, NUMA cells, huge pages and virtualization."""
    cpu: CpuFacts
    memory: MemoryFacts
    numa: list[NumaCell]
    hugepages: list[Hugepages]
    virtualization: Virtualization
    name: str | None = None         # the node (set by the service)


@dataclass
class PciDevice:
    name: str | None
    address: str
    class_: str | None              # answered as `class`
    vendor_id: str | None
    vendor: str | None
    product_id: str | None
    product: str | None
    driver: str | None
    iommu_group: int | None
    numa_node: int | None
    vm: str | None = None           # the VM that passes it through


@dataclass(frozen=True)
class UsbDevice:
    name: str | None
    bus: int | None
    device: int | None
    vendor_id: str | None
    vendor: str | None
    product_id: str | None
    product: str | None
    driver: str | None


@dataclass(frozen=True)
class NetDevice:
    name: str | None
    interface: str | None
    mac: str | None
    link_state: str | None
    speed_mbps: int | None
    parent: str | None


@dataclass(frozen=True)
class StorageDevice:
    name: str | None
    block: str | None
    bus: str | None
    drive_type: str | None
    model: str | None
    vendor: str | None
    serial: str | None
    size_bytes: int | None
    removable: bool


NodeDevice = PciDevice | UsbDevice | NetDevice | StorageDevice


@dataclass(frozen=True)
class NodeVm:
    name: str
    uuid: str
    state: str
    vcpus: int | None
    memory_mib: int | None
    persistent: bool


class VmCountsSchema(ResponseSchema):
    running = fields.Integer(required=True)
    total = fields.Integer(required=True)


class NodeSchema(ResponseSchema):
    name = fields.String(required=True)
    uri = fields.String(required=True)
    local = fields.Boolean(required=True)
    description = fields.String()
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    reachable = fields.Boolean(required=True)
    maintenance = fields.Boolean(required=True)
    last_error = fields.String(allow_none=True)
    hostname = fields.String(allow_none=True)
    hypervisor = fields.String(allow_none=True)
    libvirt_version = fields.String(allow_none=True)
    arch = fields.String(allow_none=True)
    cpus = fields.Integer(allow_none=True)
    memory_bytes = fields.Integer(allow_none=True)
    vm_counts = fields.Nested(VmCountsSchema, allow_none=True)
    created_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)


class NodeResponse(ResponseSchema):
    node = fields.Nested(NodeSchema, required=True)


class NodeListResponse(ResponseSchema):
    nodes = fields.List(fields.Nested(NodeSchema), required=True)
    errors = fields.List(fields.Nested(ListErrorSchema), required=True)


class CpuSchema(ResponseSchema):
    arch = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    vendor = fields.String(allow_none=True)
    sockets = fields.Integer(allow_none=True)
    dies = fields.Integer(allow_none=True)
    cores = fields.Integer(allow_none=True, metadata={"description": "cores per socket"})
    threads = fields.Integer(allow_none=True, metadata={"description": "threads per core"})
    count = fields.Integer(allow_none=True, metadata={"description": "logical CPUs"})
    mhz = fields.Integer(allow_none=True)
    flags = fields.List(fields.String())


class MemorySchema(ResponseSchema):
    total_bytes = fields.Integer(allow_none=True)
    free_bytes = fields.Integer(allow_none=True)
    used_bytes = fields.Integer(allow_none=True)
    buffers_bytes = fields.Integer(allow_none=True)
    cached_bytes = fields.Integer(allow_none=True)


class NumaCellSchema(ResponseSchema):
    id = fields.Integer(required=True)
    cpus = fields.List(fields.Integer())
    memory_bytes = fields.Integer(allow_none=True)
    free_memory_bytes = fields.Integer(allow_none=True)
    distances = fields.Dict(keys=fields.String(), values=fields.Integer())


class HugepageSchema(ResponseSchema):
    size_kib = fields.Integer(required=True)
    total = fields.Integer(allow_none=True)
    free = fields.Integer(allow_none=True)


class VirtualizationSchema(ResponseSchema):
    kvm_available = fields.Boolean(required=True, metadata={
        "description": "libvirt offers the kvm domain type on this node"})
    kvm_usable = fields.Boolean(allow_none=True, metadata={
        "description": "a KVM guest really runs here (probed once; null until probed)"})
    domain_types = fields.List(fields.String())
    nested = fields.Boolean(allow_none=True, metadata={
        "description": "guests can run hypervisors of their own: the host-model CPU of the kvm domain "
                       "capabilities exposes vmx/svm (false without KVM; null when libvirt cannot tell)"})
    iommu = fields.Boolean(allow_none=True)


class NodeSummarySchema(ResponseSchema):
    name = fields.String(required=True)
    cpu = fields.Nested(CpuSchema, required=True)
    memory = fields.Nested(MemorySchema, required=True)
    numa = fields.List(fields.Nested(NumaCellSchema), required=True)
    hugepages = fields.List(fields.Nested(HugepageSchema), required=True)
    virtualization = fields.Nested(VirtualizationSchema, required=True)


class NodeSummaryResponse(ResponseSchema):
    summary = fields.Nested(NodeSummarySchema, required=True)


class PciDeviceSchema(ResponseSchema):
    name = fields.String(required=True)
    address = fields.String(required=True)
    class_ = fields.String(data_key="class", allow_none=True)
    vendor_id = fields.String(allow_none=True)
    vendor = fields.String(allow_none=True)
    product_id = fields.String(allow_none=True)
    product = fields.String(allow_none=True)
    driver = fields.String(allow_none=True)
    iommu_group = fields.Integer(allow_none=True)
    numa_node = fields.Integer(allow_none=True)
    vm = fields.String(allow_none=True, metadata={"description": "VM that passes this device through"})


class UsbDeviceSchema(ResponseSchema):
    name = fields.String(required=True)
    bus = fields.Integer(allow_none=True)
    device = fields.Integer(allow_none=True)
    vendor_id = fields.String(allow_none=True)
    vendor = fields.String(allow_none=True)
    product_id = fields.String(allow_none=True)
    product = fields.String(allow_none=True)
    driver = fields.String(allow_none=True)


class NetDeviceSchema(ResponseSchema):
    name = fields.String(required=True)
    interface = fields.String(allow_none=True)
    mac = fields.String(allow_none=True)
    link_state = fields.String(allow_none=True)
    speed_mbps = fields.Integer(allow_none=True)
    parent = fields.String(allow_none=True)


class DiskDeviceSchema(ResponseSchema):
    name = fields.String(required=True)
    block = fields.String(allow_none=True)
    bus = fields.String(allow_none=True)
    drive_type = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    vendor = fields.String(allow_none=True)
    serial = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    removable = fields.Boolean()


class NodeVmSchema(ResponseSchema):
    name = fields.String(required=True)
    uuid = fields.String(required=True)
    state = fields.String(required=True)
    vcpus = fields.Integer(allow_none=True)
    memory_mib = fields.Integer(allow_none=True)
    persistent = fields.Boolean()


def device_response(key: str, item: type[ResponseSchema]) -> type[ResponseSchema]:
    return type(f"Node{key.capitalize()}Response", (ResponseSchema,), {
        "node": fields.String(required=True),
        key: fields.List(fields.Nested(item), required=True),
    })


NodePciResponse = device_response("pci", PciDeviceSchema)
NodeUsbResponse = device_response("usb", UsbDeviceSchema)
NodeNetResponse = device_response("net", NetDeviceSchema)
NodeDisksResponse = device_response("disks", DiskDeviceSchema)
NodeGpuResponse = device_response("gpu", PciDeviceSchema)
NodeVmsResponse = device_response("vms", NodeVmSchema)
