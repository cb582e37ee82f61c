"""What the metrics collector reads from a node: cumulative counters of every domain and of the host, in as few
calls as the driver allows.

Domains: one `getAllDomainStats` (state, CPU time, balloon, block and interface counters of every domain).
Drivers whose bulk answer lacks the counters of a running domain (libvirt's test driver answers the state
only) are read per domain (`info`, `memoryStats`, `blockStats`, `interfaceStats`: the `domain_device_stats`
feature), with the device names from the domain's XML, cached per domain and dropped by its events (the same
cache as list-vms, its own instance). NIC MACs come from that cache too (the bulk answer names the tap
device only).

Host: `getInfo`, `getCPUStats(all CPUs)`, `getMemoryStats` (else `getFreeMemory`), and each active storage
pool's `info()`. libvirt has no load average: the collector reads it for a node on its own machine only.
"""
from __future__ import annotations

from typing import Any

import libvirt
from lxml import etree

from jvp.domain.metrics import DiskCounters, NicCounters, NodeCounters, PoolUsage, VmCounters
from jvp.hypervisor import domain_state, host, support
from jvp.hypervisor.domain_cache import DomainFactsCache
from jvp.hypervisor.xml.domain import Domain

STATS = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
         | libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK)
_ACTIVE = {libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED,
           libvirt.VIR_DOMAIN_SHUTDOWN, libvirt.VIR_DOMAIN_PMSUSPENDED}
# A domain that stopped or vanished between the listing and a per-domain read: that figure is unknown.
_GONE = {libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID}


def device_facts(root: etree._Element) -> dict[str, Any]:
    """What the collector needs of a domain's XML: current vCPUs, disk targets, NICs (tap device, MAC)."""
    dom = Domain(root)
    current = dom.vcpu_current
    vcpus = int(current) if current and str(current).isdigit() else dom.vcpus
    return {"vcpus": vcpus, "disks": [d.target for d in dom.disks if d.target],
            "nics": [(n.tap_dev, n.mac) for n in dom.interfaces]}


def _no_devices(_dom: libvirt.virDomain, _uuid: str, _detail: str) -> dict[str, Any]:
    return {"vcpus": None, "disks": [], "nics": []}


DEVICES = DomainFactsCache(device_facts, _no_devices)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def _size(value: Any) -> int | None:
    """A byte count as libvirt reported it; None for what is no size (a pool whose allocation exceeds its
    capacity reports a wrapped-around 'available' near 2**64)."""
    value = _int(value)
    return value if value is not None and 0 <= value < 2**63 else None


def _tolerated(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() in _GONE or support.lacks("domain_device_stats", exc)


def vm_counters(conn: libvirt.virConnect) -> list[VmCounters]:
    """Every domain of the node with its counters (None where the driver cannot tell)."""
    try:
        got = conn.getAllDomainStats(STATS, 0)
    except libvirt.libvirtError as exc:
        if not support.lacks("bulk_domain_stats", exc):
            raise
        got = [(d, {"state.state": d.state()[0]}) for d in conn.listAllDomains(0)]
    if not got:
        return []
    facts = DEVICES.facts(conn, [d for d, _ in got])
    out = []
    for (dom, st), dev in zip(got, facts):
        if dev is None:  # vanished since it was listed
            continue
        raw_state = st.get("state.state", libvirt.VIR_DOMAIN_NOSTATE)
        active = raw_state in _ACTIVE
        vm = VmCounters(uuid=dom.UUIDString(), name=dom.name(), state=domain_state.state_name(raw_state),
                        active=active, vcpus=dev["vcpus"], cpu_time_ns=None, memory_used_bytes=None,
                        memory_available_bytes=None)
        if active:
            if "cpu.time" in st:
                _from_bulk(vm, st, dict((tap, mac) for tap, mac in dev["nics"] if tap))
            else:
                _per_domain(vm, dom, dev)
        out.append(vm)
    return out


def _memory(vm: VmCounters, available: Any, unused: Any, rss: Any, current: Any) -> None:
    """Used: the guest's own view (available - unused) when its balloon driver reports it, else the host's
    RSS of the VM; available: the guest's usable memory, else its current allocation."""
    available, unused, rss, current = _int(available), _int(unused), _int(rss), _int(current)
    if available is not None and unused is not None:
        vm.memory_used_bytes = max(available - unused, 0) * 1024
    elif rss is not None:
        vm.memory_used_bytes = rss * 1024
    total = available if available is not None else current
    vm.memory_available_bytes = total * 1024 if total is not None else None


def _from_bulk(vm: VmCounters, st: dict[str, Any], macs: dict[str, str]) -> None:
    vm.cpu_time_ns = _int(st.get("cpu.time"))
    _memory(vm, st.get("balloon.available"), st.get("balloon.unused"), st.get("balloon.rss"),
            st.get("balloon.current"))
    for i in range(int(st.get("block.count", 0))):
        p = f"block.{i}."
        name = st.get(p + "name")
        if name:
            vm.disks.append(DiskCounters(name, _int(st.get(p + "rd.bytes")), _int(st.get(p + "wr.bytes")),
                                         _int(st.get(p + "rd.reqs")), _int(st.get(p + "wr.reqs"))))
    for i in range(int(st.get("net.count", 0))):
        p = f"net.{i}."
        name = st.get(p + "name")
        if name:
            vm.nics.append(NicCounters(name, macs.get(name), _int(st.get(p + "rx.bytes")),
                                       _int(st.get(p + "tx.bytes"))))


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except libvirt.libvirtError as exc:
        if _tolerated(exc):
            return None
        raise


def _per_domain(vm: VmCounters, dom: libvirt.virDomain, dev: dict[str, Any]) -> None:
    info = _call(dom.info)  # [state, max KiB, current KiB, vcpus, cpu time ns]
    if info is None:
        return
    vm.cpu_time_ns = _int(info[4])
    vm.vcpus = vm.vcpus or _int(info[3])
    mem = _call(dom.memoryStats) or {}
    _memory(vm, mem.get("available"), mem.get("unused"), mem.get("rss"), info[2])
    for target in dev["disks"]:
        bs = _call(dom.blockStats, target)  # (rd_req, rd_bytes, wr_req, wr_bytes, errs)
        if bs is not None:
            vm.disks.append(DiskCounters(target, _int(bs[1]), _int(bs[3]), _int(bs[0]), _int(bs[2])))
    for tap, mac in dev["nics"]:
        if not tap:
            continue
        ns = _call(dom.interfaceStats, tap)  # (rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, ...)
        if ns is not None:
            vm.nics.append(NicCounters(tap, mac, _int(ns[0]), _int(ns[4])))


def vm_uuid(conn: libvirt.virConnect, name: str) -> str:
    return conn.lookupByName(name).UUIDString()


def node_counters(conn: libvirt.virConnect) -> NodeCounters:
    info = conn.getInfo()  # [arch, memory MiB, cpus, MHz, ...]
    try:
        cpu = {k: int(v) for k, v in conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS).items()}
    except libvirt.libvirtError as exc:
        if not support.lacks("node_cpu_stats", exc):
            raise
        cpu = None
    mem = host.memory_stats(conn)
    total = host.node_memory_bytes(conn, info, mem)
    used = None
    if mem and "free" in mem:
        used = total - mem["free"] - mem.get("buffers", 0) - mem.get("cached", 0)
    else:
        try:
            used = total - int(conn.getFreeMemory())
        except libvirt.libvirtError as exc:
            if not support.lacks("node_free_memory", exc):
                raise
    pools = []
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            _state, cap, alloc, avail = pool.info()
            pools.append(PoolUsage(pool.name(), _size(cap), _size(alloc), _size(avail)))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_OPERATION_INVALID):
                raise
    return NodeCounters(cpus=int(info[2]), cpu_ns=cpu, memory_total_bytes=total,
                        memory_used_bytes=max(used, 0) if used is not None else None, pools=pools)
