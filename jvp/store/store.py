"""The embedded metadata store: YAML files under the data dir.

Writes are atomic (temporary file in the same directory, fsync, rename, fsync of the directory) and
serialized across threads and processes with file locks (gunicorn runs several workers). Documents are
validated against `metadata_schema/` when read and when written; a corrupt or invalid file is reported with
its path (MetadataCorrupt), never dropped from a listing silently and never overwritten.

Services talk to the MetadataStore interface only, so another store (etcd) can take this one's place.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import yaml
from filelock import FileLock, Timeout as LockTimeout

from jvp.errors import Conflict, JvpError
from jvp.store.kinds import KINDS, Kind
from jvp.store.schemas import SchemaSet


class MetadataLocked(Conflict):
    code = "MetadataLocked"


class MetadataCorrupt(JvpError):
    """A metadata file that cannot be read or does not match its schema. 422: a precondition on the host."""
    code, status = "MetadataCorrupt", 422

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"metadata file {path} is corrupt or invalid: {reason}; fix or move it away "
                         "(JVP never overwrites it)", details={"path": str(path), "reason": reason})


@dataclass
class ListResult:
    items: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # [{path, code, message}]


class MetadataStore(Protocol):
    def get(self, kind: str, *key: str) -> dict[str, Any] | None: ...
    def put(self, kind: str, *key: str, doc: dict[str, Any]) -> dict[str, Any]: ...
    def create(self, kind: str, *key: str, doc: dict[str, Any]) -> bool: ...
    def update(self, kind: str, *key: str, fn: Callable[[dict | None], dict | None]) -> dict | None: ...
    def delete(self, kind: str, *key: str) -> bool: ...
    def list(self, kind: str) -> ListResult: ...
    def keys(self, kind: str) -> list[tuple[str, ...]]: ...
    def locked(self, kind: str, *key: str): ...
    def writable(self) -> bool: ...


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAFE_PART = __import__("re").compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class YamlMetadataStore:
    def __init__(self, root: str | Path, schema_dir: str | Path):
        self.root = Path(root)
        self.schemas = SchemaSet(schema_dir)
        self._lock_dir = self.root / ".locks"
        self._lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        missing = [k for k in KINDS if k not in self.schemas.current]
        if missing:
            raise RuntimeError(f"metadata_schema/ in {schema_dir} has no schema for: {', '.join(missing)}")

    # -- paths and locks ----------------------------------------------------------------------------
    def path(self, kind: str, *key: str) -> Path:
        for part in key:
            # Keys come from validated names; refuse anything that could leave its directory anyway.
            if not isinstance(part, str) or not _SAFE_PART.fullmatch(part) or ".." in part:
                raise ValueError(f"unsafe metadata key part: {part!r}")
        path = (self.root / KINDS[kind].path(*key)).resolve()
        if not str(path).startswith(str(self.root.resolve()) + os.sep):
            raise ValueError(f"metadata path escapes the data dir: {path}")
        return path

    LOCK_TIMEOUT_S = 30

    @contextmanager
    def _lock(self, path: Path) -> Iterator[None]:
        """The file's cross-process lock. A holder that keeps it past LOCK_TIMEOUT_S (a process stuck or
        frozen mid-write) is a 409 MetadataLocked for this caller (retry later), never a 500."""
        rel = str(path.relative_to(self.root.resolve()))
        digest = hashlib.sha256(rel.encode()).hexdigest()[:32]
        lock = FileLock(str(self._lock_dir / f"{digest}.lock"), timeout=self.LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except LockTimeout:
            raise MetadataLocked(f"the metadata file {rel} is held by another process for more than "
                                 f"{self.LOCK_TIMEOUT_S}s; try again later",
                                 details={"path": str(path), "timeout_s": self.LOCK_TIMEOUT_S}) from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def locked(self, kind: str, *key: str) -> Iterator[None]:
        """Hold the file's cross-process lock (for read-modify-write sequences beyond `update`)."""
        with self._lock(self.path(kind, *key)):
            yield

    # -- reading ------------------------------------------------------------------------------------
    def _read(self, kind: str, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MetadataCorrupt(path, f"cannot read: {exc.strerror}") from exc
        try:
            doc = yaml.load(text, Loader=_LOADER)  # libyaml's safe loader when built in: ~10x faster
        except yaml.YAMLError as exc:
            raise MetadataCorrupt(path, f"invalid YAML: {exc}".replace("\n", " ")) from exc
        if not isinstance(doc, dict):
            raise MetadataCorrupt(path, "the document is not a mapping")
        version = doc.get("schema_version")
        current = self.schemas.current[kind]
        if not isinstance(version, int) or isinstance(version, bool):
            raise MetadataCorrupt(path, "schema_version is missing or not an integer")
        if version > current:
            raise MetadataCorrupt(path, f"schema_version {version} is newer than this JVP knows ({current})")
        errors = self.schemas.errors(kind, version, doc)
        if errors:
            raise MetadataCorrupt(path, "; ".join(errors[:5]))
        if version < current:
            try:
                doc = self.schemas.migrate(kind, doc)
            except ValueError as exc:
                raise MetadataCorrupt(path, str(exc)) from exc
            errors = self.schemas.errors(kind, current, doc)
            if errors:
                raise MetadataCorrupt(path, "after migration: " + "; ".join(errors[:5]))
        return doc

    def get(self, kind: str, *key: str) -> dict[str, Any] | None:
        return self._read(kind, self.path(kind, *key))

    def list(self, kind: str) -> ListResult:
        result = ListResult()
        spec: Kind = KINDS[kind]
        for path in sorted(self.root.glob(spec.pattern)):
            rel = path.relative_to(self.root).parts
            try:
                doc = self._read(kind, path)
            except MetadataCorrupt as exc:
                result.errors.append({"path": str(path), "code": exc.code, "message": exc.message})
                continue
            if doc is not None:
                result.items.append((spec.key_of(rel), doc))
        return result

    def keys(self, kind: str) -> list[tuple[str, ...]]:
        """The keys of every file of a kind, without reading them (sorted by path)."""
        spec: Kind = KINDS[kind]
        return [spec.key_of(path.relative_to(self.root).parts) for path in sorted(self.root.glob(spec.pattern))]

    # -- writing ------------------------------------------------------------------------------------
    def _prepare(self, kind: str, path: Path, doc: dict[str, Any]) -> dict[str, Any]:
        doc = {"schema_version": self.schemas.current[kind],
               **{k: v for k, v in doc.items() if k != "schema_version"}}
        errors = self.schemas.errors(kind, doc["schema_version"], doc)
        if errors:
            # A bug in JVP, not bad input: the service built a document its own schema refuses.
            raise JvpError(f"refusing to write invalid {kind} metadata to {path}: {'; '.join(errors[:5])}",
                           code="MetadataInvalid", status=500, details={"path": str(path)})
        return doc

    def _write(self, kind: str, path: Path, doc: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if KINDS[kind].private else 0o755)
        data = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600 if KINDS[kind].private else 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def put(self, kind: str, *key: str, doc: dict[str, Any]) -> dict[str, Any]:
        path = self.path(kind, *key)
        doc = self._prepare(kind, path, doc)
        with self._lock(path):
            self._write(kind, path, doc)
        return doc

    def create(self, kind: str, *key: str, doc: dict[str, Any]) -> bool:
        """Write only if no file exists yet; False when one does (checked under the lock)."""
        path = self.path(kind, *key)
        doc = self._prepare(kind, path, doc)
        with self._lock(path):
            if path.exists():
                return False
            self._write(kind, path, doc)
        return True

    def update(self, kind: str, *key: str, fn: Callable[[dict | None], dict | None]) -> dict | None:
        """Read-modify-write under the lock. `fn` gets the current document (or None) and returns the new
        one, or None to leave the file as it is. A corrupt file raises MetadataCorrupt and stays untouched."""
        path = self.path(kind, *key)
        with self._lock(path):
            current = self._read(kind, path)
            new = fn(current)
            if new is None:
                return current
            new = self._prepare(kind, path, new)
            self._write(kind, path, new)
            return new

    def delete(self, kind: str, *key: str) -> bool:
        path = self.path(kind, *key)
        with self._lock(path):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        # Remove now-empty per-object directories (templates live in metadata/<node>/<name>/).
        if KINDS[kind].own_dir:
            try:
                path.parent.rmdir()
            except OSError:
                pass  # something else lives there too; keep it
        return True

    def writable(self) -> bool:
        probe = self.root / f".probe-{os.getpid()}"
        try:
            probe.write_text("ok")
            probe.unlink()
            return True
        except OSError:
            return False
