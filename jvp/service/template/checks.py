"""check-template-updates (`check_all`: the templates of one node, or of every node, checked in one task) and
what rebuild-vm asks of and tells a template: the VMs built from it (`vms_of`, for rebuild-template-vms) and
its history (`record_rebuild`, rebuild-vm's listener, which also prunes the old images a rebuild left unused;
`history_entries` for list-template-history). The history itself is kept by history.py."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jvp.errors import JvpError
from jvp.service.node import NodeService
from jvp.service.task.service import TaskService
from jvp.service.template.catalog import image_paths
from jvp.service.template.history import TemplateHistory, image_of
from jvp.service.template.update import TemplateUpdater
from jvp.store import MetadataStore

log = logging.getLogger(__name__)
CHECK_CONCURRENCY = 4  # check-template-updates: sources asked at once


class TemplateChecks:
    """Mixed into TemplateService (which provides store, nodes, tasks, updater, history, doc and usage)."""
    store: MetadataStore
    nodes: NodeService
    tasks: TaskService
    updater: TemplateUpdater
    history: TemplateHistory
    doc: Any
    usage: Any

    def check_all(self, node: str | None, created_by: str | None, request_id: str | None) -> dict[str, Any]:
        """check-template-updates: every template (of one node, or of every node) checked in one task, at most
        CHECK_CONCURRENCY sources asked at once; a result per template, a failure of one never stops the
        others. Templates not registered from a URL are listed as not-updatable."""
        if node:
            self.nodes.record(node)
        known = [node] if node else self.nodes.names()
        docs = sorted(((n, d["name"], d["source"]["type"]) for (n, _), d in self.store.list("template").items
                       if n in known), key=lambda x: (x[0], x[1]))

        def work(h: Any) -> dict[str, Any]:
            results: list[dict[str, Any]] = []
            total = max(len(docs), 1)

            def one(item: tuple[str, str, str]) -> dict[str, Any]:
                n, name, stype = item
                base = {"node": n, "name": name}
                if stype != "url":
                    return {**base, "outcome": "not-updatable", "update_available": None,
                            "message": f"registered from a {stype}: there is no source to ask"}
                try:
                    r = self.updater.check(n, name, by=created_by, task=h.id)
                except JvpError as exc:
                    return {**base, "outcome": "failed", "update_available": None, "message": exc.message,
                            "error": {"code": exc.code, "message": exc.message}}
                outcome = {True: "update-available", False: "up-to-date", None: "unknown"}[r["update_available"]]
                return {**base, "outcome": outcome, "update_available": r["update_available"],
                        "decided_by": r["decided_by"], "vm_count": len(r["vms"]), "message": r["message"]}
            with ThreadPoolExecutor(max_workers=CHECK_CONCURRENCY, thread_name_prefix="template-check") as pool:
                for r in pool.map(one, docs):
                    results.append(r)
                    h.progress(100 * len(results) / total, f"checked {r['node']}/{r['name']}: {r['outcome']}")
            counts: dict[str, int] = {}
            for r in results:
                counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
            summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no templates"
            return {"templates": results, "counts": counts, "message": f"{len(results)} template(s) checked: {summary}"}
        return self.tasks.submit("check-template-updates", {"kind": "templates", "node": node, "name": None},
                                 work, params={"node": node}, created_by=created_by, request_id=request_id,
                                 message=f"checking {len(docs)} template(s)")

    def vms_of(self, node: str, name: str) -> list[dict[str, Any]]:
        """The VMs built from the template (JVP's metadata names it, or a disk is on one of its images)."""
        doc = self.doc(node, name)
        usage = self.usage(node)
        return [{"name": v.name, "running": v.running} for v in usage.vms(doc, image_paths(doc))
                if v.by_metadata or v.disks]

    def history_entries(self, node: str, name: str, limit: int = 100) -> dict[str, Any]:
        """list-template-history: newest first; the history of a template that no longer exists is gone."""
        self.doc(node, name)
        return {"node": node, "name": name, "entries": self.history.entries(node, name, limit)}

    def record_rebuild(self, node: str, name: str, entry: dict[str, Any]) -> None:
        """rebuild-vm's listener: one history entry per rebuilt (or failed) VM of the template."""
        doc = self.store.get("template", node, name)
        if doc is None:
            return
        prev = entry.get("previous_template") or {}
        old = None
        if prev.get("name") == name and prev.get("backing"):
            vol = next((p["volume"] for p in [doc["storage"], *(doc.get("previous") or [])]
                        if p["path"] == prev["backing"]), None)
            old = image_of(doc, vol) if vol else None
        elif prev.get("name"):
            old = {"volume": None, "version": None, "checksum": None, "size": None}
        new_volume = (entry.get("image") or {}).get("volume")
        removed: list[str] = []
        if entry["outcome"] == "succeeded" and doc.get("previous"):
            try:  # the VM may have been the last one on an old image: it goes now, as after delete-vm
                removed = self.updater.prune(node, name, self.usage(node))
            except JvpError as exc:
                log.warning("rebuild of %s: old images of template %s not pruned now: %s", entry.get("vm"), name,
                            exc.message)
        if removed:
            entry = {**entry, "message": f"{entry.get('message', '')}; removed old images nothing used any more: "
                                         f"{', '.join(removed)}"}
        self.history.record(node, name, "rebuild", entry["outcome"], by=entry.get("by"), task=entry.get("task"),
                            vm=entry.get("vm"), old=old, new=image_of(doc, new_volume),
                            message=(f"from template '{prev['name']}': " if prev.get("name") not in (None, name)
                                     else "") + entry.get("message", ""))
