"""Versioned JSON Schemas (written as YAML) for every metadata file kind, and migrations between versions.

`metadata_schema/<kind>.v<N>.yaml` is version N of a kind; the highest N is current. A file with an older
`schema_version` is migrated on read by the functions registered in MIGRATIONS, one version at a time, and
written back in the current version the next time it is saved.
"""
from __future__ import annotations

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
        self._validators: dict[tuple[str, int], Draft202012Validator] = {}
        self.current: dict[str, int] = {}
        for path in sorted(self.directory.glob("*.yaml")):
            match = self._FILE.match(path.name)
            if not match:
                continue
            kind, version = match["kind"], int(match["version"])
            schema = yaml.safe_load(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
            self._validators[(kind, version)] = Draft202012Validator(schema)
            self.current[kind] = max(version, self.current.get(kind, 0))

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
