"""Moving a VM to another node (SPEC 2.7 migrate-vm, check-migrate-vm): the request's options, the guest
facts the preflight compares with the target, the job figures a running migration reports, and the plan
the preflight answers (its checks and what happens to each disk)."""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import fields

from jvp.domain.base import ResponseSchema, answer_schema, shown

COPY_STORAGE = ("auto", "none", "all")
# what happens to a disk: `shared` (the target sees the same file), `copy` (copied by the live migration's
# block job), `transfer` (copied through libvirt streams before the move: read-only media, and every disk of
# an offline move), `none` (an empty cdrom drive, a network disk)
DISK_ACTIONS = ("shared", "copy", "transfer", "none")


@dataclass(frozen=True)
class MigrationGuest:
    """What the preflight compares with the target (jvp/hypervisor/migration.guest)."""
    domain_type: str
    arch: str
    machine: str | None
    cpu_xml: str | None          # the guest's <cpu> as libvirt runs it (null: the hypervisor's default CPU)
    cpu_mode: str | None
    memory_mib: int


@dataclass(frozen=True)
class MigrationOptions:
    """How libvirt moves the guest (built by the service from the request and the plan)."""
    live: bool
    offline: bool
    uri: str | None              # QEMU's migration URI (tcp://<target host>); null: libvirt's default
    copy_disks: tuple[str, ...] = ()   # targets copied by the block job (NON_SHARED_INC + migrate_disks)
    unsafe: bool = False         # the disks left in place are on storage JVP found shared (see README)
    bandwidth_mib_s: int | None = None
    max_downtime_ms: int | None = None
    auto_converge: bool = False
    post_copy: bool = False


@dataclass(frozen=True)
class JobFigures:
    """A migration job's figures (virDomainGetJobStats), bytes and milliseconds."""
    data_total: int = 0
    data_processed: int = 0
    data_remaining: int = 0
    memory_total: int = 0
    memory_processed: int = 0
    disk_total: int = 0
    disk_processed: int = 0
    elapsed_ms: int = 0
    downtime_ms: int | None = None
    iteration: int = 0
    active: bool = True


@dataclass
class MigrationCheck:
    check: str = shown(doc="target, same_host, state, name, machine, cpu, memory, network, storage")
    ok: bool
    message: str
    code: str | None = shown(None, doc="the error code migrate-vm answers when this check fails")


@dataclass
class BackingMove:
    path: str
    pool: str | None
    volume: str | None
    action: str = shown(doc="present (the target has the file), shared, transfer (copied before the move)")


@dataclass
class DiskMove:
    target: str
    device: str
    path: str | None
    pool: str | None
    volume: str | None
    format: str | None
    capacity_bytes: int | None
    readonly: bool
    action: str = shown(doc="shared | copy (live block copy) | transfer (libvirt streams) | none")
    backing: BackingMove | None = None


@dataclass
class MigrationPlan:
    vm: str
    node: str
    target_node: str
    mode: str = shown(doc="live (a running or paused VM) or offline (a stopped VM)")
    ok: bool
    checks: list[MigrationCheck] = field(default_factory=list)
    disks: list[DiskMove] = field(default_factory=list)
    memory_mib: int | None = None
    target_uri: str | None = shown(None, doc="QEMU's migration URI; null: the target's own address "
                                             "(libvirt's migration_host or its hostname)")


MigrationCheckSchema = answer_schema(MigrationCheck, "MigrationCheckSchema")
BackingMoveSchema = answer_schema(BackingMove, "BackingMoveSchema")
DiskMoveSchema = answer_schema(DiskMove, "DiskMoveSchema")
MigrationPlanSchema = answer_schema(MigrationPlan, "MigrationPlanSchema")


class MigrationPlanResponse(ResponseSchema):
    plan = fields.Nested(MigrationPlanSchema, required=True)
