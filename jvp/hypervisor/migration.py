"""Moving a domain between two nodes through libvirt (migrate-vm): the guest facts the preflight compares,
what a target offers (host UUID, machine types, CPU comparison, free memory), and the migration itself.

The migration is driven by JVP's own connections to both daemons (virDomainMigrate3 with the destination
connection, not peer-to-peer): neither daemon needs to reach the other's libvirtd, only QEMU's migration
(and NBD) port on the target, at `options.uri` (tcp://<target host>) or, without one, at the address the
target's libvirt names (qemu.conf migration_host, else its hostname).

While libvirt moves the guest (its call blocks), this module polls the job's figures
(virDomainGetJobStats) every POLL_S and hands them to `watch`; when `watch` answers True the job is aborted
(virDomainAbortJob) and the guest keeps running on the source.
"""
from __future__ import annotations

import threading
from typing import Callable

import libvirt

from jvp.domain.migration import JobFigures, MigrationGuest, MigrationOptions
from jvp.hypervisor import domain, support
from jvp.hypervisor.xml import parse, to_string
from jvp.hypervisor.xml.domain import Domain

POLL_S = 0.5
Watch = Callable[[JobFigures], bool]


class MigrationAborted(Exception):
    """The job was aborted on request (watch answered True); the guest is still on the source."""


class MigrationError(Exception):
    """libvirt or QEMU failed the move; `libvirt_error` is libvirt's message."""

    def __init__(self, message: str, libvirt_error: str | None = None) -> None:
        super().__init__(message)
        self.libvirt_error = libvirt_error


def host_uuid(conn: libvirt.virConnect) -> str | None:
    return parse(conn.getCapabilities()).findtext("host/uuid")


def guest(conn: libvirt.virConnect, name: str) -> MigrationGuest:
    dom = domain.lookup(conn, name)
    root = parse(dom.XMLDesc(0))
    d = Domain(root)
    cpu = root.find("cpu")
    cpu_xml = None
    if cpu is not None and (cpu.find("model") is not None or cpu.get("mode") in ("host-model", "custom")):
        cpu_xml = to_string(cpu)
    max_kib = dom.maxMemory()
    return MigrationGuest(domain_type=d.type or "qemu", arch=d.os.arch or "x86_64", machine=d.os.machine,
                          cpu_xml=cpu_xml, cpu_mode=cpu.get("mode") if cpu is not None else None,
                          memory_mib=int(max_kib) // 1024)


def machines(conn: libvirt.virConnect, arch: str, domain_type: str) -> set[str] | None:
    """Machine types (and their canonical names) the node offers hvm guests of arch under domain_type; None
    when it does not offer that domain type for the arch at all. As host_caps.guest_types: when no guest of the
    arch is described, any hvm guest's (libvirt's test driver describes an i686 host running x86_64 guests)."""
    caps = parse(conn.getCapabilities())
    hvm = [a for g in caps.findall("guest") if (g.findtext("os_type") or "").strip() == "hvm"
           for a in g.findall("arch")]
    arches = [a for a in hvm if a.get("name") == arch] or hvm
    found: set[str] | None = None
    for a in arches:
        types = {dt.get("type"): dt for dt in a.findall("domain")}
        if domain_type not in types:
            continue
        found = found or set()
        for m in [*a.findall("machine"), *types[domain_type].findall("machine")]:
            if m.text:
                found.add(m.text.strip())
            if m.get("canonical"):
                found.add(m.get("canonical"))
    return found


def compare_cpu(conn: libvirt.virConnect, g: MigrationGuest) -> str | None:
    """'identical', 'superset' or 'incompatible' (the target's hypervisor against the guest's CPU); None
    when the driver cannot compare (support table: cpu_compare)."""
    if g.cpu_xml is None:
        return "identical"
    try:
        r = conn.compareHypervisorCPU(None, g.arch, g.machine, g.domain_type, g.cpu_xml, 0)
    except libvirt.libvirtError as exc:
        if support.lacks("cpu_compare", exc):
            return None
        raise
    return {libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical", libvirt.VIR_CPU_COMPARE_SUPERSET: "superset",
            libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: "incompatible"}.get(r)


def free_memory_mib(conn: libvirt.virConnect) -> int | None:
    """Free memory of the node (virNodeGetMemoryStats' free, KiB); None when the driver does not say."""
    try:
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    except libvirt.libvirtError as exc:
        if support.lacks("node_memory_stats", exc):
            return None
        raise
    return int(stats["free"]) // 1024 if "free" in stats else None


def _figures(stats: dict) -> JobFigures:
    def n(key: str) -> int:
        return int(stats.get(key) or 0)
    return JobFigures(data_total=n("data_total"), data_processed=n("data_processed"),
                      data_remaining=n("data_remaining"), memory_total=n("memory_total"),
                      memory_processed=n("memory_processed"), disk_total=n("disk_total"),
                      disk_processed=n("disk_processed"), elapsed_ms=n("time_elapsed"),
                      downtime_ms=stats.get("downtime"), iteration=n("memory_iteration"),
                      active=stats.get("type") not in (None, libvirt.VIR_DOMAIN_JOB_NONE))


def job_figures(dom: libvirt.virDomain, completed: bool = False) -> JobFigures | None:
    try:
        stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED if completed else 0)
    except libvirt.libvirtError as exc:
        if support.lacks("job_stats", exc) or exc.get_error_code() in (libvirt.VIR_ERR_OPERATION_INVALID,
                                                                       libvirt.VIR_ERR_NO_DOMAIN):
            return None
        raise
    return _figures(stats)


def flags_and_params(o: MigrationOptions) -> tuple[int, dict]:
    flags = libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    params: dict = {}
    if o.offline:
        return flags | libvirt.VIR_MIGRATE_OFFLINE, params
    if o.live:
        flags |= libvirt.VIR_MIGRATE_LIVE
    if o.copy_disks:
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(o.copy_disks)
    if o.unsafe:
        flags |= libvirt.VIR_MIGRATE_UNSAFE
    if o.auto_converge:
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if o.post_copy:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    if o.uri:
        params[libvirt.VIR_MIGRATE_PARAM_URI] = o.uri
    if o.bandwidth_mib_s:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(o.bandwidth_mib_s)
    return flags, params


def migrate(sconn: libvirt.virConnect, dconn: libvirt.virConnect, name: str, o: MigrationOptions,
            watch: Watch) -> JobFigures | None:
    """Move the domain; the completed job's figures (None when the driver keeps none). Raises
    MigrationAborted when watch asked for it, MigrationError when libvirt failed the move."""
    dom = domain.lookup(sconn, name)
    flags, params = flags_and_params(o)
    downtime_set = o.max_downtime_ms is None or o.offline
    if not downtime_set:
        try:
            dom.migrateSetMaxDowntime(int(o.max_downtime_ms), 0)
            downtime_set = True
        except libvirt.libvirtError as exc:
            if not support.lacks("migration_downtime", exc) and \
                    exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["dom"] = dom.migrate3(dconn, params, flags)
        except libvirt.libvirtError as exc:
            outcome["error"] = exc
    worker = threading.Thread(target=run, name=f"migrate-{name}", daemon=True)
    worker.start()
    aborted = post_copy_started = False
    while worker.is_alive():
        worker.join(POLL_S)
        if not worker.is_alive() or o.offline:
            continue
        figures = job_figures(dom)
        if figures is None or not figures.active:
            continue
        if not downtime_set:
            try:
                dom.migrateSetMaxDowntime(int(o.max_downtime_ms), 0)
                downtime_set = True
            except libvirt.libvirtError:
                pass
        if o.post_copy and not post_copy_started and figures.iteration >= 2:
            try:
                dom.migrateStartPostCopy(0)
                post_copy_started = True
            except libvirt.libvirtError:
                pass
        if not aborted and watch(figures):
            try:
                dom.abortJob()
                aborted = True
            except libvirt.libvirtError:
                pass  # the job ended meanwhile: its outcome decides
    if "error" in outcome:
        exc = outcome["error"]
        if aborted:
            raise MigrationAborted(str(exc))
        raise MigrationError(exc.get_error_message() or str(exc), exc.get_error_message())
    moved = outcome.get("dom")
    if moved is None:
        return None
    try:
        dmoved = dconn.lookupByName(name)
    except libvirt.libvirtError:
        return None
    return job_figures(dmoved, completed=True)


def domain_exists(conn: libvirt.virConnect, name: str, uuid: str | None) -> bool:
    if domain.exists(conn, name):
        return True
    if uuid:
        try:
            conn.lookupByUUIDString(uuid)
            return True
        except libvirt.libvirtError:
            return False
    return False
