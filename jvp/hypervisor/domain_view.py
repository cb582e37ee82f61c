"""Read a domain document into the VM view of describe-vm (SPEC 2.7); the list-vms row it starts from
(static_facts, network_problems, summary) is domain_summary.py's.

Pure functions of the XML (plus what the caller looked up: state, volumes, IPs), so they are unit-tested
without libvirt.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, TypeVar

from lxml import etree

from jvp.domain.base import Problem
from jvp.domain.vm import CloudInitView, ConsoleView, DiskView, GraphicsView, NicView, VmFacts, VmView
from jvp.domain.volume import disk_format
from jvp.hypervisor import firmware_xml
from jvp.hypervisor.domain_summary import network_problems, static_facts, summary
from jvp.hypervisor.domain_windows import os_profile
from jvp.hypervisor.domain_xml import read_facts
from jvp.hypervisor.xml.base import XmlNode
from jvp.hypervisor.xml.domain import Disk, Domain

V = TypeVar("V")


def firmware(root: etree._Element) -> str:
    os_ = Domain(root).os
    if not os_.exists():
        return "bios"
    if os_.firmware == "efi" or os_.nvram.exists():
        return "uefi"
    return "uefi" if os_.loader_type == "pflash" else "bios"


def nvram_path(root: etree._Element) -> str | None:
    os_ = Domain(root).os
    if not os_.nvram.exists():
        return None
    return (os_.nvram_file or "").strip() or os_.nvram_template


def system_disk_target(root: etree._Element, facts: VmFacts | None = None) -> str | None:
    """The system disk: what JVP recorded, else the first disk with boot order 1, else the first disk.
    `facts`: read_facts(root) when the caller has read them already."""
    facts = read_facts(root) if facts is None else facts
    if facts.system_disk:
        return facts.system_disk
    disks = [d for d in Domain(root).disks if d.device == "disk"]
    booted = [d for d in disks if d.boot_order == 1]
    first = (booted or disks or [None])[0]
    return first.target if first is not None else None


_SHARED: dict[tuple[type, type], tuple[str, ...]] = {}


def _view(cls: type[V], node: XmlNode, **computed: Any) -> V:
    """A view dataclass from a mapping object: each view field the mapping has under the same name is copied
    (a field added to both is shown without touching this module); the others are computed by the caller."""
    shared = _SHARED.get((cls, type(node)))
    if shared is None:  # the field names view and mapping share, found once per pair of classes
        shared = _SHARED[(cls, type(node))] = tuple(f.name for f in dataclasses.fields(cls)
                                                    if hasattr(type(node), f.name))
    return cls(**{n: getattr(node, n) for n in shared if n not in computed}, **computed)


def disk_key(d: Disk) -> str | tuple[str, str] | None:
    """What locates the image behind a disk: (pool, volume) for a `type='volume'` disk, else its local path
    (file, block device, directory) or a network disk's name (an rbd pool's volumes are found by it)."""
    src = d.source
    if not src.exists():
        return None
    if src.pool and src.volume:
        return (src.pool, src.volume)
    return src.file or src.dev or src.dir or src.name


def network_source(d: Disk) -> str | None:
    """`protocol://host:port/name` of a network disk (what it reads instead of a path)."""
    src = d.source
    if not src.exists() or not src.protocol:
        return None
    host = (src.host_name or "") + (f":{src.host_port}" if src.host_port else "")
    return f"{src.protocol}://{host}/{(src.name or '').lstrip('/')}"


def disk_views(root: etree._Element, volumes: dict[Any, dict[str, Any]],
               facts: VmFacts | None = None) -> list[DiskView]:
    """`volumes` maps a disk_key to {pool, volume, path, format, capacity_bytes} as the caller could look it
    up (empty when no pool holds the image). A disk's path is a file on the node: a volume-type disk's is its
    volume's, resolved through the pool; a network disk has none (its `source` says what it reads)."""
    system = system_disk_target(root, facts)
    out = []
    for d in Domain(root).disks:
        key = disk_key(d)
        vol = volumes.get(key, {}) if key else {}
        src = d.source
        if isinstance(key, tuple):
            path, pool, volume = vol.get("path"), key[0], key[1]
        else:
            path = None if network_source(d) else key
            pool, volume = vol.get("pool"), vol.get("volume")
        out.append(_view(DiskView, d, pool=pool, volume=volume, path=path,
                         format=disk_format(d.format, vol.get("format")),
                         capacity_bytes=vol.get("capacity_bytes"), type=d.type or ("file" if src.file else None),
                         source=network_source(d),
                         backing=d.backing.file if d.backing.exists() else vol.get("backing"),
                         system=d.target is not None and d.target == system))
    return out


def nic_views(root: etree._Element, ips: dict[str, list[str]]) -> list[NicView]:
    out = []
    for n in Domain(root).interfaces:
        kind, mac = n.type, n.mac or ""
        out.append(_view(
            NicView, n, mac=mac,
            network=n.source_network if kind == "network" else None,
            # a running VM's network NIC also names the network's bridge
            bridge=n.source_bridge if kind in ("bridge", "network") else None,
            device=n.source_dev if kind == "direct" else None,
            ips=ips.get(mac, [])))
    return out


def graphics_views(root: etree._Element) -> list[GraphicsView]:
    return [GraphicsView(type=g.type, listen=g.listen_address or g.listen,
                         port=g.port if g.port is not None and g.port > 0 else None, autoport=g.autoport is True)
            for g in Domain(root).graphics]


def console_view(root: etree._Element) -> ConsoleView | None:
    con = next(iter(Domain(root).consoles), None)
    return ConsoleView(type=con.type, target=con.target_type) if con is not None else None


def macs(root: etree._Element) -> list[str]:
    return [n.mac for n in Domain(root).interfaces if n.mac]


def networks_of(root: etree._Element) -> set[str]:
    return {n.source_network for n in Domain(root).interfaces if n.type == "network" and n.source_network}


@dataclasses.dataclass(frozen=True)
class Lookups:
    """What describe-vm asks libvirt about, as the live XML says it: each disk's (disk_key, target, device),
    the networks of the `type='network'` NICs, and the guest agent channel (agent_connected: None when the
    channel says nothing; has_agent_channel); `uuid`: the domain's, as its <uuid> says (None without one)."""
    uuid: str | None
    disks: tuple[tuple[Any, str | None, str | None], ...]
    nic_networks: tuple[str | None, ...]
    agent_connected: bool | None
    has_agent_channel: bool


def lookups(root: etree._Element, agent_connected: bool | None, has_agent_channel: bool) -> Lookups:
    """`agent_connected` / `has_agent_channel`: domain.agent_connected(root) / has_agent_channel(root)."""
    dom = Domain(root)
    return Lookups(uuid=dom.uuid, disks=tuple((disk_key(d), d.target, d.device) for d in dom.disks),
                   nic_networks=tuple(n.source_network for n in dom.interfaces if n.type == "network"),
                   agent_connected=agent_connected, has_agent_channel=has_agent_channel)


@dataclasses.dataclass(frozen=True)
class XmlPart:
    """Everything describe-vm's view takes from the domain's XML (a pure function of the document, so it
    is kept as long as the document is the same: hypervisor/domain_describe.py's describe cache). The live parts
    (state, figures, volumes, IPs, the agent's answer, uptime) are added per request by from_part; every
    mutable value is copied there, so no answer shares a list or dict with the cache."""
    facts: VmFacts
    static: dict[str, Any]
    domain_type: str | None
    os_profile: str | None
    cpu_mode: str | None
    firmware: str
    secure_boot: bool | None
    tpm: bool
    started_at: str | None
    # per disk: (disk_key, the DiskView fields the mapping gives, its driver format, its <backing> file
    # (None: no backing element), type, network source, system)
    disks: tuple[tuple[Any, dict[str, Any], str | None, str | None, bool, str | None, str | None, bool], ...]
    # per NIC: (the NicView fields the mapping gives, mac, network, bridge, device)
    nics: tuple[tuple[dict[str, Any], str, str | None, str | None, str | None], ...]
    graphics: tuple[dict[str, Any], ...]
    console: dict[str, Any] | None
    cloud_init: dict[str, Any] | None


_DISK_COMPUTED = frozenset({"pool", "volume", "path", "format", "capacity_bytes", "type", "source", "backing",
                            "system"})
_NIC_COMPUTED = frozenset({"mac", "network", "bridge", "device", "ips"})


def _shared(cls: type, node: XmlNode, computed: frozenset[str]) -> dict[str, Any]:
    """The fields of view `cls` the mapping object has under the same name, except the computed ones."""
    shared = _SHARED.get((cls, type(node)))
    if shared is None:
        shared = _SHARED[(cls, type(node))] = tuple(f.name for f in dataclasses.fields(cls)
                                                    if hasattr(type(node), f.name))
    return {n: getattr(node, n) for n in shared if n not in computed}


def xml_part(root: etree._Element) -> XmlPart:
    dom = Domain(root)
    facts = read_facts(root)
    system = system_disk_target(root, facts)
    disks = []
    for d in dom.disks:
        src = d.source
        disks.append((disk_key(d), _shared(DiskView, d, _DISK_COMPUTED), d.format,
                      d.backing.file if d.backing.exists() else None, d.backing.exists(),
                      d.type or ("file" if src.file else None), network_source(d),
                      d.target is not None and d.target == system))
    nics = []
    for n in dom.interfaces:
        kind = n.type
        nics.append((_shared(NicView, n, _NIC_COMPUTED), n.mac or "",
                     n.source_network if kind == "network" else None,
                     # a running VM's network NIC also names the network's bridge
                     n.source_bridge if kind in ("bridge", "network") else None,
                     n.source_dev if kind == "direct" else None))
    con = next(iter(dom.consoles), None)
    fw = firmware(root)
    return XmlPart(
        facts=facts, static=static_facts(root), domain_type=dom.type, os_profile=os_profile(dom),
        cpu_mode=(dom.cpu.mode or "custom") if dom.cpu.exists() else None, firmware=fw,
        secure_boot=firmware_xml.secure_boot(root, fw), tpm=firmware_xml.tpm(root),
        started_at=dom.started_at, disks=tuple(disks), nics=tuple(nics),
        graphics=tuple(dataclasses.asdict(g) for g in graphics_views(root)),
        console=dict(type=con.type, target=con.target_type) if con is not None else None,
        cloud_init=(dict(instance_id=facts.instance_id, seed_pool=facts.seed_pool, seed_volume=facts.seed_volume)
                    if facts.instance_id else None))


def describe(root: etree._Element, *, node: str, state: str, persistent: bool, autostart: bool | None,
             volumes: dict[str, dict[str, Any]], ips: dict[str, list[str]], agent: bool | None,
             now: dt.datetime | None = None, state_reason: str | None = None,
             stats: dict[str, Any] | None = None, problems: list[dict[str, str]] | None = None,
             networks: set[str] | None = None) -> VmView:
    """`networks`: the node's network names, when the caller read them (a NIC on another is a problem)."""
    return from_part(xml_part(root), node=node, state=state, persistent=persistent, autostart=autostart,
                     volumes=volumes, ips=ips, agent=agent, now=now, state_reason=state_reason, stats=stats,
                     problems=problems, networks=networks)


def from_part(part: XmlPart, *, node: str, state: str, persistent: bool, autostart: bool | None,
              volumes: dict[Any, dict[str, Any]], ips: dict[str, list[str]], agent: bool | None,
              now: dt.datetime | None = None, state_reason: str | None = None,
              stats: dict[str, Any] | None = None, problems: list[dict[str, str]] | None = None,
              networks: set[str] | None = None) -> VmView:
    """describe()'s view from the XML part and what the caller read live."""
    static, facts = part.static, part.facts
    problems = [*(problems or []), *(network_problems(static, networks) if networks is not None else [])]
    row = summary(static, node=node, state=state, ips=ips, stats=stats, state_reason=state_reason,
                  problems=problems)
    row["problems"] = [Problem(**p) for p in row["problems"]]
    row["labels"] = dict(row["labels"])
    started = part.started_at if state in ("running", "paused") else None
    uptime = None
    if started:
        now = now or dt.datetime.now(dt.timezone.utc)
        try:
            uptime = max(0, int((now - dt.datetime.fromisoformat(started.replace("Z", "+00:00")))
                                .total_seconds()))
        except ValueError:
            uptime = None
    row.update(persistent=persistent)
    disks = []
    for key, shared, fmt, backing, has_backing, kind, source, system in part.disks:
        vol = volumes.get(key, {}) if key else {}
        if isinstance(key, tuple):
            path, pool, volume = vol.get("path"), key[0], key[1]
        else:
            path = None if source else key
            pool, volume = vol.get("pool"), vol.get("volume")
        disks.append(DiskView(**shared, pool=pool, volume=volume, path=path, format=disk_format(fmt, vol.get("format")),
                              capacity_bytes=vol.get("capacity_bytes"), type=kind, source=source,
                              backing=backing if has_backing else vol.get("backing"), system=system))
    return VmView(
        **row,
        autostart=autostart,
        domain_type=part.domain_type,
        cpu_mode=part.cpu_mode,
        os_profile=part.os_profile,
        firmware=part.firmware,
        secure_boot=part.secure_boot,
        tpm=part.tpm,
        created_by=facts.created_by,
        keypairs=list(facts.keypairs),
        started_at=started,
        uptime=uptime,
        disks=disks,
        nics=[NicView(**shared, mac=mac, network=network, bridge=bridge, device=device, ips=ips.get(mac, []))
              for shared, mac, network, bridge, device in part.nics],
        graphics=[GraphicsView(**g) for g in part.graphics],
        console=ConsoleView(**part.console) if part.console is not None else None,
        cloud_init=CloudInitView(**part.cloud_init) if part.cloud_init is not None else None,
        guest_agent=agent,
    )
