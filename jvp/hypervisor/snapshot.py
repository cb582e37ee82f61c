"""Snapshots through libvirt: list, describe, create, revert, delete (internal qcow2 snapshots).

How each capture is made (also in the README):
- stopped VM: virDomainSnapshotCreateXML with every writable disk internal and no memory; libvirt runs
  `qemu-img snapshot -c` on the node.
- running (or paused) VM with memory: the same call with `<memory snapshot='internal'/>`; QEMU's savevm
  writes the disks' state and the RAM into the qcow2 images (the guest pauses while RAM is written).
- running VM without memory: asked of libvirt first (a libvirt that can do it natively is used as is);
  libvirt 9.0 refuses ("internal snapshot of a running VM must include the memory state"), and then
  snapshot_live.py takes the disk snapshots itself through libvirt's QEMU monitor passthrough and registers
  them in libvirt's metadata, so revert and delete use libvirt's own code either way.
Every function takes the node's connection: local and remote nodes alike.
"""
from __future__ import annotations

from typing import Any

import libvirt
from lxml import etree

from jvp.domain.snapshot import CaptureFacts, CaptureResult, SnapshotDefinition, SnapshotView
from jvp.hypervisor import domain as domain_hv
from jvp.hypervisor import domain_describe
from jvp.hypervisor import snapshot_live, support
from jvp.hypervisor import snapshot_xml as sx
from jvp.hypervisor.clone_xml import clone_domain
from jvp.hypervisor.domain import (
    agent_connected,
    has_agent_channel,
    lookup,
    root_of,
    state_of,
)
from jvp.hypervisor.domain_cache import changes
from jvp.hypervisor.domain_edit import nic_mac, nics
from jvp.hypervisor.domain_view import system_disk_target
from jvp.hypervisor.domain_xml import RUNTIME_NS, read_facts, runtime_element
from jvp.hypervisor.xml import parse, to_string
from jvp.timeutil import rfc3339


def _snap(dom: libvirt.virDomain, name: str) -> libvirt.virDomainSnapshot:
    return dom.snapshotLookupByName(name, 0)


def _current_name(dom: libvirt.virDomain) -> str | None:
    try:
        return dom.snapshotCurrent(0).getName() if dom.hasCurrentSnapshot(0) else None
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            return None
        raise


# -- reading -----------------------------------------------------------------------------------------------
def views(conn: libvirt.virConnect, node: str, vm: str) -> list[SnapshotView]:
    """Every snapshot of the VM, with parents, children and the current one (one XML read per snapshot)."""
    dom = lookup(conn, vm)
    current = _current_name(dom)
    out = []
    for snap in dom.listAllSnapshots(0):
        name = snap.getName()
        try:
            xml = snap.getXMLDesc(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:  # deleted while we looked
                continue
            raise
        try:
            out.append(sx.view(xml, vm=vm, node=node, current=name == current))
        except (etree.LxmlError, ValueError, TypeError, OverflowError) as exc:
            # one unreadable snapshot document degrades its own row; the others stand
            out.append(sx.unreadable_view(name, vm=vm, node=node, current=name == current,
                                          error=str(exc) or type(exc).__name__))
    return sx.link_tree(out)


def node_views(conn: libvirt.virConnect, node: str) -> list[SnapshotView]:
    """The snapshots of every VM of the node (VMs without any cost one call each)."""
    out = []
    for dom in conn.listAllDomains(0):
        try:
            if dom.snapshotNum(0) > 0:
                out += views(conn, node, dom.name())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # undefined while we looked
                raise
    # by VM only: the sort is stable, so each VM's snapshots keep their tree order (a parent before its
    # children, which creation times alone do not give within one second)
    return sorted(out, key=lambda v: v.vm)


def exists(conn: libvirt.virConnect, vm: str, name: str) -> bool:
    try:
        _snap(lookup(conn, vm), name)
        return True
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            return False
        raise


def snapshot_xml(conn: libvirt.virConnect, vm: str, name: str) -> str:
    return _snap(lookup(conn, vm), name).getXMLDesc(0)


def capture_facts(conn: libvirt.virConnect, vm: str) -> CaptureFacts:
    """What the service checks before a capture: state, the disks and whether the agent answers."""
    dom = lookup(conn, vm)
    st = state_of(dom)
    root = root_of(dom)
    disks, refused = sx.disk_choices(root, domain_describe.volumes_of(conn, root))
    return CaptureFacts(state=st, disks=disks, refused=refused, persistent=bool(dom.isPersistent()),
                        agent=st == "running" and agent_connected(root) is True)


# -- creating ----------------------------------------------------------------------------------------------
def create(conn: libvirt.virConnect, vm: str, name: str, description: str, memory: bool) -> CaptureResult:
    """Take the snapshot (see the module docstring); how it was taken."""
    dom = lookup(conn, vm)
    running = state_of(dom) in ("running", "paused")
    disks, _ = sx.disk_choices(root_of(dom))
    xml = sx.create_xml(name, description, disks, memory)
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
    if memory or not running:
        dom.snapshotCreateXML(xml, flags)
        return CaptureResult(method="libvirt", quiesced=None)
    try:
        snap = dom.snapshotCreateXML(xml, flags)
    except libvirt.libvirtError as exc:
        if not support.lacks("disk_only_snapshot_live", exc):
            raise
        return CaptureResult(**snapshot_live.capture(dom, name, description, disks,
                                                     libvirt_refusal=exc.get_error_message()))
    if sx.view(snap.getXMLDesc(0), vm=vm, node="", current=True).has_memory:
        # A driver that took the memory although it was asked not to (libvirt's test driver): record the
        # snapshot as what was asked, a disk-only one (its disks hold the state; the memory is not used).
        snapshot_live.relabel_disk_only(dom, snap, disks)
    return CaptureResult(method="libvirt", quiesced=None)


# -- reverting and deleting --------------------------------------------------------------------------------
def _mark_running(dom: libvirt.virDomain) -> None:
    """The runtime start time behind uptime: a revert that leaves the VM running (re)started it."""
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, runtime_element(rfc3339()), "jvprt", RUNTIME_NS,
                        libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        if not support.lacks("domain_metadata", exc):
            raise


def _drop_capture_facts(dom: libvirt.virDomain) -> None:
    """A revert gives the VM the snapshot's copy of its definition, JVP's capture facts included: remove
    them from the VM (they describe the snapshot, not the VM)."""
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    for doc in (root_of(dom), *((root_of(dom, inactive=True),) if dom.isPersistent() else ())):
        if doc.find(f"metadata/{sx.CAPTURE}") is not None:
            try:
                dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, sx.SNAP_NS, flags)
            except libvirt.libvirtError as exc:
                if not support.lacks("domain_metadata", exc):
                    raise
            return


@changes
def revert(conn: libvirt.virConnect, vm: str, name: str, start: bool | None) -> str:
    """Revert; the VM ends in the state the snapshot recorded (`revert_state`), or as `start` says: True
    running, False not running (a disk-only snapshot leaves it stopped, a memory one paused with its memory
    loaded). Without memory libvirt applies the disks to a stopped VM and starts it only when asked
    (REVERT_RUNNING / REVERT_PAUSED), which is how a VM recorded running comes back running. FORCE: libvirt
    calls a revert "risky" when it must start a new QEMU process (e.g. devices changed since the snapshot);
    the caller asked to go back to the snapshot, which is exactly what that does."""
    dom = lookup(conn, vm)
    snap = _snap(dom, name)
    recorded = sx.view(snap.getXMLDesc(0), vm=vm, node="", current=False)
    if start is None:
        want = recorded.revert_state
    elif start:
        want = "running"
    else:
        want = "paused" if recorded.has_memory else "stopped"
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE
    if want == "running":
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING
    elif want == "paused":
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED
    dom.revertToSnapshot(snap, flags)
    _drop_capture_facts(dom)
    reached = state_of(dom)
    # a driver that left the flags unapplied (libvirt's test driver, some versions for offline snapshots)
    if want == "running" and reached in ("stopped", "crashed"):
        dom.create()
    elif want == "running" and reached == "paused":
        dom.resume()
    elif want == "paused" and reached in ("stopped", "crashed"):
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
    elif want == "paused" and reached == "running":
        dom.suspend()
    elif want == "stopped" and reached in ("running", "paused"):
        dom.destroy()
    reached = state_of(dom)
    if reached in ("running", "paused"):
        _mark_running(dom)
    return reached


@changes
def delete(conn: libvirt.virConnect, vm: str, name: str, children: bool) -> list[str]:
    """Delete the snapshot (its data in the disks too), with its descendants when asked (otherwise libvirt
    hands its children to its parent). Returns the names deleted."""
    dom = lookup(conn, vm)
    snap = _snap(dom, name)
    gone = [name]
    if children:
        gone += [s.getName() for s in snap.listAllChildren(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)]
    snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0)
    return gone


def domain_definition(conn: libvirt.virConnect, vm: str, name: str):
    """The snapshot's copy of the VM definition (lxml element) and the snapshot's own view."""
    xml = snapshot_xml(conn, vm, name)
    return sx.snapshot_domain(parse(xml)), sx.view(xml, vm=vm, node="", current=False)


def definition(conn: libvirt.virConnect, vm: str, name: str) -> SnapshotDefinition:
    """What clone and export need of the snapshot's copy of the VM definition, read here (no element leaves)."""
    dom, view = domain_definition(conn, vm, name)
    if dom is None:
        return SnapshotDefinition(view=view, xml=None)
    facts = read_facts(dom)
    disks, refused = sx.disk_choices(dom)
    buses = {t.get("dev"): t.get("bus") for t in dom.findall("devices/disk/target") if t.get("dev")}
    return SnapshotDefinition(view=view, xml=to_string(dom), uuid=dom.findtext("uuid") or "",
                              system_disk=system_disk_target(dom), disks=disks, refused=refused,
                              macs=[nic_mac(n) or "" for n in nics(dom)], seed_volume=facts.seed_volume,
                              seed_pool=facts.seed_pool, template=facts.template,
                              agent_channel=has_agent_channel(dom), disk_buses=buses)


def define_clone(conn: libvirt.virConnect, definition_xml: str, **clone: Any) -> str:
    """Define the clone: the snapshot's definition edited by clone_xml.clone_domain (keywords as there)."""
    dom = clone_domain(parse(definition_xml), **clone)
    return domain_hv.define(conn, to_string(dom))
