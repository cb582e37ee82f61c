"""Who depends on a template's images, from one pass over the node's domains and one over its volumes.

Usage is computed, never counted: a VM belongs to a template when JVP's metadata in its domain XML names
the template (create-vm records it) or when one of its disks is, or is backed by, one of the template's
images. A volume depends on an image when its backing chain (each volume's `<backingStore>`, followed
through the other volumes by path) reaches it. Counters kept beside the images would drift whenever a VM or
volume goes away by another road (virsh, a failed create); the XML cannot.

The volumes of an inactive pool, or of a pool libvirt fails to list, are unknown: a volume in there may be
backed by a template image without anything showing it. The scan names those pools (`unknown_pools()`) so
that whatever would remove an image (delete-template, the pruning of old images) can refuse instead of
guessing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import libvirt

from jvp.domain.storage_pool import TEMPLATE_POOL_SUFFIX
from jvp.hypervisor import volume as vol_hv
from jvp.hypervisor.domain_cache import domain_docs
from jvp.hypervisor.domain_xml import read_facts
from jvp.hypervisor.errors import is_connection_error
from jvp.hypervisor.storage_xml import domain_disks
from jvp.hypervisor.xml import to_string


@dataclass
class NodeUsage:
    """A snapshot of the node: each domain's template facts and disk paths, each volume's backing."""
    domains: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    skipped_pools: list[str] = field(default_factory=list)       # inactive pools
    unreadable_pools: list[dict[str, str]] = field(default_factory=list)  # {"pool", "error"}: listing failed

    def unseen_pools(self) -> set[str]:
        """Every pool whose volumes this scan could not see."""
        return set(self.skipped_pools) | {u["pool"] for u in self.unreadable_pools}

    def unknown_pools(self) -> list[dict[str, str]]:
        """The pools whose volumes this scan could not see and that may hold a volume backed by a template
        image, each with why: {"pool", "reason": inactive|unreadable, "error"?}. JVP's own template pools are
        left out: they hold flat images only (a registration refuses images with a backing file, and copies
        flatten), so nothing in them depends on another image."""
        out = [{"pool": p, "reason": "inactive"} for p in self.skipped_pools]
        out += [{"pool": u["pool"], "reason": "unreadable", "error": u["error"]} for u in self.unreadable_pools]
        return sorted((p for p in out if not p["pool"].endswith(TEMPLATE_POOL_SUFFIX)), key=lambda x: x["pool"])

    def _backing_of(self) -> dict[str, str]:
        return {v["path"]: v["backing"]["path"] for v in self.volumes if v.get("path") and v.get("backing")}

    def backed_volumes(self, bases: Iterable[str]) -> list[dict[str, Any]]:
        """Volumes whose backing chain reaches one of `bases` (the bases themselves excluded)."""
        wanted = set(bases)
        backing = self._backing_of()
        out = []
        for v in self.volumes:
            path, seen = v.get("path"), set()
            if not path or path in wanted:
                continue
            step = backing.get(path)
            while step and step not in seen:
                if step in wanted:
                    out.append({"pool": v["pool"], "name": v["name"], "path": path, "base": step})
                    break
                seen.add(step)
                step = backing.get(step)
        return sorted(out, key=lambda x: (x["pool"], x["name"]))

    def vms(self, template: dict[str, Any], bases: Iterable[str]) -> list[dict[str, Any]]:
        """VMs built from the template: named in their metadata, or with a disk on or above one of `bases`."""
        wanted = set(bases)
        derived = wanted | {v["path"] for v in self.backed_volumes(wanted)}
        out = []
        for d in self.domains:
            facts = d["template"] or {}
            named = bool(facts) and (facts.get("uuid") == template.get("uuid") if facts.get("uuid")
                                     else facts.get("name") == template.get("name"))
            on_disk = sorted(derived & d["paths"])
            if named or on_disk:
                out.append({"name": d["name"], "running": d["running"], "created_at": d["created_at"],
                            "by_metadata": named, "disks": on_disk})
        return sorted(out, key=lambda x: x["name"])

    def paths_in_use(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """path -> VMs whose disks open it directly or through a backing chain the XML shows."""
        wanted = set(paths)
        out: dict[str, list[str]] = {}
        for d in self.domains:
            for p in d["paths"] & wanted:
                out.setdefault(p, []).append(d["name"])
        return out


def _gone(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_POOL,
                                    libvirt.VIR_ERR_NO_STORAGE_VOL)


def scan(conn: libvirt.virConnect) -> NodeUsage:
    """Domains and pools removed while we look are skipped: they depend on nothing any more."""
    usage = NodeUsage()
    for dom in conn.listAllDomains(0):
        try:
            docs = domain_docs(dom)
            running = bool(docs) and bool(dom.isActive())
        except libvirt.libvirtError as exc:
            if not _gone(exc):
                raise
            continue
        if not docs:
            continue
        facts = read_facts(docs[0])
        paths: set[str] = set()
        for root in docs:
            for disk in domain_disks(to_string(root)):
                if disk["path"]:
                    paths.add(disk["path"])
                paths.update(disk["backing_paths"])
        usage.domains.append({"name": docs[0].findtext("name"), "running": running, "template": facts.template,
                              "created_at": facts.created_at, "paths": paths})
    for pool in conn.listAllStoragePools(0):
        name = pool.name()
        try:
            if not pool.isActive():
                usage.skipped_pools.append(name)
                continue
            usage.volumes += vol_hv.list_pool(pool)
        except libvirt.libvirtError as exc:
            if _gone(exc):
                continue
            if is_connection_error(exc, conn):
                raise  # the node, not the pool: NodeUnreachable for the caller
            usage.unreadable_pools.append({"pool": name, "error": exc.get_error_message() or str(exc)})
    return usage


def describe_pools(pools: list[dict[str, str]]) -> str:
    """"'cold' (inactive), 'nfs' (unreadable: <libvirt's text>)" for messages."""
    return ", ".join(f"'{p['pool']}' ({p['reason']}" + (f": {p['error']}" if p.get("error") else "") + ")"
                     for p in pools)
