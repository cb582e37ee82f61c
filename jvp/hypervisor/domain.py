"""Domains through libvirt: define/start, power actions, state and the raw XML.

What the node offers guests (figures, domain types, domain capabilities) is in host_caps.py; device changes,
modify and delete are in domain_devices.py; listing (list-vms' rows) and describing (describe-vm's view, the
volumes behind a domain's disks) are in domain_describe.py. Every call takes the node's connection, so
the same code serves local and remote nodes.
"""
from __future__ import annotations

import time
from typing import Any

import libvirt
from lxml import etree

from jvp.domain.vm import GONE
from jvp.hypervisor import domain_state, support
from jvp.hypervisor.domain_cache import changes
from jvp.hypervisor.ref_index import INDEX
from jvp.hypervisor.domain_xml import RUNTIME_NS, runtime_element
from jvp.hypervisor.xml import parse

AGENT_CHANNEL = "org.qemu.guest_agent.0"


def lookup(conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
    return conn.lookupByName(name)


def exists(conn: libvirt.virConnect, name: str) -> bool:
    try:
        conn.lookupByName(name)
        return True
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise


def root_of(dom: libvirt.virDomain, inactive: bool = False) -> etree._Element:
    return parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0))


def state_of(dom: libvirt.virDomain) -> str:
    return domain_state.state_name(dom.state()[0])


def state(conn: libvirt.virConnect, name: str) -> str:
    return state_of(lookup(conn, name))


def xml(conn: libvirt.virConnect, name: str) -> dict[str, Any]:
    dom = lookup(conn, name)
    inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if dom.isPersistent() else None
    return {"xml": dom.XMLDesc(0), "inactive_xml": inactive}


def macs_in_use(conn: libvirt.virConnect) -> dict[str, str]:
    """MAC -> domain name, over every domain's live and persistent config (the reference index's entries)."""
    used: dict[str, str] = {}
    for dom in INDEX.domains(conn):
        for mac in dom.macs:
            used.setdefault(mac, dom.name)
    return used



# -- define and power ----------------------------------------------------------------------------------
def define(conn: libvirt.virConnect, xml: str) -> str:
    """Define a new persistent domain; returns its UUID. The reference index reads it at its next use,
    without waiting for libvirt's `defined` event (as `changes` does for JVP's other changes)."""
    uuid = conn.defineXML(xml).UUIDString()
    INDEX.forget(conn, uuid)
    return uuid


def set_autostart(conn: libvirt.virConnect, name: str, on: bool) -> None:
    lookup(conn, name).setAutostart(1 if on else 0)


def _mark_started(dom: libvirt.virDomain, started_at: str) -> None:
    """Live-only metadata: when JVP powered the domain on (uptime); gone when the domain stops."""
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, runtime_element(started_at), "jvprt", RUNTIME_NS,
                        libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        if not support.lacks("domain_metadata", exc):
            raise


@changes
def start(conn: libvirt.virConnect, name: str, started_at: str) -> str:
    """Power the domain on. A crashed domain whose QEMU process libvirt kept (on_crash preserve, or a driver
    that keeps it active) is powered off first: starting it is the way out of `crashed`."""
    dom = lookup(conn, name)
    if dom.state()[0] == libvirt.VIR_DOMAIN_CRASHED and dom.isActive():
        dom.destroy()
    dom.create()
    _mark_started(dom, started_at)
    return state_of(dom)


@changes
def power(conn: libvirt.virConnect, name: str, action: str) -> str:
    """shutdown (ACPI/agent request, returns at once), destroy, reboot, reset, suspend, resume, wakeup (of a
    pm-suspended guest). The state reached; `gone` when the domain no longer exists afterwards (a transient
    domain that stopped)."""
    dom = lookup(conn, name)
    if action == "shutdown":
        dom.shutdown()
    elif action == "destroy":
        dom.destroy()
    elif action == "reboot":
        dom.reboot(0)
    elif action == "reset":
        dom.reset(0)
    elif action == "suspend":
        dom.suspend()
    elif action == "resume":
        dom.resume()
    elif action == "wakeup":
        dom.pMWakeup(0)
    else:  # pragma: no cover - the service only passes the names above
        raise ValueError(action)
    return state_or_gone(dom)


def state_or_gone(dom: libvirt.virDomain) -> str:
    """The domain's state, or `gone` when it vanished (a transient domain is removed when it stops)."""
    try:
        return state_of(dom)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return GONE
        raise


def wait_stopped(conn: libvirt.virConnect, name: str, timeout_s: float, poll_s: float = 0.5) -> tuple[str, float]:
    """Poll until the domain is off (or gone: a transient domain) or the time is up; (state reached, seconds
    waited)."""
    try:
        dom = lookup(conn, name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return GONE, 0.0  # a transient domain that stopped before the first poll
        raise
    t0 = time.monotonic()
    while True:
        st = state_or_gone(dom)
        if st in ("stopped", "crashed", GONE) or time.monotonic() - t0 >= timeout_s:
            return st, round(time.monotonic() - t0, 1)
        time.sleep(poll_s)


def agent_connected(root: etree._Element) -> bool | None:
    """From the live XML: the agent channel's state (None when the VM has no agent channel)."""
    for ch in root.findall("devices/channel/target"):
        if ch.get("name") == AGENT_CHANNEL:
            return ch.get("state") == "connected" if ch.get("state") else None
    return None


def has_agent_channel(root: etree._Element) -> bool:
    return any(ch.get("name") == AGENT_CHANNEL for ch in root.findall("devices/channel/target"))
