"""`GET /metrics`: Prometheus text exposition of JVP's own view of its nodes.

Gauges are computed at scrape time from the same services the API uses (per-node reachability and VM
counts), so every gunicorn worker answers the same figures without shared multiprocess state.
"""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest


def render(services: Any) -> bytes:
    reg = CollectorRegistry()
    up = Gauge("jvp_node_up", "1 when JVP reaches the node's libvirt", ["node"], registry=reg)
    maint = Gauge("jvp_node_maintenance", "1 when the node is in maintenance", ["node"], registry=reg)
    vms = Gauge("jvp_node_vms", "VMs defined on the node", ["node", "state"], registry=reg)
    mem = Gauge("jvp_node_memory_bytes", "memory of the node", ["node"], registry=reg)
    cpus = Gauge("jvp_node_cpus", "logical CPUs of the node", ["node"], registry=reg)
    listing = services.nodes.list()
    for n in listing.nodes:
        up.labels(n.name).set(1 if n.reachable else 0)
        maint.labels(n.name).set(1 if n.maintenance else 0)
        if n.vm_counts:
            vms.labels(n.name, "running").set(n.vm_counts.running)
            vms.labels(n.name, "total").set(n.vm_counts.total)
        if n.memory_bytes is not None:
            mem.labels(n.name).set(n.memory_bytes)
        if n.cpus is not None:
            cpus.labels(n.name).set(n.cpus)
    Gauge("jvp_metadata_errors", "metadata files that could not be read", registry=reg).set(
        len(listing.errors))
    return generate_latest(reg)
