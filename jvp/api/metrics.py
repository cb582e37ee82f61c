"""Metrics (SPEC 2.7, 5; issue 16): the history actions, and `GET /metrics` in Prometheus' text format.

Both read what the collector stored (jvp/service/metrics/): no action and no scrape calls a node, so a scrape
costs a few store reads whatever the number of VMs, and every worker process answers the same figures.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import NodeFilter, NodeRef, Ref, RequestSchema, Name
from jvp.domain.metrics import (MAX_WINDOW_S, MIN_WINDOW_S, NodeMetricsResponse, VmMetricsResponse,
                                VmUsageListResponse)

TAG = "metrics"
_WINDOW_HELP = f"seconds of history, {MIN_WINDOW_S} to {MAX_WINDOW_S} (30 days)"
_STEP_HELP = ("seconds between two points: at least the collector's interval (5 minutes for windows over a "
              "day), at most window_s, at most 10,000 points; default: about 360 points")


def _window() -> fields.Integer:
    return fields.Integer(load_default=3600, strict=True, validate=validate.Range(MIN_WINDOW_S, MAX_WINDOW_S),
                          metadata={"description": _WINDOW_HELP})


def _step() -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(1, MAX_WINDOW_S), metadata={"description": _STEP_HELP})


class VmMetricsRequest(RequestSchema):
    node = NodeRef()
    name = Ref(metadata={"description": "the VM"})
    window_s = _window()
    step_s = _step()


class NodeMetricsRequest(RequestSchema):
    name = Name()
    window_s = _window()
    step_s = _step()


class VmUsageRequest(RequestSchema):
    node = NodeFilter()


@registry.action("describe-vm-metrics", request=VmMetricsRequest, response=VmMetricsResponse, role=Role.VIEWER,
                 tag=TAG, errors=("NodeNotFound", "NodeUnreachable", "VmNotFound", "InvalidMetricsStep"))
def describe_vm_metrics(ctx, req):
    """A VM's CPU %, memory, disk and network rates over a window, in total and per device (null: gaps)."""
    return ctx.services.metrics.describe_vm(req["node"], req["name"], req["window_s"], req.get("step_s"))


@registry.action("describe-node-metrics", request=NodeMetricsRequest, response=NodeMetricsResponse,
                 role=Role.VIEWER, tag=TAG, errors=("NodeNotFound", "InvalidMetricsStep"))
def describe_node_metrics(ctx, req):
    """A node's CPU %, memory, load and storage pools' usage over a window (null: gaps)."""
    return ctx.services.metrics.describe_node(req["name"], req["window_s"], req.get("step_s"))


@registry.action("list-vm-usage", request=VmUsageRequest, response=VmUsageListResponse, role=Role.VIEWER,
                 tag=TAG, errors=("NodeNotFound",))
def list_vm_usage(ctx, req):
    """The latest sample of every VM (of one node or all), with its last 30 CPU % samples."""
    return ctx.services.metrics.usage(req.get("node"))


# -- GET /metrics ------------------------------------------------------------------------------------------
def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float | int) -> str:
    if isinstance(v, int):
        return str(v)
    return repr(float(v)) if math.isfinite(v) else ("+Inf" if v > 0 else ("-Inf" if v < 0 else "NaN"))


class _Text:
    """Prometheus' text exposition format 0.0.4, written directly (thousands of series per scrape)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, Any], Any]]) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is None:
                continue
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items() if v is not None)
            self.lines.append(f"{name}{{{lab}}} {_num(value)}" if lab else f"{name} {_num(value)}")

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def render(services: Any) -> bytes:
    """Every family JVP exports (README: Metrics, Prometheus)."""
    out = _Text()
    listing_records, listing_errors = services.nodes.records()   # metadata only: no node is called
    snap = services.metrics.snapshot()
    nodes, vms = snap["nodes"], snap["vms"]
    nl = [(n, doc) for n, (_t, doc) in sorted(nodes.items())]
    ok = [(n, d) for n, d in nl if d.get("ok")]

    # JVP's own node gauges (kept from before the collector; now from its latest sample)
    out.family("jvp_node_up", "gauge", "1 when the collector's last reading of the node's libvirt succeeded",
               [({"node": n}, 1 if d.get("ok") else 0) for n, d in nl])
    out.family("jvp_node_maintenance", "gauge", "1 when the node is in maintenance",
               [({"node": r.name}, 1 if r.maintenance else 0) for r in listing_records])
    out.family("jvp_node_vms", "gauge", "VMs defined on the node",
               [s for n, d in ok for s in (({"node": n, "state": "running"}, d.get("vms_running")),
                                           ({"node": n, "state": "total"}, d.get("vms_total")))])
    out.family("jvp_node_memory_bytes", "gauge", "memory of the node",
               [({"node": n}, d.get("memory_total_bytes")) for n, d in ok])
    out.family("jvp_node_cpus", "gauge", "logical CPUs of the node", [({"node": n}, d.get("cpus")) for n, d in ok])
    out.family("jvp_metadata_errors", "gauge", "metadata files that could not be read", [({}, len(listing_errors))])

    # node figures, in node_exporter's units
    out.family("jvp_node_cpu_seconds_total", "counter", "CPU time of the node's CPUs by mode (libvirt's "
               "user, kernel, idle, iowait), all CPUs summed",
               [({"node": n, "mode": m}, v / 1e9) for n, d in ok for m, v in sorted(((d.get("k") or {}).get("cpu")
                                                                                       or {}).items())])
    out.family("jvp_node_cpu_usage_ratio", "gauge", "busy share of the node's CPUs over the last interval (0-1)",
               [({"node": n}, _ratio(d.get("cpu_percent"))) for n, d in ok])
    out.family("jvp_node_memory_used_bytes", "gauge", "memory in use: total - free - buffers - cached",
               [({"node": n}, d.get("memory_used_bytes")) for n, d in ok])
    for i, w in enumerate(("1", "5", "15")):
        out.family(f"jvp_node_load{w}", "gauge", f"{w}-minute load average (nodes on the JVP server's machine only)",
                   [({"node": n}, (d.get("load") or [None] * 3)[i]) for n, d in ok])
    for key, what in (("capacity_bytes", "size"), ("allocation_bytes", "allocation"),
                      ("available_bytes", "free space")):
        out.family(f"jvp_pool_{key}", "gauge", f"storage pool {what}",
                   [({"node": n, "pool": p["name"]}, p.get(key)) for n, d in ok for p in d.get("pools", [])])

    # VMs: counters as libvirt reports them (rate() them), plus the collector's own rates
    def vm_labels(row: tuple) -> dict[str, Any]:
        return {"node": row[0], "vm": row[2], "uuid": row[1]}
    out.family("jvp_vm_up", "gauge", "1 when the VM runs (a QEMU process exists: running, paused, ...)",
               [(vm_labels(r), 0 if r[4]["state"] in ("stopped", "crashed") else 1) for r in vms])
    out.family("jvp_vm_info", "gauge", "the VM's state, as a label (always 1)",
               [({**vm_labels(r), "state": r[4]["state"]}, 1) for r in vms])
    out.family("jvp_vm_vcpus", "gauge", "current vCPUs", [(vm_labels(r), r[4].get("vcpus")) for r in vms])
    act = [r for r in vms if r[4].get("k")]
    out.family("jvp_vm_cpu_seconds_total", "counter", "CPU time the VM used (all vCPUs)",
               [(vm_labels(r), r[4]["k"]["cpu"] / 1e9 if r[4]["k"].get("cpu") is not None else None) for r in act])
    out.family("jvp_vm_cpu_usage_ratio", "gauge", "share of the VM's vCPUs used over the last interval (0-1)",
               [(vm_labels(r), _ratio(r[4].get("cpu_percent"))) for r in act])
    out.family("jvp_vm_memory_used_bytes", "gauge", "memory used, the guest's view (balloon stats), else the "
               "host's RSS of the VM", [(vm_labels(r), r[4].get("memory_used_bytes")) for r in act])
    out.family("jvp_vm_memory_available_bytes", "gauge", "memory the guest can use",
               [(vm_labels(r), r[4].get("memory_available_bytes")) for r in act])
    disks = [(r, name, c) for r in act for name, c in sorted(r[4]["k"].get("d", {}).items())]
    for i, (metric, help_) in enumerate((("read_bytes_total", "bytes read"), ("written_bytes_total", "bytes written"),
                                         ("reads_completed_total", "read requests"),
                                         ("writes_completed_total", "write requests"))):
        out.family(f"jvp_vm_disk_{metric}", "counter", f"{help_} by the VM's disk",
                   [({**vm_labels(r), "device": name}, c[i]) for r, name, c in disks])
    nics = [(r, c) for r in act for _key, c in sorted(r[4]["k"].get("n", {}).items())]
    for i, (metric, help_) in ((2, ("receive_bytes_total", "bytes received")),
                               (3, ("transmit_bytes_total", "bytes sent"))):
        out.family(f"jvp_vm_network_{metric}", "counter", f"{help_} by the VM's NIC (host's tap device)",
                   [({**vm_labels(r), "device": c[0], "mac": c[1]}, c[i]) for r, c in nics])

    coll = snap["collector"]
    out.family("jvp_metrics_collector_leader", "gauge", "1 in the worker process that collects",
               [({}, 1 if coll.leading else 0)])
    out.family("jvp_metrics_store_bytes", "gauge", "size of the metrics history on disk",
               [({}, services.metrics.store.size_bytes())])
    return out.text()


def _ratio(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 4)
