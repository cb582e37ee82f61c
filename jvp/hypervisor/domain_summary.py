"""The list-vms row of a domain (SPEC 2.7): static_facts (what a row needs from the XML, cached per domain by
domain_cache), network_problems, unreadable_facts, figures and summary (the row itself, which describe-vm's
view starts from too).

Pure functions of the XML and of what the caller looked up (state, stats, IPs), so they are unit-tested
without libvirt.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from jvp.hypervisor.xml.base import _UNITS
from jvp.hypervisor.xml.domain import MIB, Domain


def _text(el: etree._Element | None) -> str | None:
    return el.text if el is not None else None


def _mib(el: etree._Element | None) -> int | None:
    """Domain.memory_mib's reading (xml.base.Size(MIB)) of a size element."""
    if el is None or el.text is None:
        return None
    return int(el.text.strip()) * _UNITS.get((el.get("unit") or "KiB").lower(), 1) // MIB


def _vcpus(el: etree._Element | None) -> int:
    """Domain.vcpus' reading (xml.base.INT, default 1) of <vcpu>."""
    raw = (el.text if el is not None else None) or None
    if raw is None:
        return 1
    raw = raw.strip()
    try:
        return int(raw, 0) if raw.startswith("0x") else int(raw)
    except ValueError:
        return 1


def static_facts(root: etree._Element) -> dict[str, Any]:
    """What a list row needs from the XML (cached per domain by domain_cache). Each field is read once and
    the NICs are walked once (this runs for every domain of a cold listing: 1,000 domains, 1,000 calls).

    The plain fields and the NICs are read with lxml directly, as the mapping classes define them (the first
    child of each name: Domain.name, uuid, description, vcpus, vcpu_current, memory_mib, current_memory_mib;
    Interface.type, mac lower-cased, source_network): the descriptors' per-field cost was a third of a cold
    listing's per-domain work. JVP's facts stay with the mapping (xml.domain.Facts).
    tests/unit/test_refs_mapping.py holds this to the mapping's answers."""
    first: dict[str, etree._Element] = {}
    for child in root.iterchildren("name", "uuid", "description", "vcpu", "memory", "currentMemory"):
        first.setdefault(child.tag, child)
    dom_description = _text(first.get("description"))
    f = Domain(root).facts
    if f.exists():
        template = f.template
        labels, created_at = f.labels, f.created_at or None
        description = f.description or (dom_description or "").strip()
    else:
        template, labels, created_at, description = None, {}, None, (dom_description or "").strip()
    vcpu_el = first.get("vcpu")
    vcpus, current_vcpus = _vcpus(vcpu_el), (vcpu_el.get("current") if vcpu_el is not None else None)
    memory_mib = _mib(first.get("memory"))
    macs_, networks, nics = [], set(), []
    for devices in root.iterchildren("devices"):
        for n in devices.iterchildren("interface"):
            mac_el = next(n.iterchildren("mac"), None)
            mac = mac_el.get("address") if mac_el is not None else None
            if mac is not None:
                mac = mac.lower()
            if mac:
                macs_.append(mac)
            if n.get("type") == "network":
                source = next(n.iterchildren("source"), None)
                net = source.get("network") if source is not None else None
                if net:
                    networks.add(net)
                    nics.append((mac or "", net))
    return {
        "name": _text(first.get("name")),
        "uuid": _text(first.get("uuid")),
        "vcpus": int(current_vcpus) if current_vcpus and str(current_vcpus).isdigit() else vcpus,
        "max_vcpus": vcpus,
        "memory_mib": _mib(first.get("currentMemory")) or memory_mib,
        "max_memory_mib": memory_mib,
        "template": template.get("name") if template else None,
        "labels": labels,
        "description": description or None,
        "created_at": created_at,
        "macs": macs_,
        "networks": sorted(networks),
        "nics": nics,
    }


def network_problems(facts: dict[str, Any], existing: set[str]) -> list[dict[str, str]]:
    """A NIC naming a network the node does not have (deleted since): the VM is listed with a problem."""
    return [{"code": "NetworkNotFound",
             "message": f"NIC {mac or '(no MAC)'} is on network '{net}', which does not exist on this node: "
                        "attach the NIC to another network (detach-nic, attach-nic) or create the network"}
            for mac, net in facts.get("nics", []) if net not in existing]


def unreadable_facts(name: str, uuid: str) -> dict[str, Any]:
    """The facts of a domain whose XML could not be read or understood: only what libvirt said apart from it
    (the row carries a problem that says why)."""
    return {"name": name, "uuid": uuid, "vcpus": None, "max_vcpus": None, "memory_mib": None,
            "max_memory_mib": None, "template": None, "labels": {}, "description": None, "created_at": None,
            "macs": [], "networks": [], "nics": []}


def figures(facts: dict[str, Any], stats: dict[str, Any]) -> dict[str, int | None]:
    """vCPUs and memory, current and maximum, with one meaning everywhere (list-vms, describe-vm,
    describe-node-vms): libvirt's live figures (bulk stats: vcpu.current/maximum, balloon.current/maximum in
    KiB) when it gives them, else the definition's (<vcpu current>, <vcpu>, <currentMemory>, <memory>)."""
    # plain conditionals, no helper calls: this runs for every row of a listing
    vcpus, max_vcpus = stats.get("vcpu.current"), stats.get("vcpu.maximum")
    cur_kib, max_kib = stats.get("balloon.current"), stats.get("balloon.maximum")
    return {
        "vcpus": facts["vcpus"] if vcpus is None else vcpus,
        "max_vcpus": facts["max_vcpus"] if max_vcpus is None else max_vcpus,
        "memory_mib": cur_kib // 1024 if isinstance(cur_kib, int) and cur_kib > 0 else facts["memory_mib"],
        "max_memory_mib": max_kib // 1024 if isinstance(max_kib, int) and max_kib > 0 else facts["max_memory_mib"],
    }


def summary(facts: dict[str, Any], *, node: str, state: str, ips: dict[str, list[str]],
            stats: dict[str, Any] | None = None, state_reason: str | None = None,
            problems: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The list-vms row. Figures: the live ones when the caller has them (`stats`), else the config's.

    A dict, not a VmView: list-vms dumps a thousand of them by key (jvp.domain.vm.TrustedRows), and in the
    answer's order (VmSummarySchema's: the view's), so the dump takes each row as it stands."""
    # figures() inlined and each key read once: this builds every row of a listing (1,000 rows a call)
    st = stats or {}
    vcpus, max_vcpus = st.get("vcpu.current"), st.get("vcpu.maximum")
    cur_kib, max_kib = st.get("balloon.current"), st.get("balloon.maximum")
    macs = facts["macs"]
    return {
        "name": facts["name"],
        "uuid": facts["uuid"],
        "node": node,
        "state": state,
        "state_reason": state_reason,
        "vcpus": facts["vcpus"] if vcpus is None else vcpus,
        "max_vcpus": facts["max_vcpus"] if max_vcpus is None else max_vcpus,
        "memory_mib": cur_kib // 1024 if isinstance(cur_kib, int) and cur_kib > 0 else facts["memory_mib"],
        "max_memory_mib": max_kib // 1024 if isinstance(max_kib, int) and max_kib > 0 else facts["max_memory_mib"],
        "persistent": None,
        "template": facts["template"],
        "labels": facts["labels"],
        "description": facts["description"],
        "created_at": facts["created_at"],
        "problems": list(problems) if problems else [],
        "ips": sorted({ip for m in macs for ip in ips.get(m, ())}) if ips and macs else [],
        "macs": list(macs),
    }
