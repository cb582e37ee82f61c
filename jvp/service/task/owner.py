"""Who owns a task: the process identity stored in a task record (host name, boot id, pid, process start
time), and whether that process still runs. Used by the task service to tell a live worker's task from one
whose process died (start-up recovery, and reads while other workers live)."""
from __future__ import annotations

import os
import socket
from typing import Any


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc/<pid>/stat, or None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None


def proc_start_time(pid: int) -> str | None:
    stat = proc_stat(pid)
    return stat[1] if stat else None


_BOOT_ID: list[str | None] = []  # read once: the machine's boot id does not change while a process runs


def boot_id() -> str | None:
    if _BOOT_ID:
        return _BOOT_ID[0]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            _BOOT_ID.append(fh.read().strip() or None)
    except OSError:
        return None
    return _BOOT_ID[0]


_THIS: dict[int, dict[str, Any]] = {}  # pid -> this_process() (a forked child has its own pid: computed anew)


def this_process() -> dict[str, Any]:
    pid = os.getpid()
    me = _THIS.get(pid)
    if me is None:
        me = _THIS[pid] = {"host": socket.gethostname(), "boot": boot_id(), "pid": pid,
                           "start": proc_start_time(pid)}
    return dict(me)


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """Whether the process that owns a task still runs: same host name, same boot, the pid exists and
    started when the task's owner did (a reused pid is another process)."""
    if not owner:
        return False
    if owner == _THIS.get(os.getpid()):
        return True  # this very process (the common case: a worker reading its own running task)
    if owner.get("host") != socket.gethostname():
        return True  # another controller's task (shared store): not ours to judge
    if owner.get("boot") and boot_id() and owner["boot"] != boot_id():
        return False  # the machine rebooted since
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = proc_stat(pid)
    # A killed worker whose parent died too stays a zombie until something reaps it (a container's PID 1 may
    # never do so): it runs nothing any more.
    return stat is not None and stat[0] not in ("Z", "X", "x") and stat[1] == owner.get("start")
