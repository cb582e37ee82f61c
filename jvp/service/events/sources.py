"""Where the events stream's task and audit messages come from: files under the data dir that any worker
process writes (tasks/<id>.yaml, audit/audit-YYYY-MM.jsonl), watched by stat at a short interval.

Tasks: the store writes a task's file by rename, so every change gives the file a new (inode, mtime, size)
and the tasks directory a new mtime. A round stats the directory and scans its files only when the directory
changed, or changed less than RECENT_NS ago (file times are taken from a coarse clock: two renames within
one tick leave the same mtime), or SAFETY_SCAN_S passed; a scan re-reads the files whose stamp changed and
reports a task whose (state, progress, message) differs from what was seen. A task is never reported in a
state older than one already reported, and its final state is always reported: a finished task's file changes
after that only for its cleanup list, and a task that started and finished between two rounds is read once,
final. Reading stays cheap: one stat per round while nothing moves, one stat per task file when something did.

Audit: the log is appended one whole line per entry; the follower keeps its (file, offset) and reads what
was added (whole lines only; a new month's file from its start).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from jvp.domain.task import ACTIVE
from jvp.service.audit import AuditLog
from jvp.store import MetadataStore
from jvp.store.interface import MetadataCorrupt

log = logging.getLogger(__name__)
RECENT_NS = 1_000_000_000
SAFETY_SCAN_S = 5.0
_Stamp = tuple[int, int, int]


def task_message(doc: dict[str, Any]) -> dict[str, Any]:
    """A task record as the stream's `task` message (without the time, added by the hub)."""
    resource = doc.get("resource") or {}
    msg: dict[str, Any] = {"type": "task", "id": doc["id"], "action": doc["kind"], "state": doc["state"],
                           "progress": doc.get("progress"), "message": doc.get("message")}
    if resource.get("node"):
        msg["node"] = resource["node"]
    msg["resource"] = resource
    if doc.get("error"):
        err = doc["error"]
        msg["error"] = {"code": err.get("code"), "message": err.get("message")}
    msg["created_by"] = doc.get("created_by")
    return msg


class TaskFollower:
    def __init__(self, store: MetadataStore):
        self.store = store
        path_of = getattr(store, "path")
        self.dir: Path = path_of("task", "0").parent
        self._known: dict[str, tuple[_Stamp, tuple[Any, ...] | None]] = {}
        self._dir_stamp: int | None = None
        self._last_full = 0.0

    def baseline(self) -> None:
        """Remember every task file's stamp as it is now (nothing read, nothing reported): the stream reports
        what changes after."""
        self._known = {}
        self._scan(report=False)

    def poll(self) -> list[dict[str, Any]]:
        """The task records that changed since the last round (oldest change first, by task)."""
        try:
            mtime = os.stat(self.dir).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        now = time.monotonic()
        recent = mtime is not None and time.time_ns() - mtime < RECENT_NS
        safety = now - self._last_full >= SAFETY_SCAN_S
        if mtime == self._dir_stamp and not recent and not safety:
            return []
        return self._scan(report=True, reread_active=safety)

    def _scan(self, report: bool, reread_active: bool = False) -> list[dict[str, Any]]:
        """reread_active: read open tasks even when their stamp did not change (a stamp can repeat: a freed
        inode number reused within one clock tick for a file of the same size)."""
        if reread_active or not report:
            self._last_full = time.monotonic()
        try:
            self._dir_stamp = os.stat(self.dir).st_mtime_ns
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            self._dir_stamp = None
            entries = []
        changed: list[dict[str, Any]] = []
        seen = set()
        for entry in entries:
            name = entry.name
            if not name.endswith(".yaml") or name.startswith("."):
                continue
            task_id = name[:-5]
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            seen.add(task_id)
            known = self._known.get(task_id)
            if known is not None and known[0] == stamp and not (
                    reread_active and known[1] is not None and known[1][0] in ACTIVE):
                continue
            if not report:
                self._known[task_id] = (stamp, None)  # the baseline: its content matters once it changes
                continue
            try:
                doc = self.store.get("task", task_id)
            except (MetadataCorrupt, ValueError) as exc:
                log.debug("events: task file %s unreadable: %s", name, exc)
                continue
            if doc is None:
                continue
            summary = (doc["state"], doc.get("progress"), doc.get("message"))
            old = known[1] if known else None
            if old is not None and old[0] not in ACTIVE and summary[0] in ACTIVE:
                summary = old  # never report an older state than one already reported
            self._known[task_id] = (stamp, summary)
            if summary != old:
                changed.append(task_message(doc))
        for gone in [t for t in self._known if t not in seen]:
            del self._known[gone]
        changed.sort(key=lambda m: m["id"])
        return changed


class AuditFollower:
    def __init__(self, audit: AuditLog):
        self.audit = audit
        self._position: tuple[str, int] = ("", 0)

    def baseline(self) -> None:
        self._position = self.audit.end()

    def poll(self) -> list[dict[str, Any]]:
        entries, self._position = self.audit.read_after(self._position)
        out = []
        for entry in entries:
            msg = {"type": "audit", **entry}
            node = (entry.get("target") or {}).get("node")
            if node:
                msg["node"] = node
            out.append(msg)
        return out
