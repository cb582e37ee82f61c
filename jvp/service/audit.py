"""The audit log: one JSON line per mutating action in audit/audit-YYYY-MM.jsonl, append-only.

Secrets (passwords, private keys, user-data, tokens) are redacted before anything is written, and so are
the secrets URLs carry: in any string value that is a URL (`scheme://...`: template sources, checksum URLs,
node URIs), each query value becomes `***` while its key stays (`?X-Amz-Signature=***&token=***`: the entry
still shows which parameters were sent), a query part without `=` and a fragment become `***`, and the
user info is hidden (`https://***@host/...`; in a libvirt URI only a password: `qemu+ssh://root@host/system`
keeps its ssh login). Scheme, host, port and path are kept, so the entry still says what was fetched.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from jvp.images.urls import redact_values
from jvp.store import FILE_MODE, private_dirs, private_lock
from jvp.store.schemas import SchemaSet
from jvp.timeutil import now, parse_rfc3339, rfc3339

SECRET_KEYS = {"password", "passwd", "private_key", "user_data", "token", "secret", "passphrase",
               "ssh_private_key", "api_key", "content"}
REDACTED = "***"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SURROGATE = re.compile("[\ud800-\udfff]")


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

    def _file(self, month: str) -> Path:
        return self.dir / f"audit-{month}.jsonl"

    def record(self, *, request_id: str, action: str, token_name: str | None, role: str | None,
               target: dict[str, Any] | None, params: dict[str, Any] | None, outcome: str, status: int,
               error_code: str | None, duration_ms: float, remote_addr: str | None) -> dict[str, Any]:
        stamp = now()
        entry = {"schema_version": self.schemas.current.get("audit_event", 1), "time": rfc3339(stamp),
                 "request_id": request_id, "token_name": token_name, "role": role, "action": action,
                 "target": target, "params": redact(params) if params else None, "outcome": outcome,
                 "status": status, "error_code": error_code, "duration_ms": round(duration_ms, 2),
                 "remote_addr": remote_addr}
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
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

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
        since_dt = parse_rfc3339(since) if since else None
        out = []
        for entry in self._lines_newest_first():
            if since_dt and parse_rfc3339(entry["time"]) < since_dt:
                break
            if action and entry["action"] != action:
                continue
            if outcome and entry["outcome"] != outcome:
                continue
            if target and target not in {v for k, v in (entry.get("target") or {}).items() if k != "kind"}:
                continue
            out.append({k: v for k, v in entry.items() if k != "schema_version"})
            if len(out) >= limit:
                break
        return out
