"""Metrics: what the collector reads from a node (counters), and the answers of the metrics actions.

The hypervisor layer builds the counter views (one bulk read per node and interval), the collector
(jvp/service/metrics/) turns two successive readings into rates and keeps them in the metrics store, and the
actions answer series from that store: arrays of equal length, `null` where nothing was sampled (the node was
down, the VM stopped).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import ListErrorSchema, ResponseSchema
from jvp.domain.vm import TrustedRows

# -- what one reading of a node gives (counters are cumulative since the VM / host started) ----------------


@dataclass
class DiskCounters:
    name: str                  # the guest's target (vda, sda)
    read_bytes: int | None
    write_bytes: int | None
    read_reqs: int | None
    write_reqs: int | None


@dataclass
class NicCounters:
    name: str                  # the host's tap device (vnet0), or the target libvirt reports
    mac: str | None
    rx_bytes: int | None
    tx_bytes: int | None


@dataclass
class VmCounters:
    uuid: str
    name: str
    state: str                 # jvp.domain.vm.STATES
    active: bool               # a QEMU process runs (running, paused, shutting down, pmsuspended)
    vcpus: int | None
    cpu_time_ns: int | None
    memory_used_bytes: int | None
    memory_available_bytes: int | None
    disks: list[DiskCounters] = field(default_factory=list)
    nics: list[NicCounters] = field(default_factory=list)


@dataclass
class PoolUsage:
    name: str
    capacity_bytes: int | None
    allocation_bytes: int | None
    available_bytes: int | None


@dataclass
class NodeCounters:
    cpus: int | None
    cpu_ns: dict[str, int] | None         # libvirt's node CPU times (user, kernel, idle, iowait), all CPUs
    memory_total_bytes: int | None
    memory_used_bytes: int | None          # total - free - buffers - cached (what node_exporter calls used)
    pools: list[PoolUsage] = field(default_factory=list)


# -- answers -------------------------------------------------------------------------------------------------
VM_SERIES = ("cpu_percent", "memory_used_bytes", "memory_available_bytes", "disk_read_bytes_per_s",
             "disk_write_bytes_per_s", "disk_read_iops", "disk_write_iops", "net_rx_bytes_per_s",
             "net_tx_bytes_per_s")
DISK_SERIES = ("read_bytes_per_s", "write_bytes_per_s", "read_iops", "write_iops")
NIC_SERIES = ("rx_bytes_per_s", "tx_bytes_per_s")
NODE_SERIES = ("cpu_percent", "memory_used_bytes", "memory_total_bytes", "load1", "load5", "load15")
POOL_SERIES = ("capacity_bytes", "allocation_bytes", "available_bytes")
USAGE_FIELDS = ("cpu_percent", "memory_used_bytes", "memory_available_bytes", "disk_read_bytes_per_s",
                "disk_write_bytes_per_s", "net_rx_bytes_per_s", "net_tx_bytes_per_s")

# Bounds of a request (400 outside): a minute to 30 days (the downsampled history's retention).
MIN_WINDOW_S = 60
MAX_WINDOW_S = 30 * 86400
MAX_POINTS = 10_000            # window_s / step_s
DEFAULT_POINTS = 360           # the default step_s gives about this many points


class Series(fields.Dict):
    """`{name: [value or null, ...]}` built by JVP's own code, already in its final types: dumped as it is
    (a day at full resolution is ~90,000 numbers; marshmallow's per-item dump would cost more than the query).
    The OpenAPI document still shows an object of arrays of nullable numbers."""

    def __init__(self, names: tuple[str, ...], *, with_time: bool = True, **kwargs):
        doc = ("arrays of the same length as `time`; null: nothing sampled then" if with_time else
               "arrays of the same length as the answer's `series.time`; null: nothing sampled then")
        super().__init__(keys=fields.String(), values=fields.List(fields.Float(allow_none=True)),
                         metadata={"description": doc + ". Keys: " + ", ".join(
                             (("time",) if with_time else ()) + names)}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class _Window(ResponseSchema):
    window_s = fields.Integer(required=True)
    step_s = fields.Integer(required=True, metadata={"description": "seconds between two points"})
    interval_s = fields.Integer(required=True, metadata={"description": "the collector's sampling interval"})


class DiskSeriesSchema(ResponseSchema):
    name = fields.String(required=True)
    series = Series(DISK_SERIES, with_time=False, required=True)


class NicSeriesSchema(ResponseSchema):
    name = fields.String(required=True, metadata={"description": "the host's tap device last seen"})
    mac = fields.String(allow_none=True)
    series = Series(NIC_SERIES, with_time=False, required=True)


class PoolSeriesSchema(ResponseSchema):
    name = fields.String(required=True)
    series = Series(POOL_SERIES, with_time=False, required=True)


class VmMetricsResponse(_Window):
    node = fields.String(required=True)
    name = fields.String(required=True)
    uuid = fields.String(allow_none=True)
    series = Series(VM_SERIES, required=True)
    disks = fields.List(fields.Nested(DiskSeriesSchema), required=True)
    nics = fields.List(fields.Nested(NicSeriesSchema), required=True)


class NodeMetricsResponse(_Window):
    name = fields.String(required=True)
    load_source = fields.String(allow_none=True, metadata={
        "description": "where load1/5/15 come from (`/proc/loadavg` of the JVP server for a node on this "
                       "machine); null: libvirt has no load figure, the series are null"})
    series = Series(NODE_SERIES, required=True)
    pools = fields.List(fields.Nested(PoolSeriesSchema), required=True)


class VmUsageSchema(ResponseSchema):
    node = fields.String(required=True)
    name = fields.String(required=True)
    uuid = fields.String(required=True)
    time = fields.Integer(required=True, metadata={"description": "unix seconds of the sample"})
    state = fields.String(required=True)
    cpu_percent = fields.Float(allow_none=True, metadata={"description": "of the VM's vCPUs (0-100)"})
    memory_used_bytes = fields.Integer(allow_none=True)
    memory_available_bytes = fields.Integer(allow_none=True)
    disk_read_bytes_per_s = fields.Float(allow_none=True)
    disk_write_bytes_per_s = fields.Float(allow_none=True)
    net_rx_bytes_per_s = fields.Float(allow_none=True)
    net_tx_bytes_per_s = fields.Float(allow_none=True)
    cpu_recent = fields.List(fields.Float(allow_none=True), required=True, metadata={
        "description": "the last 30 samples of cpu_percent, oldest first; null where the VM was not running"})


class VmUsageListResponse(ResponseSchema):
    vms = TrustedRows(VmUsageSchema, many=True, required=True)
    errors = fields.List(fields.Nested(ListErrorSchema), required=True)
