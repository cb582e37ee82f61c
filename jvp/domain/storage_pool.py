"""Storage pools (SPEC 2.2): the storage rules every layer shares, and the pool response schemas.

Internal storage: JVP keeps its own files inside libvirt's view so that remote nodes work alike. Template
images live in a JVP-managed `dir` pool named `<pool>_templates_`; JVP's other files in a pool (cloud-init
media, probes) carry the `.jvp-` name prefix, which no API name can start with. Both are hidden from
list-storage-pools / list-volumes unless `include_internal` is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import fields

from jvp.domain.base import PROBLEMS_DOC, Problem, ResponseSchema, answer_schema, envelopes, shown

POOL_TYPES = ("dir", "fs", "netfs", "logical", "disk", "iscsi", "rbd")
FILE_POOL_TYPES = ("dir", "fs", "netfs")       # volumes are files in a directory: qcow2 or raw
VOLUME_FORMATS = ("qcow2", "raw")
POOL_STATES = ("inactive", "building", "running", "degraded", "inaccessible")
TEMPLATE_POOL_SUFFIX = "_templates_"
TEMPLATE_DIR = "_templates_"                     # `<pool path>/_templates_`: libvirt lists it as a dir volume
INTERNAL_VOLUME_PREFIX = ".jvp-"
GIB = 1024 ** 3
MAX_SIZE_GIB = 65536                             # 64 TiB: the bound on any size a request may ask for


# libvirt's sizes are unsigned 64-bit: a backend that subtracts a larger figure from a smaller one (a pool
# whose allocation exceeds its capacity) hands out the wrapped difference, e.g. 18446743668962705408 bytes
# available. No storage holds 8 EiB: a figure at or above 2**63 is such a wrap, unknown rather than shown.
WRAPPED_FROM = 2 ** 63


def checked_figures(what: str, **figures: int | None) -> tuple[dict[str, int | None], list[Problem]]:
    """libvirt's byte figures of one object, each kept as reported unless it is a wrapped negative (then
    None, with a `FigureUnknown` problem saying which and what libvirt reported). `what` names the object
    in the message ("storage pool 'data'")."""
    out: dict[str, int | None] = {}
    problems = []
    for name, value in figures.items():
        if value is not None and (value < 0 or value >= WRAPPED_FROM):
            problems.append(Problem(code="FigureUnknown", message=(
                f"{what}: libvirt reported {name} = {value}, a wrapped negative number (the backend's figures "
                "disagree, e.g. an allocation above the capacity); shown as unknown")))
            value = None
        out[name] = value
    cap, alloc = out.get("capacity_bytes"), out.get("allocation_bytes")
    if "available_bytes" in figures and cap is not None and alloc is not None and alloc > cap:  # a pool
        problems.append(Problem(code="FiguresInconsistent", message=(
            f"{what}: libvirt reports an allocation of {alloc} bytes above the capacity of {cap} bytes; both "
            "are shown as reported, the free space is unknown")))
        out["available_bytes"] = None
    return out, problems


def is_internal_pool(name: str) -> bool:
    return name.endswith(TEMPLATE_POOL_SUFFIX)


def is_internal_volume(pool: str, name: str) -> bool:
    return is_internal_pool(pool) or name.startswith(INTERNAL_VOLUME_PREFIX) or name == TEMPLATE_DIR


# -- specs (validated by jvp/service/storage/rules.py, built into XML by jvp/hypervisor/storage_xml.py) -----
@dataclass(frozen=True)
class PoolHostSpec:
    name: str
    port: int | None = None


@dataclass(frozen=True)
class PoolAuthSpec:
    type: str                                  # chap (iscsi) | ceph (rbd)
    username: str
    secret_uuid: str | None = None             # exactly one of the two names the libvirt secret
    secret_usage: str | None = None


@dataclass(frozen=True)
class PoolSourceSpec:
    """The source fields a pool type takes (rules.SOURCE_FIELDS), normalized."""
    host: str | None = None
    port: int | None = None
    hosts: tuple[PoolHostSpec, ...] = ()
    dir: str | None = None
    device: str | None = None
    devices: tuple[str, ...] = ()
    name: str | None = None
    format: str | None = None
    iqn: str | None = None
    initiator_iqn: str | None = None
    auth: PoolAuthSpec | None = None


@dataclass(frozen=True)
class PoolSpec:
    """A validated pool definition: what create-storage-pool defines, builds (when `build`) and starts."""
    name: str
    type: str
    path: str | None
    source: PoolSourceSpec
    build: bool


# -- views (built by jvp/hypervisor/storage_pool.py from the pool mapping, dumped by StoragePoolSchema) ----
@dataclass(frozen=True)
class PoolSourceView:
    """A pool's <source> as JVP names its fields (each type fills the ones it uses)."""
    host: str | None = None                    # the first host's name
    hosts: list[str] = shown(factory=list, required=False)   # `name[:port]` of every host
    port: int | None = None
    dir: str | None = None
    device: str | None = None                  # the first device
    devices: list[str] = shown(factory=list, required=False)
    name: str | None = None
    format: str | None = None
    iqn: str | None = None
    initiator_iqn: str | None = None
    auth: dict[str, Any] | None = None         # {type, username, secret_uuid, secret_usage}: free-form for the API


@dataclass(frozen=True, kw_only=True)
class PoolView:
    """One pool as the storage pool actions answer it (SPEC 2.2). Sizes and the volume count of an inactive
    pool are unknown: None, not stale. `node` is set by the service (the hypervisor layer does not know it)."""
    name: str
    node: str | None = shown(None, required=True, nullable=False)
    uuid: str
    type: str
    state: str = shown(doc="|".join(POOL_STATES))
    active: bool
    autostart: bool
    persistent: bool
    capacity_bytes: int | None = None
    allocation_bytes: int | None = None
    available_bytes: int | None = None
    path: str | None
    volume_count: int | None = shown(None, doc="null while the pool is inactive")
    source: PoolSourceView | None = None
    problems: list[Problem] = shown(factory=list, doc=PROBLEMS_DOC)

    @property
    def internal(self) -> bool:
        """A JVP-managed pool (templates)."""
        return is_internal_pool(self.name)


PoolSourceSchema = answer_schema(PoolSourceView, "PoolSourceSchema")
StoragePoolSchema = answer_schema(PoolView, "StoragePoolSchema", internal=fields.Boolean(required=True, metadata={
    "description": "a JVP-managed pool (templates)"}))


StoragePoolResponse, StoragePoolListResponse = envelopes(StoragePoolSchema, "pool", "pools", errors=True)


class StoragePoolDeleteResponse(ResponseSchema):
    ok = fields.Boolean(required=True)
    deleted_volumes = fields.List(fields.String(), required=True)
    directory_removed = fields.Boolean(allow_none=True, metadata={
        "description": "dir pools: whether the (then empty) directory was removed; null for other types"})
