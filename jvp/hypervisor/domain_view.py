"""Read a domain document into the VM view of describe-vm / list-vms (SPEC 2.7).

Pure functions of the XML (plus what the caller looked up: state, volumes, IPs), so they are unit-tested
without libvirt.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree

from jvp.hypervisor import domain_edit as edit
from jvp.hypervisor.domain_xml import read_facts, started_at_of
from jvp.hypervisor.xml import size_bytes


def firmware(root: etree._Element) -> str:
    os_ = root.find("os")
    if os_ is None:
        return "bios"
    if os_.get("firmware") == "efi" or os_.find("nvram") is not None:
        return "uefi"
    loader = os_.find("loader")
    return "uefi" if loader is not None and loader.get("type") == "pflash" else "bios"


def nvram_path(root: etree._Element) -> str | None:
    el = root.find("os/nvram")
    return (el.text or "").strip() or el.get("template") if el is not None else None


def system_disk_target(root: etree._Element) -> str | None:
    """The system disk: what JVP recorded, else the first disk with boot order 1, else the first disk."""
    facts = read_facts(root)
    if facts.system_disk:
        return facts.system_disk
    disks = [d for d in edit.disks(root) if d.get("device", "disk") == "disk"]
    booted = [d for d in disks if d.find("boot") is not None and d.find("boot").get("order") == "1"]
    first = (booted or disks or [None])[0]
    return first.find("target").get("dev") if first is not None and first.find("target") is not None else None


def disk_views(root: etree._Element, volumes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """`volumes` maps a path to {pool, volume, capacity_bytes} as the caller could look it up."""
    system = system_disk_target(root)
    out = []
    for d in edit.disks(root):
        target = d.find("target")
        path = edit.disk_path(d)
        vol = volumes.get(path or "", {})
        backing = d.find("backingStore/source")
        out.append({
            "target": target.get("dev") if target is not None else None,
            "device": d.get("device", "disk"),
            "bus": target.get("bus") if target is not None else None,
            "path": path,
            "format": d.find("driver").get("type") if d.find("driver") is not None else None,
            "pool": vol.get("pool"),
            "volume": vol.get("volume"),
            "capacity_bytes": vol.get("capacity_bytes"),
            "readonly": d.find("readonly") is not None,
            "backing": backing.get("file") if backing is not None else vol.get("backing"),
            "system": target is not None and target.get("dev") == system,
        })
    return out


def nic_views(root: etree._Element, ips: dict[str, list[str]]) -> list[dict[str, Any]]:
    out = []
    for n in edit.nics(root):
        src = n.find("source")
        src = src if src is not None else etree.Element("source")
        kind = n.get("type")
        mac = edit.nic_mac(n) or ""
        model = n.find("model")
        out.append({
            "mac": mac,
            "type": kind,
            "network": src.get("network") if kind == "network" else None,
            # a running VM's network NIC also names the network's bridge
            "bridge": src.get("bridge") if kind in ("bridge", "network") else None,
            "device": src.get("dev") if kind == "direct" else None,
            "model": model.get("type") if model is not None else None,
            "ips": ips.get(mac, []),
        })
    return out


def graphics_views(root: etree._Element) -> list[dict[str, Any]]:
    out = []
    for g in root.findall("devices/graphics"):
        port = g.get("port")
        listen = g.find("listen")
        out.append({"type": g.get("type"),
                    "listen": (listen.get("address") if listen is not None else None) or g.get("listen"),
                    "port": int(port) if port and port.lstrip("-").isdigit() and int(port) > 0 else None,
                    "autoport": g.get("autoport") == "yes"})
    return out


def console_view(root: etree._Element) -> dict[str, Any] | None:
    con = root.find("devices/console")
    if con is None:
        return None
    target = con.find("target")
    return {"type": con.get("type"), "target": target.get("type") if target is not None else None}


def macs(root: etree._Element) -> list[str]:
    return [m for m in (edit.nic_mac(n) for n in edit.nics(root)) if m]


def networks_of(root: etree._Element) -> set[str]:
    return {n.find("source").get("network") for n in edit.nics(root)
            if n.get("type") == "network" and n.find("source") is not None}


def static_facts(root: etree._Element) -> dict[str, Any]:
    """What a list row needs from the XML (cached per domain by domain_cache)."""
    facts = read_facts(root)
    return {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "vcpus": edit.max_vcpus(root),
        "memory_mib": edit.memory_mib(root),
        "template": facts.template.get("name") if facts.template else None,
        "labels": facts.labels,
        "description": facts.description or None,
        "created_at": facts.created_at,
        "macs": macs(root),
        "networks": sorted(networks_of(root)),
    }


def summary(facts: dict[str, Any], *, node: str, state: str, ips: dict[str, list[str]],
            vcpus: int | None = None, memory_mib: int | None = None) -> dict[str, Any]:
    """The list-vms row. vcpus/memory: the live figures when the caller has them, else the config."""
    return {
        "name": facts["name"],
        "uuid": facts["uuid"],
        "node": node,
        "state": state,
        "vcpus": vcpus if vcpus is not None else facts["vcpus"],
        "memory_mib": memory_mib if memory_mib is not None else facts["memory_mib"],
        "persistent": None,
        "template": facts["template"],
        "labels": facts["labels"],
        "description": facts["description"],
        "created_at": facts["created_at"],
        "ips": sorted({ip for m in facts["macs"] for ip in ips.get(m, [])}),
    }


def describe(root: etree._Element, *, node: str, state: str, persistent: bool, autostart: bool | None,
             volumes: dict[str, dict[str, Any]], ips: dict[str, list[str]], agent: bool | None,
             now: dt.datetime | None = None) -> dict[str, Any]:
    facts = read_facts(root)
    view = summary(static_facts(root), node=node, state=state, ips=ips)
    started = started_at_of(root) if state in ("running", "paused") else None
    uptime = None
    if started:
        now = now or dt.datetime.now(dt.timezone.utc)
        try:
            uptime = max(0, int((now - dt.datetime.fromisoformat(started.replace("Z", "+00:00")))
                                .total_seconds()))
        except ValueError:
            uptime = None
    cur = size_bytes(root.find("currentMemory"))
    cpu = root.find("cpu")
    view.update({
        "persistent": persistent,
        "autostart": autostart,
        "memory_mib": (cur // 2**20) if cur else view["memory_mib"],
        "domain_type": root.get("type"),
        "cpu_mode": cpu.get("mode", "custom") if cpu is not None else None,
        "firmware": firmware(root),
        "created_by": facts.created_by,
        "keypairs": facts.keypairs,
        "started_at": started,
        "uptime": uptime,
        "disks": disk_views(root, volumes),
        "nics": nic_views(root, ips),
        "graphics": graphics_views(root),
        "console": console_view(root),
        "cloud_init": ({"instance_id": facts.instance_id, "seed_pool": facts.seed_pool,
                        "seed_volume": facts.seed_volume} if facts.instance_id else None),
        "guest_agent": agent,
    })
    return view
