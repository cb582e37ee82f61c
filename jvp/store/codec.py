"""A metadata file's text and its document, both ways (the DocumentCodec mixin of YamlMetadataStore). Read:
the text is loaded with libyaml's safe loader when built in, validated against its schema and migrated to the
current schema version, or it is MetadataCorrupt (`_parse`). Written: the document gets the current
schema_version and must validate, and its YAML must load back as the very same document, or nothing is written
(MetadataInvalid; `_prepare`, `_serialize`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jvp.errors import JvpError
from jvp.store.interface import MetadataCorrupt
from jvp.store.schemas import SchemaSet

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# libyaml's emitter when built in: ~5x faster than PyYAML's (a task record: ~0.6 ms instead of ~3 ms). It also
# escapes what PyYAML's emitter wrote raw (U+0085 came back as a line break); the read-back check stays either way.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class DocumentCodec:
    """Mixed into YamlMetadataStore (which provides schemas)."""
    schemas: SchemaSet

    def _parse(self, kind: str, path: Path, text: str) -> dict[str, Any]:
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

    def _prepare(self, kind: str, path: Path, doc: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """The document as it will be stored and its file content, checked to read back as that document."""
        doc = {"schema_version": self.schemas.current[kind],
               **{k: v for k, v in doc.items() if k != "schema_version"}}
        errors = self.schemas.errors(kind, doc["schema_version"], doc)
        if errors:
            # A bug in JVP, not bad input: the service built a document its own schema refuses.
            raise JvpError(f"refusing to write invalid {kind} metadata to {path}: {'; '.join(errors[:5])}",
                           code="MetadataInvalid", status=500, details={"path": str(path)})
        return doc, self._serialize(kind, path, doc)

    def _serialize(self, kind: str, path: Path, doc: dict[str, Any]) -> bytes:
        """The file content of `doc`, loaded back the way reads load it: it must give the same document and
        validate, else nothing is written (the old file stays as it was)."""
        reason = None
        raw = b""
        try:
            data = yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True)
            raw = data.encode("utf-8")
            back = yaml.load(raw.decode("utf-8"), Loader=_LOADER)
        except (yaml.YAMLError, UnicodeError) as exc:
            reason = f"it does not serialize to YAML that loads again: {exc}".replace("\n", " ")
        else:
            if back != doc or not _same_types(doc, back):
                reason = "it reads back as a different document: " + _first_difference(doc, back)
            # An identical document (same values, same types) validates as `doc` did in _prepare: the schema
            # is not checked a second time.
        if reason is not None:
            # Request fields are checked for such text (jvp.api.schemas.Text); reaching this is a bug.
            raise JvpError(f"refusing to write {kind} metadata to {path}: {reason}; the file was left as it was",
                           code="MetadataInvalid", status=500, details={"path": str(path), "reason": reason})
        return raw


def _same_types(want: Any, got: Any) -> bool:
    """Equal documents whose values also have the same types (1, 1.0 and True are equal in Python, not in a
    schema)."""
    if type(want) is not type(got):
        return False
    if isinstance(want, dict):
        return all(_same_types(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return all(_same_types(a, b) for a, b in zip(want, got))
    return True


def _first_difference(want: Any, got: Any, where: str = "") -> str:
    """Where a document and its read-back copy first differ (a path, never the values: they may be secrets)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            if key not in got or want[key] != got[key]:
                return _first_difference(want[key], got.get(key), f"{where}/{key}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for index, (a, b) in enumerate(zip(want, got)):
            if a != b:
                return _first_difference(a, b, f"{where}/{index}")
    return f"the value at {where or '/'}"
