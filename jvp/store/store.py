"""The embedded metadata store: YAML files under the data dir.

Writes are atomic (temporary file in the same directory, fsync, rename, fsync of the directory; `update`
with durable=False skips the last step, for a change a crash of the machine may undo) and serialized
across threads and processes with file locks (gunicorn runs several workers). Each process keeps the last
text it read or wrote of each file with its document: reading the same text again costs no parse and no
validation. Documents are
validated against `metadata_schema/` when read and when written; a corrupt or invalid file is reported with
its path (MetadataCorrupt), never dropped from a listing silently and never overwritten.

Every write is checked before it replaces the old file: the new text is loaded back with the loader reads use,
must equal the document and validate against its schema (a lone UTF-16 surrogate, for one, dumps fine and then
cannot be parsed). A document that would not read back is refused (MetadataInvalid) and the old file stays: a
file JVP writes is always a file JVP can read. The data dir is private: directories 0700, files (metadata, locks)
0600, whatever the umask. `jvp doctor` lists the files that cannot be read and moves them aside with `--fix`.

Services talk to the MetadataStore interface only, so another store (etcd) can take this one's place.
The interface, its ListResult and its errors are in jvp/store/interface.py, the data dir's modes in datadir.py, the
per-file locks in record_locks.py (RecordLocks), parsing and serializing in codec.py (DocumentCodec).
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from jvp.store.codec import DocumentCodec
from jvp.store.datadir import private_dirs
from jvp.store.interface import ListResult, MetadataCorrupt, safe_key
from jvp.store.kinds import KINDS, Kind
from jvp.store.locks import FILE_MODE
from jvp.store.record_locks import RecordLocks
from jvp.store.schemas import SchemaSet

PARSED_CACHE_SIZE = 512  # files whose last text and document are kept (a read of an unchanged file: no parse)


# keys() answers a directory's names again without listing it while the directory's inode, mtime and size are
# those it had when they were read (every file created, renamed into place, e.g. each write, or removed there
# changes the directory's mtime). A listing is kept only once the directory's mtime is this much in the past:
# file systems stamp times at a coarse granularity (a kernel tick, a second on some), so a change right after
# a listing could carry the same mtime as the state listed; two seconds after the last change, any new change
# stamps a later time. The node listing (list-nodes, every placement) reads the nodes directory per request.
KEYS_SETTLED_NS = 2_000_000_000


class YamlMetadataStore(RecordLocks, DocumentCodec):
    def __init__(self, root: str | Path, schema_dir: str | Path):
        self.root = Path(root)
        self.schemas = SchemaSet(schema_dir)
        self._lock_dir = self.root / ".locks"
        private_dirs(self._lock_dir)
        # the data dir's real path, resolved once (path() runs on every request: token and node lookups)
        self._real_root = os.path.realpath(self.root) + os.sep
        # path -> (kind, text, document): the last text this process read or wrote there and the document it
        # gives. A read finding the same text again returns a copy of that document without parsing or
        # validating it again (same text, same schemas: same document). Keyed by the content itself, not by
        # mtime or inode, so a change by another process is never missed.
        self._parsed: OrderedDict[str, tuple[str, str, dict[str, Any]]] = OrderedDict()
        self._parsed_lock = threading.Lock()
        # keys(): a one-directory kind's names, with the directory's (inode, mtime, size) when they were read;
        # see KEYS_SETTLED_NS
        self._dir_keys: dict[str, tuple[tuple[int, int, int], tuple[tuple[str, ...], ...]]] = {}
        self._dir_paths: dict[str, str] = {}
        missing = [k for k in KINDS if k not in self.schemas.current]
        if missing:
            raise RuntimeError(f"metadata_schema/ in {schema_dir} has no schema for: {', '.join(missing)}")

    # -- paths --------------------------------------------------------------------------------------
    def path(self, kind: str, *key: str) -> Path:
        for part in key:
            # Keys come from validated names; refuse anything that could leave its directory anyway.
            if not safe_key(part):
                raise ValueError(f"unsafe metadata key part: {part!r}")
        path = Path(os.path.realpath(self.root / KINDS[kind].path(*key)))
        if not str(path).startswith(self._real_root):
            raise ValueError(f"metadata path escapes the data dir: {path}")
        return path

    # -- reading ------------------------------------------------------------------------------------
    def _read(self, kind: str, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MetadataCorrupt(path, f"cannot read: {exc.strerror}") from exc
        key = str(path)
        with self._parsed_lock:
            known = self._parsed.get(key)
        if known is not None and known[0] == kind and known[1] == text:
            return _copy(known[2])
        doc = self._parse(kind, path, text)
        self._remember(key, kind, text, doc)
        return doc

    def _remember(self, key: str, kind: str, text: str, doc: dict[str, Any]) -> None:
        entry = (kind, text, _copy(doc))  # a copy: the caller may change the document it got
        with self._parsed_lock:
            self._parsed[key] = entry
            self._parsed.move_to_end(key)
            while len(self._parsed) > PARSED_CACHE_SIZE:
                self._parsed.popitem(last=False)

    def _forget(self, key: str) -> None:
        with self._parsed_lock:
            self._parsed.pop(key, None)

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
        directory, _, name = spec.pattern.rpartition("/")
        if name == "*.yaml" and not any(c in directory for c in "*?["):
            # one directory of <key>.yaml files (tasks: up to the retention count, read by every busy check
            # before a new task): its names alone, as the glob below would give them, ~10x faster
            path = self._dir_paths.get(directory)
            if path is None:
                path = self._dir_paths[directory] = os.fspath(self.root / directory)
            try:
                st = os.stat(path)
                sig = (st.st_ino, st.st_mtime_ns, st.st_size)
                kept = self._dir_keys.get(directory)
                if kept is not None and kept[0] == sig:
                    return list(kept[1])
                with os.scandir(path) as entries:
                    names = sorted(e.name for e in entries if e.name.endswith(".yaml"))
            except (FileNotFoundError, NotADirectoryError):
                return []
            keys = [spec.key_of((*directory.split("/"), n)) for n in names]
            if time.time_ns() - st.st_mtime_ns >= KEYS_SETTLED_NS:
                self._dir_keys[directory] = (sig, tuple(keys))
            return keys
        return [spec.key_of(path.relative_to(self.root).parts) for path in sorted(self.root.glob(spec.pattern))]

    # -- writing ------------------------------------------------------------------------------------
    def _write(self, kind: str, path: Path, data: bytes, durable: bool = True,
               before_replace: Callable[[], None] | None = None) -> None:
        """Atomic replace: the new content is fsynced before the rename, so the file holds the old document
        or the new one, whole, whatever happens. With `durable` (the default), the directory is fsynced
        too, so the rename itself survives a crash of the machine; without it, a crash of the machine (not
        of the process: the rename is done) within the kernel's writeback delay may bring the old document
        back. The next durable write to the same directory makes this one durable too. `before_replace` is
        called once the new content is synced, just before the rename (an error it raises leaves the old
        file as it was)."""
        private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # created 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, FILE_MODE)
            if before_replace is not None:
                before_replace()
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        if not durable:
            return
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def put(self, kind: str, *key: str, doc: dict[str, Any]) -> dict[str, Any]:
        path = self.path(kind, *key)
        doc, data = self._prepare(kind, path, doc)
        with self._lock(path):
            self._write(kind, path, data)
            self._remember(str(path), kind, data.decode("utf-8"), doc)
        return doc

    def create(self, kind: str, *key: str, doc: dict[str, Any]) -> bool:
        """Write only if no file exists yet; False when one does (checked under the lock)."""
        path = self.path(kind, *key)
        doc, data = self._prepare(kind, path, doc)
        with self._lock(path):
            if path.exists():
                return False
            self._write(kind, path, data)
            self._remember(str(path), kind, data.decode("utf-8"), doc)
        return True

    def update(self, kind: str, *key: str, fn: Callable[[dict | None], dict | None], durable: bool = True,
               before_replace: Callable[[], None] | None = None) -> dict | None:
        """Read-modify-write under the lock. `fn` gets the current document (or None) and returns the new
        one, or None to leave the file as it is. A corrupt file raises MetadataCorrupt and stays untouched.
        `durable=False` skips the fsync of the directory (see _write): for a change whose loss in a crash of
        the machine costs nothing (the old document is as good). `before_replace`: called when the new
        document is written to its temporary file and synced, before it replaces the old one (see _write);
        not called when nothing is written."""
        path = self.path(kind, *key)
        with self._lock(path):
            current = self._read(kind, path)
            new = fn(current)
            if new is None:
                return current
            new, data = self._prepare(kind, path, new)
            self._write(kind, path, data, durable=durable, before_replace=before_replace)
            self._remember(str(path), kind, data.decode("utf-8"), new)
            return new

    def delete(self, kind: str, *key: str) -> bool:
        """Remove the record, and its lock file with it (removed while held: jvp/store/locks.py)."""
        path = self.path(kind, *key)
        with self._lock(path) as lock:
            self._forget(str(path))
            lock.remove()
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

    # -- checking the data dir (jvp doctor) -----------------------------------------------------------------
    def problems(self) -> list[dict[str, str]]:
        """Every metadata file JVP cannot use: unreadable, invalid, or named with no valid key (a name with a
        newline, say). [{kind, path, reason}], sorted by path."""
        out = []
        for kind, spec in KINDS.items():
            for path in sorted(self.root.glob(spec.pattern)):
                if not path.is_file():
                    continue
                try:
                    self.path(kind, *spec.key_of(path.relative_to(self.root).parts))
                except ValueError as exc:
                    out.append({"kind": kind, "path": str(path),
                                "reason": f"its name is not a valid key, so JVP cannot address it ({exc})"})
                    continue
                try:
                    self._read(kind, path)
                except MetadataCorrupt as exc:
                    out.append({"kind": kind, "path": str(path), "reason": exc.details["reason"]})
        return sorted(out, key=lambda p: p["path"])

    def move_aside(self, path: Path | str, stamp: str) -> Path:
        """Rename a metadata file to `<name>.corrupt-<stamp>` in its directory (under the file's lock), where no
        listing reads it and nothing overwrites it: kept for a person to look at, out of JVP's way."""
        path = Path(path)
        if self.root.resolve() not in path.resolve().parents:
            raise ValueError(f"{path} is not under the data dir {self.root}")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        with self._lock(path.resolve()):
            if target.exists():
                raise FileExistsError(f"{target} exists already")
            os.rename(path, target)
        return target

    def writable(self) -> bool:
        probe = self.root / f".probe-{os.getpid()}"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))
            probe.unlink()
            return True
        except OSError:
            return False


def _copy(value: Any) -> Any:
    """A deep copy of a loaded document (mappings, lists and scalars only): faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
