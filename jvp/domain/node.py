"""Node: a libvirt host JVP manages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from marshmallow import fields, validate

from jvp.domain.base import PROBLEMS_DOC, Problem, ResponseSchema, answer_schema, envelopes, shown

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


# -- views (built by jvp/hypervisor/host*.py and the node service); each is its answer's schema too -------
@dataclass(frozen=True)
class VmCounts:
    running: int
    total: int


NODE_MEMORY_DOC = ("the node's memory as libvirt reports it: `virsh nodememstats` total "
                   "(virNodeGetMemoryStats; /proc/meminfo MemTotal on Linux) where the driver keeps memory "
                   "statistics, else `virsh nodeinfo`'s Memory size (virNodeGetInfo), to the KiB")


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


@dataclass(kw_only=True)
class NodeView:
    """One node as describe-node answers it: its record, its state and (when reachable) its host facts."""
    name: str
    uri: str
    local: bool
    description: str = shown(required=False)
    labels: dict[str, str] = shown(required=False)  # free-form, set by users
    state: str = shown("offline", validate=validate.OneOf(STATES))
    reachable: bool = False
    maintenance: bool
    last_error: str | None = None
    hostname: str | None = None
    hypervisor: str | None = None
    libvirt_version: str | None = None
    arch: str | None = None
    cpus: int | None = None
    memory_bytes: int | None = shown(None, doc=NODE_MEMORY_DOC)
    vm_counts: VmCounts | None = None
    created_at: str | None
    updated_at: str | None


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
    cores: int | None = shown(doc="cores per socket")
    threads: int | None = shown(doc="threads per core")
    count: int | None = shown(doc="logical CPUs")
    mhz: int | None
    flags: list[str] = shown(factory=list, required=False)


@dataclass(frozen=True)
class MemoryFacts:
    total_bytes: int | None = shown(doc=NODE_MEMORY_DOC)
    free_bytes: int | None
    used_bytes: int | None
    buffers_bytes: int | None
    cached_bytes: int | None


@dataclass(frozen=True)
class NumaCell:
    id: int
    cpus: list[int] = shown(required=False)
    memory_bytes: int | None
    free_memory_bytes: int | None
    distances: dict[str, int] = shown(required=False)  # sibling cell id -> distance


@dataclass(frozen=True)
class Hugepages:
    size_kib: int
    total: int | None
    free: int | None


@dataclass(frozen=True, kw_only=True)
class Virtualization:
    kvm_available: bool = shown(doc="libvirt offers the kvm domain type on this node")
    kvm_usable: bool | None = shown(None, doc="a KVM guest really runs here (probed once; null until probed)")
    domain_types: list[str] = shown(required=False)
    nested: bool | None = shown(doc="guests can run hypervisors of their own: the host-model CPU of the kvm domain "
                                    "capabilities exposes vmx/svm (false without KVM; null when libvirt cannot tell)")
    iommu: bool | None


@dataclass(frozen=True, kw_only=True)
class HostSummary:
    """describe-node-summary: the host's CPU, memory, NUMA cells, huge pages and virtualization."""
    name: str | None = shown(None, required=True, nullable=False)  # the node (set by the service)
    cpu: CpuFacts
    memory: MemoryFacts
    numa: list[NumaCell]
    hugepages: list[Hugepages]
    virtualization: Virtualization


@dataclass
class PciDevice:
    name: str | None = shown(required=True, nullable=False)
    address: str = shown(doc="domain:bus:slot.function, every part in hex as lspci and sysfs write it "
                             "(0000:03:00.1)")
    class_: str | None = shown(data_key="class")
    vendor_id: str | None
    vendor: str | None
    product_id: str | None
    product: str | None
    driver: str | None
    iommu_group: int | None
    numa_node: int | None
    vm: str | None = shown(None, doc="VM that passes this device through")


@dataclass(frozen=True)
class UsbDevice:
    name: str | None = shown(required=True, nullable=False)
    bus: int | None
    device: int | None
    vendor_id: str | None
    vendor: str | None
    product_id: str | None
    product: str | None
    driver: str | None


@dataclass(frozen=True)
class NetDevice:
    name: str | None = shown(required=True, nullable=False)
    interface: str | None
    mac: str | None
    link_state: str | None
    speed_mbps: int | None
    parent: str | None


@dataclass(frozen=True)
class StorageDevice:
    name: str | None = shown(required=True, nullable=False)
    block: str | None
    bus: str | None
    drive_type: str | None
    model: str | None
    vendor: str | None
    serial: str | None
    size_bytes: int | None
    removable: bool = shown(required=False)


NodeDevice = PciDevice | UsbDevice | NetDevice | StorageDevice


@dataclass(frozen=True)
class NodeVm:
    """A row of describe-node-vms: the figures of list-vms' row (jvp/hypervisor/host.node_vms)."""
    name: str
    uuid: str
    state: str
    vcpus: int | None
    memory_mib: int | None = shown(doc="current memory (the balloon)")
    persistent: bool = shown(required=False)
    state_reason: str | None = shown(None, doc="libvirt's reason for the state")
    max_vcpus: int | None = None
    max_memory_mib: int | None = None
    problems: list[Problem] = shown(factory=list, doc=PROBLEMS_DOC)


VmCountsSchema = answer_schema(VmCounts, "VmCountsSchema")
NodeSchema = answer_schema(NodeView, "NodeSchema")


NodeResponse, NodeListResponse = envelopes(NodeSchema, "node", "nodes", errors=True)


CpuSchema = answer_schema(CpuFacts, "CpuSchema")
MemorySchema = answer_schema(MemoryFacts, "MemorySchema")
NumaCellSchema = answer_schema(NumaCell, "NumaCellSchema")
HugepageSchema = answer_schema(Hugepages, "HugepageSchema")
VirtualizationSchema = answer_schema(Virtualization, "VirtualizationSchema")
NodeSummarySchema = answer_schema(HostSummary, "NodeSummarySchema")


class NodeSummaryResponse(ResponseSchema):
    summary = fields.Nested(NodeSummarySchema, required=True)


PciDeviceSchema = answer_schema(PciDevice, "PciDeviceSchema")
UsbDeviceSchema = answer_schema(UsbDevice, "UsbDeviceSchema")
NetDeviceSchema = answer_schema(NetDevice, "NetDeviceSchema")
DiskDeviceSchema = answer_schema(StorageDevice, "DiskDeviceSchema")
NodeVmSchema = answer_schema(NodeVm, "NodeVmSchema")


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
