"""Facts about a node, read through its libvirt connection only (so remote nodes answer alike).

Every figure comes from libvirt; what a driver cannot tell is reported as null, never guessed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any, Callable

import libvirt
from lxml import etree

from jvp.domain.node import (CpuFacts, HostFacts, HostSummary, Hugepages, MemoryFacts, NodeVm, NumaCell,
                             Virtualization, VmCounts)
from jvp.hypervisor import domain_describe, domain_state, support
from jvp.hypervisor.xml import parse, size_bytes, text


def version_string(v: int) -> str:
    return f"{v // 1000000}.{(v // 1000) % 1000}.{v % 1000}"


def memory_stats(conn: libvirt.virConnect) -> dict[str, int] | None:
    try:
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    except libvirt.libvirtError as exc:
        if support.lacks("node_memory_stats", exc):
            return None
        raise
    return {k: v * 1024 for k, v in stats.items()}


class _NodeInfo(ctypes.Structure):
    """libvirt's virNodeInfo (include/libvirt/libvirt-host.h)."""
    _fields_ = [("model", ctypes.c_char * 32), ("memory", ctypes.c_ulong), ("cpus", ctypes.c_uint),
                ("mhz", ctypes.c_uint), ("nodes", ctypes.c_uint), ("sockets", ctypes.c_uint),
                ("cores", ctypes.c_uint), ("threads", ctypes.c_uint)]


@functools.lru_cache(maxsize=1)
def _libvirt_c() -> ctypes.CDLL:
    """libvirt's C library, looked up once: find_library runs `ldconfig -p` in a subprocess every time (it
    was 40% of list-nodes on a node without memory statistics)."""
    lib = ctypes.CDLL(ctypes.util.find_library("virt") or "libvirt.so.0")
    lib.virNodeGetInfo.restype = ctypes.c_int
    lib.virNodeGetInfo.argtypes = [ctypes.c_void_p, ctypes.POINTER(_NodeInfo)]
    return lib


def _node_info_memory_kib(conn: libvirt.virConnect) -> int | None:
    """virNodeGetInfo's memory in KiB as libvirt reports it (what `virsh nodeinfo` prints as Memory size).
    libvirt-python's getInfo() answers it in MiB rounded down, up to 1023 KiB short; the same C call through
    the binding's own connection pointer gives the exact figure. None when that call is not possible here."""
    try:
        lib = _libvirt_c()
        capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        capsule_pointer.restype, capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        ptr = capsule_pointer(conn._o, b"virConnectPtr")
        info = _NodeInfo()
        if not ptr or lib.virNodeGetInfo(ptr, ctypes.byref(info)) < 0:
            return None
        return int(info.memory)
    except (OSError, AttributeError, TypeError, ValueError):
        return None


def node_memory_bytes(conn: libvirt.virConnect, info: list, stats: dict[str, int] | None) -> int:
    """The node's memory as libvirt reports it: `virsh nodememstats` total (virNodeGetMemoryStats; on Linux
    /proc/meminfo's MemTotal) where the driver keeps memory statistics, else `virsh nodeinfo`'s Memory size
    (virNodeGetInfo), to the KiB."""
    if stats and "total" in stats:
        return stats["total"]
    kib = _node_info_memory_kib(conn)
    # the exact figure must agree with the binding's rounded one (a guard against a mismatched library)
    if kib is not None and kib // 1024 == info[1]:
        return kib * 1024
    return info[1] * 1024 * 1024


def static_facts(conn: libvirt.virConnect) -> dict[str, Any]:
    """The figures of list-nodes that change with the host, not with its VMs (HostFacts without vm_counts):
    one getInfo, one memory call, the names and versions. hypervisor/host_cache.py keeps them per connection."""
    info = conn.getInfo()  # [arch, memory MiB, cpus, MHz, numa nodes, sockets, cores, threads]
    mem = memory_stats(conn)
    return {"hostname": conn.getHostname(),
            "hypervisor": f"{conn.getType()} {version_string(conn.getVersion())}",
            "libvirt_version": version_string(conn.getLibVersion()),
            "arch": info[0], "cpus": info[2], "memory_bytes": node_memory_bytes(conn, info, mem)}


def host_facts(conn: libvirt.virConnect) -> HostFacts:
    """The figures list-nodes shows, all read now: static_facts and one bulk domain stats call."""
    static = static_facts(conn)
    # One bulk stats call, counted with the state mapping list-vms uses (running = list-vms state=running).
    running, total = domain_state.counts(conn)
    return HostFacts(**static, vm_counts=VmCounts(running=running, total=total))


def _cpu(conn: libvirt.virConnect, caps, info) -> CpuFacts:
    cpu = caps.find("host/cpu")
    topo = cpu.find("topology") if cpu is not None else None
    features = [f.get("name") for f in cpu.findall("feature")] if cpu is not None else []
    # The host CPU's full feature list (the model's own features expanded), when the driver can say.
    if cpu is not None and cpu.find("model") is not None:
        try:
            expanded = conn.baselineCPU([etree.tostring(cpu, encoding="unicode")],
                                        libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
            exp = parse(expanded)
            features = sorted({f.get("name") for f in exp.findall("feature")
                               if f.get("policy") in (None, "require")} | set(features))
        except libvirt.libvirtError:
            pass
    return CpuFacts(
        arch=info[0],
        model=text(caps, "host/cpu/model"),
        vendor=text(caps, "host/cpu/vendor"),
        sockets=int(topo.get("sockets")) if topo is not None else info[5],
        dies=int(topo.get("dies", 1)) if topo is not None else None,
        cores=int(topo.get("cores")) if topo is not None else info[6],
        threads=int(topo.get("threads")) if topo is not None else info[7],
        count=info[2],
        mhz=info[3],
        flags=sorted(features),
    )


def _numa(conn: libvirt.virConnect, caps) -> list[NumaCell]:
    cells = caps.findall("host/topology/cells/cell")
    free: list[int] = []
    if cells:
        try:
            free = conn.getCellsFreeMemory(0, len(cells))
        except libvirt.libvirtError as exc:
            if not support.lacks("numa_free_memory", exc):
                raise
    out = []
    for i, cell in enumerate(cells):
        out.append(NumaCell(
            id=int(cell.get("id")),
            cpus=[int(c.get("id")) for c in cell.findall("cpus/cpu")],
            memory_bytes=size_bytes(cell.find("memory")),
            free_memory_bytes=free[i] if i < len(free) else None,
            distances={s.get("id"): int(s.get("value")) for s in cell.findall("distances/sibling")},
        ))
    return out


def _hugepages(conn: libvirt.virConnect, caps) -> list[Hugepages]:
    """Per page size above the base page: total pages (capabilities) and free pages (virNodeGetFreePages)."""
    cells = caps.findall("host/topology/cells/cell")
    totals: dict[int, int] = {}
    for cell in cells:
        for pages in cell.findall("pages"):
            size_kib = int(pages.get("size"))
            totals[size_kib] = totals.get(size_kib, 0) + int(pages.text or 0)
    sizes = sorted(int(p.get("size")) for p in caps.findall("host/cpu/pages"))
    huge = [s for s in sizes if s > min(sizes)] if sizes else []
    free: dict[int, int | None] = {s: None for s in huge}
    if huge and cells:
        try:
            per_cell = conn.getFreePages(huge, 0, len(cells))
            for s in huge:
                free[s] = sum(c.get(s, 0) for c in per_cell.values())
        except libvirt.libvirtError as exc:
            if not support.lacks("hugepages_free", exc):
                raise
    return [Hugepages(size_kib=s, total=totals.get(s), free=free[s]) for s in huge]


VIRT_FLAGS = ("vmx", "svm")  # Intel VT-x, AMD-V
_ON = ("require", "force", "optional")
_OFF = ("disable", "forbid")


def nested_from_domcaps(domcaps, expand_model: Callable[[str, str | None], set[str] | None]) -> bool | None:
    """Whether guests of this node can run hypervisors of their own with hardware virtualization.

    The rule (SPEC 2.1 "nested", from domain capabilities): the host-model CPU that libvirt offers to KVM
    guests (`<cpu><mode name='host-model'>` of the kvm domain capabilities) exposes vmx or svm. libvirt
    derives that CPU from what QEMU/KVM can give a guest, so it carries vmx/svm only when the kernel's KVM
    module has nesting enabled (kvm_intel/kvm_amd nested=1); the host CPU merely having vmx/svm (what the
    host capabilities say) is not enough. The features count as: those of the named model (expanded by
    `expand_model(model, vendor)`), plus features with a require/force policy, minus disable/forbid ones.
    None when it cannot be told (no host-model CPU, or its model cannot be expanded and names neither flag).
    """
    mode = domcaps.find("cpu/mode[@name='host-model']")
    if mode is None or mode.get("supported") != "yes":
        return None
    policy = {f.get("name"): f.get("policy") for f in mode.findall("feature")}
    if any(policy.get(f) in _ON for f in VIRT_FLAGS):
        return True
    model = text(mode, "model")
    model_features = expand_model(model, text(mode, "vendor")) if model else set()
    if model_features is None:
        return False if all(policy.get(f) in _OFF for f in VIRT_FLAGS) else None
    return any(f in model_features and policy.get(f) not in _OFF for f in VIRT_FLAGS)


def _model_features(conn: libvirt.virConnect, arch: str | None) -> Callable[[str, str | None], set[str] | None]:
    def expand(model: str, vendor: str | None) -> set[str] | None:
        cpu = etree.Element("cpu")
        if arch:
            etree.SubElement(cpu, "arch").text = arch
        etree.SubElement(cpu, "model").text = model
        if vendor:
            etree.SubElement(cpu, "vendor").text = vendor
        try:
            out = parse(conn.baselineCPU([etree.tostring(cpu, encoding="unicode")],
                                         libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES))
        except libvirt.libvirtError:
            return None
        return {f.get("name") for f in out.findall("feature") if f.get("policy") in (None, *_ON)}
    return expand


def _virtualization(conn: libvirt.virConnect, caps) -> Virtualization:
    arch = text(caps, "host/cpu/arch")
    kvm_domain = any(guest.find(f"arch[@name='{arch}']/domain[@type='kvm']") is not None
                     for guest in caps.findall("guest"))
    nested: bool | None = False  # no KVM domain type: guests get no hardware virtualization at all
    if kvm_domain:
        try:
            domcaps = parse(conn.getDomainCapabilities(None, arch, None, "kvm", 0))
            nested = nested_from_domcaps(domcaps, _model_features(conn, arch))
        except libvirt.libvirtError:
            nested = None
    iommu = caps.find("host/iommu")
    return Virtualization(
        kvm_available=kvm_domain,
        domain_types=sorted({d.get("type") for d in caps.findall("guest/arch/domain")}),
        nested=nested,
        iommu=(iommu.get("support") == "yes") if iommu is not None else None,
    )


def host_summary(conn: libvirt.virConnect) -> HostSummary:
    caps = parse(conn.getCapabilities())
    info = conn.getInfo()
    cpu = _cpu(conn, caps, info)
    mem = memory_stats(conn)
    total = node_memory_bytes(conn, info, mem)
    free_b = mem.get("free") if mem else None
    memory = MemoryFacts(
        total_bytes=total,
        free_bytes=free_b,
        buffers_bytes=mem.get("buffers") if mem else None,
        cached_bytes=mem.get("cached") if mem else None,
        used_bytes=(total - free_b - (mem.get("buffers") or 0) - (mem.get("cached") or 0))
        if mem and free_b is not None else None,
    )
    return HostSummary(
        cpu=cpu,
        memory=memory,
        numa=_numa(conn, caps),
        hugepages=_hugepages(conn, caps),
        virtualization=_virtualization(conn, caps),
    )


def domain_state_name(state: int) -> str:
    return domain_state.state_name(state)


def node_vms(conn: libvirt.virConnect) -> list[NodeVm]:
    """Every domain with state, vCPUs and memory: the rows of list-vms (the same figures, the same state
    mapping), so describe-node-vms and list-vms cannot disagree."""
    return [NodeVm(name=r["name"], uuid=r["uuid"], state=r["state"], state_reason=r["state_reason"],
                   vcpus=r["vcpus"], max_vcpus=r["max_vcpus"], memory_mib=r["memory_mib"],
                   max_memory_mib=r["max_memory_mib"], persistent=bool(r["persistent"]),
                   problems=r["problems"])
            for r in domain_describe.summaries(conn, "")]


# -- jvp check ---------------------------------------------------------------------------------------
def probe_libvirt(uri: str) -> dict[str, Any]:
    """For `jvp check` (a one-shot connection of its own): does `uri` answer, with which libvirt version,
    and does it offer the kvm domain type. {"error", "version", "kvm_error"}: errors are libvirt's text."""
    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        return {"error": exc.get_error_message(), "version": None, "kvm_error": None}
    try:
        v = conn.getLibVersion()
        out: dict[str, Any] = {"error": None, "version": f"{v // 1000000}.{v // 1000 % 1000}", "kvm_error": None}
        try:
            conn.getDomainCapabilities(None, None, None, "kvm")
        except libvirt.libvirtError as exc:
            out["kvm_error"] = exc.get_error_message()
        return out
    finally:
        conn.close()
