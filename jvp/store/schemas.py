"""Versioned JSON Schemas (written as YAML) for every metadata file kind, and migrations between versions.

`metadata_schema/<kind>.v<N>.yaml` is version N of a kind; the highest N is current. A file with an older
`schema_version` is migrated on read by the functions registered in MIGRATIONS, one version at a time, and
written back in the current version the next time it is saved.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Callable

import yaml
from jsonschema import Draft202012Validator

# (kind, from_version) -> function turning a document of that version into one of version + 1
MIGRATIONS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migration(kind: str, from_version: int):
    def register(fn):
        MIGRATIONS[(kind, from_version)] = fn
        return fn
    return register


class SchemaSet:
    """Every schema version of every kind found in a directory."""

    _FILE = re.compile(r"^(?P<kind>[a-z_]+)\.v(?P<version>\d+)\.yaml$")

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        files = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(self.directory.glob("*.yaml")))
        self._validators, self.current = _load(str(self.directory), files)

    def errors(self, kind: str, version: int, doc: Any) -> list[str]:
        validator = self._validators.get((kind, version))
        if validator is None:
            return [f"no schema for {kind} version {version}"]
        return [f"{'/'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message}"
                for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))]

    def migrate(self, kind: str, doc: dict[str, Any]) -> dict[str, Any]:
        version = doc.get("schema_version")
        current = self.current[kind]
        while version < current:
            step = MIGRATIONS.get((kind, version))
            if step is None:
                raise ValueError(f"no migration for {kind} from version {version} to {version + 1}")
            doc = step(dict(doc))
            doc["schema_version"] = version = version + 1
        return doc


@functools.lru_cache(maxsize=16)
def _load(directory: str, files: tuple[tuple[str, int], ...]
          ) -> tuple[dict[tuple[str, int], Draft202012Validator], dict[str, int]]:
    """Parse and check a schema directory once per process (keyed by file names and mtimes)."""
    validators: dict[tuple[str, int], Draft202012Validator] = {}
    current: dict[str, int] = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name, _mtime in files:
        match = SchemaSet._FILE.match(name)
        if not match:
            continue
        kind, version = match["kind"], int(match["version"])
        schema = yaml.load((Path(directory) / name).read_text(encoding="utf-8"), Loader=loader)
        Draft202012Validator.check_schema(schema)
        validators[(kind, version)] = Draft202012Validator(schema)
        current[kind] = max(version, current.get(kind, 0))
    return validators, current
