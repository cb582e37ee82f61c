"""A template's history: every update check, image update, verification and VM rebuild, in
`metadata/<node>/<template>/history.yaml` (metadata_schema/template_history.v1.yaml), beside its metadata.

An entry: when (`at`), what (`event`: check | update | verify | validate | rebuild), who (`by`: the token's
principal name; "jvp" for the start-up validation), the task when there was one, the VM of a rebuild, the
image before (`old`) and after (`new`) as {volume, version, checksum, size}, the outcome and a message. Only
the newest MAX_ENTRIES are kept; list-template-history answers newest first. Writing history never fails the
action it records (a failure is logged).
"""
from __future__ import annotations

import logging
from typing import Any

from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
MAX_ENTRIES = 500
MAX_MESSAGE = 2000


def image_of(doc: dict[str, Any] | None, volume: str | None = None) -> dict[str, Any] | None:
    """{volume, version, checksum, size} of the template's current image, or of the previous image `volume`."""
    if doc is None:
        return None
    st, src = doc["storage"], doc.get("source") or {}
    if volume is None or volume == st["volume"]:
        return {"volume": st["volume"], "version": st.get("version"), "checksum": src.get("checksum"),
                "size": st.get("size")}
    for p in doc.get("previous") or []:
        if p["volume"] == volume:
            return {"volume": p["volume"], "version": p.get("version"), "checksum": p.get("checksum"),
                    "size": p.get("size")}
    return {"volume": volume, "version": None, "checksum": None, "size": None}


class TemplateHistory:
    def __init__(self, store: MetadataStore):
        self.store = store

    def record(self, node: str, name: str, event: str, outcome: str, *, by: str | None = None,
               task: str | None = None, vm: str | None = None, old: dict[str, Any] | None = None,
               new: dict[str, Any] | None = None, message: str = "") -> None:
        entry: dict[str, Any] = {"at": rfc3339(), "event": event, "outcome": outcome, "by": by, "task": task,
                                 "vm": vm, "old": old, "new": new, "message": (message or "")[:MAX_MESSAGE]}

        def add(d: dict | None) -> dict:
            entries = [*((d or {}).get("entries") or []), entry][-MAX_ENTRIES:]
            return {"node": node, "name": name, "entries": entries}
        try:
            self.store.update("template_history", node, name, fn=add)
        except Exception:  # noqa: BLE001 - history never fails what it records
            log.exception("template %s on %s: history entry %s/%s not written", name, node, event, outcome)

    def entries(self, node: str, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, at most `limit`."""
        doc = self.store.get("template_history", node, name) or {}
        return list(reversed((doc.get("entries") or [])[-limit:]))

    def forget(self, node: str, name: str) -> None:
        self.store.delete("template_history", node, name)
