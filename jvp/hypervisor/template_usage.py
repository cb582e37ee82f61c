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

import libvirt

from jvp.domain.template import DomainUsage, NodeUsage, describe_pools  # noqa: F401 - re-exported
from jvp.hypervisor import volume as vol_hv
from jvp.hypervisor.errors import is_connection_error


def _gone(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_POOL,
                                    libvirt.VIR_ERR_NO_STORAGE_VOL)


def scan(conn: libvirt.virConnect) -> NodeUsage:
    """Domains and pools removed while we look are skipped: they depend on nothing any more. What each domain
    opens comes from the one usage scan (volume.references: disks, boot files, chains, canonical paths), its
    template facts from the same entry of the reference index (hypervisor/ref_index.py)."""
    usage = NodeUsage()
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
    domains = vol_hv.scan_domains(conn)
    refs = vol_hv.references(conn, usage.volumes, domains=domains)
    for dom in domains:
        if dom.facts_error is not None:
            raise dom.facts_error
        usage.domains.append(DomainUsage(name=dom.name, running=dom.running, template=dom.template,
                                         created_at=dom.created_at, paths=refs.paths_of(dom.name)))
    return usage
