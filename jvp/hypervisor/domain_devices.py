"""Changes to an existing domain: devices (live and persistent), modify, JVP's facts, password, delete.

The persistent side is always an in-place edit of libvirt's own inactive XML, given back whole to
defineXML; the live side uses libvirt's device and tuning calls. The live change goes first (it is the one
a guest can refuse); when saving the config then fails, the live change is undone.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

import libvirt
from lxml import etree

from jvp.domain.vm import DiskDevice, NicDevice
from jvp.hypervisor import domain_edit as edit
from jvp.hypervisor import support
from jvp.hypervisor.domain import exists, lookup, root_of
from jvp.hypervisor.domain_cache import changes
from jvp.hypervisor.domain_view import firmware, nvram_path
from jvp.hypervisor.domain_xml import NS, ensure_facts, update_facts
from jvp.hypervisor.xml import to_string

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
DETACH_WAIT_S = 5.0


def _docs(dom: libvirt.virDomain) -> tuple[bool, bool, etree._Element | None, etree._Element | None]:
    active, persistent = bool(dom.isActive()), bool(dom.isPersistent())
    live = root_of(dom) if active else None
    cfg = root_of(dom, inactive=True) if persistent else None
    return active, persistent, live, cfg


def _apply(conn: libvirt.virConnect, dom: libvirt.virDomain, cfg: etree._Element | None,
           live_do: Callable[[], None] | None, live_undo: Callable[[], None] | None) -> None:
    if live_do:
        live_do()
    if cfg is not None:
        try:
            conn.defineXML(to_string(cfg))
        except libvirt.libvirtError:
            if live_undo:
                try:
                    live_undo()
                except libvirt.libvirtError:
                    pass
            raise


# -- disks ---------------------------------------------------------------------------------------------
def used_targets(conn: libvirt.virConnect, name: str) -> dict[str, dict[str, Any]]:
    """target -> {path, device} over the live and persistent config."""
    _, _, live, cfg = _docs(lookup(conn, name))
    out: dict[str, dict[str, Any]] = {}
    for doc in (cfg, live):
        if doc is None:
            continue
        for d in edit.disks(doc):
            t = d.find("target")
            if t is not None:
                out[t.get("dev")] = {"path": edit.disk_path(d), "device": d.get("device", "disk")}
    return out


@changes
def attach_disk(conn: libvirt.virConnect, name: str, disk: DiskDevice) -> str:
    dom = lookup(conn, name)
    active, _, live, cfg = _docs(dom)
    if not disk.target:
        disk.target = edit.next_target(edit.targets(cfg) | edit.targets(live), disk.bus)
    if cfg is not None:
        edit.add_disk(cfg, disk)
    if live is not None and edit.find_disk(live, disk.target) is not None:
        raise edit.EditError(f"target {disk.target} is in use on the running VM")
    return _attach(conn, dom, active, cfg, edit.disk_element(disk))


def _attach(conn: libvirt.virConnect, dom: libvirt.virDomain, active: bool, cfg: etree._Element | None,
            device: etree._Element) -> str:
    """Hot-plug the device when the VM runs, then save the config (the device already added to `cfg`); a
    failed save unplugs it again: applied | not-running."""
    dev_xml = to_string(device)
    _apply(conn, dom, cfg, (lambda: dom.attachDeviceFlags(dev_xml, LIVE)) if active else None,
           (lambda: dom.detachDeviceFlags(dev_xml, LIVE)) if active else None)
    return "applied" if active else "not-running"


def _wait_gone(dom: libvirt.virDomain, present: Callable[[etree._Element], bool]) -> str:
    """qemu removes a device when the guest releases it; libvirt returns before that for some guests."""
    deadline = time.monotonic() + DETACH_WAIT_S
    while time.monotonic() < deadline:
        if not dom.isActive() or not present(root_of(dom)):
            return "applied"
        time.sleep(0.25)
    return "pending"


def _detach(conn: libvirt.virConnect, dom: libvirt.virDomain, find: Callable[[etree._Element], etree._Element | None],
            remove: Callable[[etree._Element], Any], missing: str) -> str:
    """Remove a device (found by `find` in a document) from the config and from the running VM: the live
    removal is undone when saving the config fails; then wait (a while) until the guest released it."""
    active, _, live, cfg = _docs(dom)
    in_cfg = cfg is not None and find(cfg) is not None
    live_el = find(live) if live is not None else None
    if not in_cfg and live_el is None:
        raise edit.EditError(missing)
    if in_cfg:
        remove(cfg)
    dev_xml = to_string(live_el) if live_el is not None else None
    _apply(conn, dom, cfg if in_cfg else None,
           (lambda: dom.detachDeviceFlags(dev_xml, LIVE)) if dev_xml else None,
           (lambda: dom.attachDeviceFlags(dev_xml, LIVE)) if dev_xml else None)
    if dev_xml is None:
        return "not-running" if not active else "applied"
    return _wait_gone(dom, lambda doc: find(doc) is not None)


@changes
def detach_disk(conn: libvirt.virConnect, name: str, target: str) -> str:
    return _detach(conn, lookup(conn, name), lambda doc: edit.find_disk(doc, target),
                   lambda cfg: edit.remove_disk(cfg, target), f"this VM has no disk at target {target}")


@changes
def change_media(conn: libvirt.virConnect, name: str, target: str, path: str | None, fmt: str = "raw") -> str:
    """Insert (path) or eject (None) the media of a cdrom drive, live and in the config."""
    dom = lookup(conn, name)
    active, _, live, cfg = _docs(dom)
    if cfg is not None:
        edit.set_media(cfg, target, path, fmt)
    live_do = None
    if live is not None:
        el = copy.deepcopy(edit.set_media(live, target, path, fmt))
        flags = LIVE | (libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE if path is None else 0)
        live_do = lambda: dom.updateDeviceFlags(to_string(el), flags)  # noqa: E731
    _apply(conn, dom, cfg, live_do, None)
    return "applied" if active else "not-running"


# -- NICs ----------------------------------------------------------------------------------------------
@changes
def attach_nic(conn: libvirt.virConnect, name: str, nic: NicDevice) -> str:
    dom = lookup(conn, name)
    active, _, live, cfg = _docs(dom)
    if cfg is not None:
        edit.add_nic(cfg, nic)
    if live is not None and edit.find_nic(live, nic.mac) is not None:
        raise edit.EditError(f"the running VM already has a NIC with MAC {nic.mac}")
    return _attach(conn, dom, active, cfg, edit.nic_element(nic))


@changes
def detach_nic(conn: libvirt.virConnect, name: str, mac: str) -> str:
    return _detach(conn, lookup(conn, name), lambda doc: edit.find_nic(doc, mac),
                   lambda cfg: edit.remove_nic(cfg, mac), f"this VM has no NIC with MAC {mac}")


# -- modify --------------------------------------------------------------------------------------------
@changes
def modify(conn: libvirt.virConnect, name: str, vcpus: int | None, memory_mib: int | None
           ) -> dict[str, list[str]]:
    """vCPUs and memory: saved in the config, applied live when the running VM's maxima allow it."""
    dom = lookup(conn, name)
    active, persistent, _, cfg = _docs(dom)
    if cfg is None:
        raise edit.EditError("this VM is transient (no persistent config to change)")
    applied, next_boot, notes = [], [], []
    if vcpus is not None:
        edit.set_vcpus(cfg, vcpus)
    if memory_mib is not None:
        edit.set_memory(cfg, memory_mib)
    conn.defineXML(to_string(cfg))
    if vcpus is not None:
        if not active:
            next_boot.append("vcpus")
        else:
            live_max = dom.vcpusFlags(LIVE | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
            if vcpus > live_max:
                next_boot.append("vcpus")
                notes.append(f"the running VM can have at most {live_max} vCPUs until it is restarted")
            else:
                try:
                    dom.setVcpusFlags(vcpus, LIVE)
                    applied.append("vcpus")
                except libvirt.libvirtError as exc:
                    next_boot.append("vcpus")
                    notes.append(f"vCPUs not changed live: {exc.get_error_message()}")
    if memory_mib is not None:
        if not active:
            next_boot.append("memory_mib")
        else:
            live_max_kib = dom.maxMemory()
            if memory_mib * 1024 > live_max_kib:
                next_boot.append("memory_mib")
                notes.append(f"the running VM can use at most {live_max_kib // 1024} MiB until it is restarted")
            else:
                try:
                    dom.setMemoryFlags(memory_mib * 1024, LIVE)
                    applied.append("memory_mib")
                except libvirt.libvirtError as exc:
                    next_boot.append("memory_mib")
                    notes.append(f"memory not changed live: {exc.get_error_message()}")
    return {"applied_live": applied, "next_boot": next_boot, "notes": notes}


def _unqualified(el: etree._Element) -> str:
    """virDomainSetMetadata takes the element without its namespace and puts it under the given one."""
    clone = copy.deepcopy(el)
    for node in clone.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = etree.QName(node).localname
    etree.cleanup_namespaces(clone)
    return to_string(clone)


@changes
def update_vm_facts(conn: libvirt.virConnect, name: str, **changes: Any) -> None:
    """Edit JVP's <metadata> element in place (unknown children kept), live and in the config."""
    dom = lookup(conn, name)
    active, persistent = bool(dom.isActive()), bool(dom.isPersistent())
    root = root_of(dom, inactive=persistent)
    el = update_facts(ensure_facts(root), **changes)
    flags = (CONFIG if persistent else 0) | (LIVE if active else 0)
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, _unqualified(el), "jvp", NS, flags)


@changes
def rename(conn: libvirt.virConnect, name: str, new_name: str) -> None:
    lookup(conn, name).rename(new_name, 0)


def set_user_password(conn: libvirt.virConnect, name: str, user: str, password: str) -> None:
    """guest-set-user-password through libvirt: the agent gets user and password as data, never a shell."""
    lookup(conn, name).setUserPassword(user, password, 0)


# -- delete --------------------------------------------------------------------------------------------
@changes
def undefine(conn: libvirt.virConnect, name: str) -> dict[str, Any]:
    """Power off, delete snapshots (their data in the disks too, where libvirt can), undefine with NVRAM,
    managed save and checkpoint metadata."""
    dom = lookup(conn, name)
    persistent = bool(dom.isPersistent())
    root = root_of(dom, inactive=persistent)
    # a UEFI VM never started may have no <nvram> in its config yet: libvirt names the file at the first start
    nvram = nvram_path(root) is not None or firmware(root) == "uefi"
    if dom.isActive():
        dom.destroy()
    snapshots, removed = 0, False
    if persistent:
        snapshots = _delete_snapshots(dom)
        removed = _undefine(dom) and bool(nvram)
    return {"snapshots_deleted": snapshots, "nvram_removed": removed}


def undefine_if_uuid(conn: libvirt.virConnect, name: str, uuid: str) -> bool:
    """undefine() only while the domain of that name still has this UUID (a failed create's cleanup: another
    VM may have taken the name since, and is not ours to remove). Whether it was removed."""
    if not exists(conn, name) or lookup(conn, name).UUIDString() != uuid:
        return False
    undefine(conn, name)
    return True


def _delete_snapshots(dom: libvirt.virDomain) -> int:
    try:
        count = dom.snapshotNum(0)
        roots = dom.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS)
    except libvirt.libvirtError as exc:
        if support.lacks("snapshot_listing", exc):
            return 0
        raise
    for snap in roots:
        try:
            snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
        except libvirt.libvirtError:
            # e.g. external snapshots libvirt cannot merge: drop the metadata, the disks go with the VM
            snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    return count


def _undefine(dom: libvirt.virDomain) -> bool:
    """Undefine with the NVRAM file (and, as libvirt does unless told to keep it, the swtpm state); whether the
    driver took the NVRAM flag. A driver that keeps no NVRAM files refuses the flag (support.py)."""
    base = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    full = base | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    try:
        dom.undefineFlags(full)
        return True
    except libvirt.libvirtError as exc:
        if not support.lacks("undefine_nvram", exc):
            raise
        dom.undefineFlags(base)
        return False


# -- rebuild (a stopped VM's system disk and seed replaced in its persistent config) --------------------------
@changes
def replace_system_disk(conn: libvirt.virConnect, name: str, target: str, path: str, fmt: str,
                        seed_target: str | None, seed_path: str | None, facts: dict[str, Any]) -> str:
    """Point the system disk at `path` (and the seed drive at `seed_path` when given), change JVP's facts, and
    save the config; the VM must be off. Returns the config as it was before (for restore_definition)."""
    dom = lookup(conn, name)
    if dom.isActive():
        raise edit.EditError("the VM is running; it must be off while its system disk is replaced")
    if not dom.isPersistent():
        raise edit.EditError("this VM is transient (no persistent config to change)")
    before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    cfg = root_of(dom, inactive=True)
    edit.set_disk_file(cfg, target, path, fmt)
    if seed_target and seed_path:
        edit.set_media(cfg, seed_target, seed_path, "raw")
    update_facts(ensure_facts(cfg), **facts)
    conn.defineXML(to_string(cfg))
    return before


@changes
def restore_definition(conn: libvirt.virConnect, name: str, uuid: str, xml: str) -> bool:
    """Define `xml` (a config this domain had, as libvirt wrote it) again while the domain of that name still
    has this UUID; whether it was restored."""
    if not exists(conn, name) or lookup(conn, name).UUIDString() != uuid:
        return False
    conn.defineXML(xml)
    return True
