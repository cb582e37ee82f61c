"""libvirt's domain states and reasons as JVP shows them: the one mapping every listing, description and count
uses (list-vms, describe-vm, describe-node-vms, list-nodes' vm_counts), so they cannot disagree.

`state` is a small stable set (jvp.domain.vm.STATES); `state_reason` is libvirt's reason for it, spelled as
libvirt's enum names in lower case with '-' (e.g. paused/`ioerror`, stopped/`destroyed`, crashed/`panicked`).

- RUNNING -> running; BLOCKED -> running with state_reason `blocked` (a vCPU waits on a resource: the guest
  runs, and the actions of a running VM apply);
- PAUSED -> paused; SHUTDOWN -> shutting-down; SHUTOFF -> stopped; CRASHED -> crashed (the QEMU process may
  still be there, kept for a dump: stop-vm with force and start-vm both work);
- PMSUSPENDED -> pmsuspended (the guest suspended itself to RAM or disk: resume-vm wakes it; not `paused`,
  which is JVP's suspend-vm);
- NOSTATE and any state a newer libvirt adds -> unknown.
"""
from __future__ import annotations

from typing import Any

import libvirt

from jvp.hypervisor import support

RUNNING, PAUSED, STOPPED, SHUTTING_DOWN, CRASHED, PMSUSPENDED, UNKNOWN = (
    "running", "paused", "stopped", "shutting-down", "crashed", "pmsuspended", "unknown")

_STATE = {libvirt.VIR_DOMAIN_NOSTATE: UNKNOWN, libvirt.VIR_DOMAIN_RUNNING: RUNNING,
          libvirt.VIR_DOMAIN_BLOCKED: RUNNING, libvirt.VIR_DOMAIN_PAUSED: PAUSED,
          libvirt.VIR_DOMAIN_SHUTDOWN: SHUTTING_DOWN, libvirt.VIR_DOMAIN_SHUTOFF: STOPPED,
          libvirt.VIR_DOMAIN_CRASHED: CRASHED, libvirt.VIR_DOMAIN_PMSUSPENDED: PMSUSPENDED}

# libvirt's reason enums per state (virDomainRunningReason, virDomainPausedReason, ...), by number: the
# numbers are libvirt's stable ABI, a number a newer libvirt adds shows as `unknown`.
_REASONS: dict[int, tuple[str, ...]] = {
    libvirt.VIR_DOMAIN_RUNNING: ("unknown", "booted", "migrated", "restored", "from-snapshot", "unpaused",
                                 "migration-canceled", "save-canceled", "wakeup", "crashed", "postcopy",
                                 "postcopy-failed"),
    libvirt.VIR_DOMAIN_BLOCKED: ("blocked",),
    libvirt.VIR_DOMAIN_PAUSED: ("unknown", "user", "migration", "save", "dump", "ioerror", "watchdog",
                                "from-snapshot", "shutting-down", "snapshot", "crashed", "starting-up",
                                "postcopy", "postcopy-failed", "api-error"),
    libvirt.VIR_DOMAIN_SHUTDOWN: ("unknown", "user"),
    libvirt.VIR_DOMAIN_SHUTOFF: ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                                 "from-snapshot", "daemon"),
    libvirt.VIR_DOMAIN_CRASHED: ("unknown", "panicked"),
    libvirt.VIR_DOMAIN_PMSUSPENDED: ("unknown",),
}


def state_name(state: int) -> str:
    return _STATE.get(state, UNKNOWN)


def reason_name(state: int, reason: int | None) -> str | None:
    """libvirt's reason for the state; None when libvirt gave none. BLOCKED has only one: `blocked`."""
    names = _REASONS.get(state)
    if names is None or reason is None:
        return None
    if state == libvirt.VIR_DOMAIN_BLOCKED:
        return "blocked"
    return names[reason] if 0 <= reason < len(names) else "unknown"


def of(state: int, reason: int | None) -> tuple[str, str | None]:
    """(state, state_reason) as JVP shows them."""
    return state_name(state), reason_name(state, reason)


def of_domain(dom: libvirt.virDomain) -> tuple[str, str | None]:
    st, reason = dom.state()
    return of(st, reason)


def bulk_stats(conn: libvirt.virConnect, groups: int) -> list[tuple[libvirt.virDomain, dict[str, Any]]]:
    """Every domain with its stats of `groups` (getAllDomainStats), or, on a driver without bulk stats, every
    domain with only its state (`state.state`, `state.reason`: one state call per domain; one undefined
    meanwhile is left out)."""
    try:
        return conn.getAllDomainStats(groups, 0)
    except libvirt.libvirtError as exc:
        if not support.lacks("bulk_domain_stats", exc):
            raise
    stats = []
    for dom in conn.listAllDomains(0):
        try:
            stats.append((dom, dict(zip(("state.state", "state.reason"), dom.state()))))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return stats


def counts(conn: libvirt.virConnect) -> tuple[int, int]:
    """(running, total) with the mapping above: `running` equals what list-vms state=running lists. One bulk
    stats call when the driver has it, else one state call per domain."""
    states = [st.get("state.state", libvirt.VIR_DOMAIN_NOSTATE)
              for _dom, st in bulk_stats(conn, libvirt.VIR_DOMAIN_STATS_STATE)]
    return sum(1 for s in states if state_name(s) == RUNNING), len(states)
