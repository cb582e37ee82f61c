"""The audit log: one JSON line per mutating action in audit/audit-YYYY-MM.jsonl, append-only.

Secrets (passwords, private keys, user-data, tokens) are redacted before anything is written, and so are
the secrets URLs carry: in any string value that is a URL (`scheme://...`: template sources, checksum URLs,
node URIs), each query value becomes `***` while its key stays (`?X-Amz-Signature=***&token=***`: the entry
still shows which parameters were sent), a query part without `=` and a fragment become `***`, and the
user info is hidden (`https://***@host/...`; in a libvirt URI only a password: `qemu+ssh://root@host/system`
keeps its ssh login). Scheme, host, port and path are kept, so the entry still says what was fetched.

Tasks: the line of a request that started a task (a 202) names it in `task_id`. When the task ends, one more
line is appended, `entry: task_outcome`, with the request's `request_id` and `action`, the `task_id`, its
`task_state` (succeeded, failed, cancelled) and `error_code`: the log stays append-only (no line is ever
rewritten). `list()` folds each outcome into its request's entry (`task_state`, `task_error_code`,
`task_finished_at`) and does not list the outcome lines themselves; the events stream passes them on as they
come (a client updates the row of the same request_id).
"""
from __future__ import annotations

import json
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

from jvp.images.urls import redact_values
from jvp.store import FILE_MODE, private_dirs, private_lock
from jvp.store.schemas import SchemaSet
from jvp.timeutil import now, parse_rfc3339, rfc3339

SECRET_KEYS = {"password", "passwd", "private_key", "user_data", "token", "secret", "passphrase",
               "ssh_private_key", "api_key", "content"}
REDACTED = "***"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SURROGATE = re.compile("[\ud800-\udfff]")
TASK_FINAL = ("succeeded", "failed", "cancelled")
# how many lines past a listing's last entry are read for the outcome of a task that ended before its
# request's line was written (a task can end within the request: its outcome line then comes first)
OUTCOME_LOOKAHEAD = 200


def _valid_unicode(value: Any) -> Any:
    """A copy with lone UTF-16 surrogates (from a refused request's "\\ud800" escapes) replaced by U+FFFD: the
    log and list-audit-events' answers stay valid Unicode JSON that any client can decode."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """A copy of a request with secret values replaced (at any depth), URLs' queries and credentials too."""
    if isinstance(value, dict):
        return {k: (REDACTED if k.lower() in SECRET_KEYS and v not in (None, "") else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and _URL.match(value) and ("?" in value or "@" in value or "#" in value):
        return redact_values(value)
    return value


class AuditLog:
    def __init__(self, data_dir: str | Path, schemas: SchemaSet):
        self.dir = Path(data_dir) / "audit"
        private_dirs(self.dir)
        self.schemas = schemas
        self._syncer: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): made again in a forked child
        self._syncer_lock = threading.Lock()

    def _file(self, month: str) -> Path:
        return self.dir / f"audit-{month}.jsonl"

    def record(self, *, request_id: str, action: str, token_name: str | None, role: str | None,
               target: dict[str, Any] | None, params: dict[str, Any] | None, outcome: str, status: int,
               error_code: str | None, duration_ms: float, remote_addr: str | None,
               task_id: str | None = None) -> dict[str, Any]:
        entry = {"entry": "request", "request_id": request_id, "token_name": token_name, "role": role,
                 "action": action, "target": target, "params": redact(params) if params else None,
                 "outcome": outcome, "status": status, "error_code": error_code,
                 "duration_ms": round(duration_ms, 2), "remote_addr": remote_addr, "task_id": task_id}
        return self._append(entry)

    def record_task_outcome(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """Append the final state of a task started by an audited request, durable when this returns.
        Tasks without a request id (started by JVP itself) have no request entry: nothing is written."""
        fields = self._outcome_fields(task)
        return None if fields is None else self._append(fields)

    def task_outcome_hook(self, task: dict[str, Any]) -> Callable[[], None] | None:
        """TaskService's on_final hook: the outcome line (record_task_outcome) is written (every reader sees it
        from now on) and its fsync started on a thread of its own; the answer waits for that fsync. The task
        service calls it after the final record's new file is written and synced and before that file
        replaces the old one (store.update's `before_replace`): the two fsyncs run at once (one journal commit
        on ext4 instead of two in a row), and a task never reads as ended, on disk or after a crash of the
        machine, without its outcome line."""
        fields = self._outcome_fields(task)
        if fields is None:
            return None
        _, synced = self._append(fields, sync=False)
        return synced.result

    @staticmethod
    def _outcome_fields(task: dict[str, Any]) -> dict[str, Any] | None:
        if not task.get("request_id") or task.get("state") not in TASK_FINAL:
            return None
        error = task.get("error") or {}
        return {
            "entry": "task_outcome", "request_id": task["request_id"], "token_name": task.get("created_by"),
            "action": task.get("kind") or "task", "target": task.get("resource"),
            "outcome": "ok" if task["state"] == "succeeded" else "error",
            "error_code": error.get("code") if task["state"] == "failed" else None,
            "task_id": task["id"], "task_state": task["state"]}

    def _syncing(self) -> ThreadPoolExecutor:
        pid = os.getpid()
        with self._syncer_lock:
            if self._syncer is None or self._syncer[0] != pid:
                self._syncer = (pid, ThreadPoolExecutor(max_workers=2, thread_name_prefix="audit-sync"))
            return self._syncer[1]

    def _append(self, fields: dict[str, Any], sync: bool = True):
        """Append one line. `sync`: fsynced before this returns (the entry is returned); otherwise
        (entry, future) with the fsync running on the audit's own thread (the future fails as the fsync does)."""
        stamp = now()
        entry = {"schema_version": self.schemas.current.get("audit_event", 1), "time": rfc3339(stamp), **fields}
        errors = self.schemas.errors("audit_event", entry["schema_version"], entry)
        if errors:
            raise ValueError(f"invalid audit entry: {errors}")
        entry = _valid_unicode(entry)
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        path = self._file(stamp.strftime("%Y-%m"))
        with private_lock(self.dir / ".audit.lock", 30):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.write(fd, line.encode("utf-8"))
                if sync:
                    os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
        if sync:
            os.close(fd)
            return entry

        def fsync() -> None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            synced: Future[None] = self._syncing().submit(fsync)
        except BaseException:  # no thread to be had (shutting down): synced here
            fsync()
            synced = Future()
            synced.set_result(None)
        return entry, synced

    # -- following the log (the events stream: entries any worker process writes) ----------------------------
    def end(self) -> tuple[str, int]:
        """Where the log ends now: (file name, size); read_after(end()) gives what is written after this."""
        files = sorted(self.dir.glob("audit-*.jsonl"))
        if not files:
            return ("", 0)
        try:
            return (files[-1].name, files[-1].stat().st_size)
        except FileNotFoundError:
            return ("", 0)

    def read_after(self, position: tuple[str, int]) -> tuple[list[dict[str, Any]], tuple[str, int]]:
        """The entries written after `position` (oldest first) and the new position. Only whole lines are
        read (an entry is one write of one line, but a reader may meet it half-way); a new month's file is
        read from its start."""
        name, offset = position
        out: list[dict[str, Any]] = []
        for path in sorted(self.dir.glob("audit-*.jsonl")):
            if path.name < name:
                continue
            start = offset if path.name == name else 0
            try:
                if path.stat().st_size <= start:
                    name, offset = path.name, start
                    continue
                with open(path, "rb") as fh:
                    fh.seek(start)
                    data = fh.read()
            except FileNotFoundError:
                continue
            whole = data[:data.rfind(b"\n") + 1]
            for line in whole.splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn line after a crash
                out.append({k: v for k, v in entry.items() if k != "schema_version"})
            name, offset = path.name, start + len(whole)
        return out, (name, offset)

    def _lines_newest_first(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.dir.glob("audit-*.jsonl"), reverse=True):
            with open(path, encoding="utf-8") as fh:
                lines = fh.readlines()
            for line in reversed(lines):
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    # A torn last line after a crash: skip it rather than hide the rest of the log.
                    continue

    def list(self, *, since: str | None = None, action: str | None = None, target: str | None = None,
             outcome: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Request entries, newest first, each with its task's outcome folded in (`task_state`: null while the
        task runs; `task_error_code`, `task_finished_at`). `outcome` filters on the request's outcome."""
        since_dt = parse_rfc3339(since) if since else None
        out: list[dict[str, Any]] = []
        outcomes: dict[tuple[str, str], dict[str, Any]] = {}  # (request_id, task_id) -> its outcome line
        waiting: dict[tuple[str, str], dict[str, Any]] = {}  # listed entries whose outcome is not seen yet
        lookahead = None
        for entry in self._lines_newest_first():
            if lookahead is not None:  # the listing is complete: only outcomes written before their request
                lookahead -= 1
                if lookahead < 0 or not waiting:
                    break
            if entry.get("entry") == "task_outcome":
                key = (entry["request_id"], entry.get("task_id"))
                if key in waiting:
                    _fold(waiting.pop(key), entry)
                else:
                    outcomes.setdefault(key, entry)  # the newest outcome line of a task counts
                continue
            if lookahead is not None:
                continue
            if since_dt and parse_rfc3339(entry["time"]) < since_dt:
                lookahead = OUTCOME_LOOKAHEAD
                continue
            if action and entry["action"] != action:
                continue
            if outcome and entry["outcome"] != outcome:
                continue
            if target and target not in {v for k, v in (entry.get("target") or {}).items() if k != "kind"}:
                continue
            item = {k: v for k, v in entry.items() if k not in ("schema_version", "entry")}
            item.setdefault("task_id", None)
            item.update(task_state=None, task_error_code=None, task_finished_at=None)
            if item["task_id"]:
                key = (item["request_id"], item["task_id"])
                if key in outcomes:
                    _fold(item, outcomes.pop(key))
                else:
                    waiting[key] = item
            out.append(item)
            if len(out) >= limit:
                lookahead = OUTCOME_LOOKAHEAD
        return out


def _fold(item: dict[str, Any], outcome: dict[str, Any]) -> None:
    item.update(task_state=outcome.get("task_state"), task_error_code=outcome.get("error_code"),
                task_finished_at=outcome.get("time"))
