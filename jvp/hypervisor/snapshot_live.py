"""Disk-only internal snapshots of a running VM, which libvirt 9.0 refuses to take itself.

QEMU can do it: its QMP command `blockdev-snapshot-internal-sync` makes an internal snapshot of one disk
image without the memory, and a QMP `transaction` applies it to every disk at one instant (all or none).
JVP sends that through libvirt's QEMU monitor passthrough (virDomainQemuMonitorCommand: the libvirt
connection, so remote nodes work alike; libvirt notes "custom-monitor" in the domain's log, as it does for
any use of the passthrough), then registers the snapshot in libvirt's metadata with REDEFINE as an
internal, memory-less snapshot in state `shutoff`. From then on libvirt lists, reverts and deletes it like
one it made: revert stops the VM and applies the disks (`qemu-img snapshot -a`), and the VM restarts from
them, which is all a disk-only snapshot can offer.

Consistency: when the guest agent answers, the guest's filesystems are frozen (virDomainFSFreeze, the
agent's fsfreeze) around the transaction, so what the guest wrote is on the disks; otherwise the snapshot is
crash-consistent, like pulling the plug, and is recorded as not quiesced.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

import libvirt
import libvirt_qemu

from jvp.hypervisor import snapshot_xml as sx
from jvp.hypervisor.domain import agent_connected, root_of, state_of
from jvp.hypervisor.xml import parse

log = logging.getLogger(__name__)


class QmpError(Exception):
    """QEMU refused a monitor command; `reply` is its error object."""

    def __init__(self, message: str, reply: dict[str, Any] | None = None):
        super().__init__(message)
        self.reply = reply or {}


def qmp(dom: libvirt.virDomain, command: str, **arguments: Any) -> Any:
    msg = {"execute": command, **({"arguments": arguments} if arguments else {})}
    reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(msg), 0))
    if "error" in reply:
        err = reply["error"]
        raise QmpError(f"QEMU refused {command}: {err.get('desc') or err}", err)
    return reply.get("return")


def block_nodes(dom: libvirt.virDomain, live: Any, targets: list[str]) -> dict[str, str]:
    """target -> QEMU's name for the disk's image (the node name of the format layer).

    `query-block` lists each drive with the device it is plugged into (qdev path, which holds libvirt's
    device alias) and the node name of what is inserted; the image's file name is the fallback match."""
    aliases, paths = {}, {}
    for d in live.findall("devices/disk"):
        t, a, s = d.find("target"), d.find("alias"), d.find("source")
        if t is None:
            continue
        if a is not None:
            aliases[a.get("name")] = t.get("dev")
        if s is not None and s.get("file"):
            paths[s.get("file")] = t.get("dev")
    found: dict[str, str] = {}
    for blk in qmp(dom, "query-block") or []:
        inserted = blk.get("inserted") or {}
        node = inserted.get("node-name")
        if not node:
            continue
        qdev = (blk.get("qdev") or "").split("/")
        target = next((aliases[p] for p in qdev if p in aliases), None) or paths.get(inserted.get("file"))
        if target:
            found[target] = node
    missing = [t for t in targets if t not in found]
    if missing:
        raise QmpError(f"QEMU does not show the image of disk(s) {', '.join(missing)}")
    return found


def _freeze(dom: libvirt.virDomain, live: Any, notes: list[str]) -> bool:
    if state_of(dom) != "running" or agent_connected(live) is not True:
        notes.append("the guest agent does not answer: the snapshot is crash-consistent (not quiesced)")
        return False
    try:
        dom.fsFreeze(None, 0)
        return True
    except libvirt.libvirtError as exc:
        notes.append(f"the guest's filesystems could not be frozen ({exc.get_error_message()}): the snapshot "
                     "is crash-consistent")
        return False


def _thaw(dom: libvirt.virDomain, notes: list[str]) -> None:
    try:
        dom.fsThaw(None, 0)
    except libvirt.libvirtError as exc:
        log.error("vm %s: thawing the guest's filesystems failed: %s", dom.name(), exc.get_error_message())
        notes.append(f"thawing the guest's filesystems failed ({exc.get_error_message()}); the guest agent "
                     "thaws them by itself after its timeout, or run `virsh domfsthaw`")


def capture(dom: libvirt.virDomain, name: str, description: str, disks: list[sx.DiskChoice], *,
            libvirt_refusal: str) -> dict[str, Any]:
    """Freeze, snapshot every internal disk in one QMP transaction, thaw, register the metadata."""
    notes = [f"libvirt cannot take this snapshot itself ({libvirt_refusal}); JVP took the disk snapshots "
             "through QEMU's monitor"]
    live = root_of(dom)
    inactive = root_of(dom, inactive=True) if dom.isPersistent() else None
    vm_state = state_of(dom)
    targets = [d.target for d in disks if d.snapshot == "internal"]
    nodes = block_nodes(dom, live, targets)
    parent = dom.snapshotCurrent(0).getName() if dom.hasCurrentSnapshot(0) else None
    actions = [{"type": "blockdev-snapshot-internal-sync", "data": {"device": nodes[t], "name": name}}
               for t in targets]
    frozen = _freeze(dom, live, notes)
    try:
        qmp(dom, "transaction", actions=actions)
        created = int(time.time())
    finally:
        if frozen:
            _thaw(dom, notes)
    xml = sx.redefine_xml(name, description, parent, created, disks, live, inactive, vm_state, frozen)
    try:
        dom.snapshotCreateXML(xml, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
                              | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)
    except libvirt.libvirtError:
        for t in targets:  # libvirt did not take the metadata: do not leave snapshots it cannot see
            try:
                qmp(dom, "blockdev-snapshot-delete-internal-sync", device=nodes[t], name=name)
            except (QmpError, libvirt.libvirtError) as exc:
                log.error("vm %s: internal snapshot %s of %s not removed: %s", dom.name(), name, t, exc)
        raise
    return {"method": "qemu-monitor", "quiesced": frozen, "notes": notes}


def relabel_disk_only(dom: libvirt.virDomain, snap: libvirt.virDomainSnapshot, disks: list[sx.DiskChoice]) -> None:
    """Re-register a snapshot the driver took with memory as the disk-only one that was asked for (libvirt
    forbids changing a snapshot between online and offline states in place: drop the metadata, redefine)."""
    root = parse(snap.getXMLDesc(0))
    name = root.findtext("name")
    parent = (root.findtext("parent/name") or "").strip() or None
    live = root.find("domain")
    inactive = root.find("inactiveDomain")
    state = sx.view(snap.getXMLDesc(0), vm="", node="", current=True).state
    xml = sx.redefine_xml(name, (root.findtext("description") or "").strip(), parent,
                          int(root.findtext("creationTime") or time.time()), disks, live, inactive, state, False)
    try:
        snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
            raise
        # A driver without metadata-only deletion keeps nothing but the metadata (libvirt's test driver).
        snap.delete(0)
    dom.snapshotCreateXML(xml, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)
