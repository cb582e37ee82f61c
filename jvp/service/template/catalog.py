"""What JVP knows of its templates: their metadata files, and their usage computed from the node (the
read side of the template module, shared by the service, the installer and the updater).

Usage is computed, never counted (see domain/template.py NodeUsage): `usage.vm_count` and the dependents
the API answers are what the domains and volumes say right now. The count stored in the metadata file is a
copy of the last computed value, written back whenever one is computed (`sync_count`).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from jvp.domain.template import NodeUsage
from jvp.errors import Conflict, JvpError, not_found
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.task.service import TaskService
from jvp.store import MetadataStore, safe_key

log = logging.getLogger(__name__)


def template_not_found(node: str, name: str) -> JvpError:
    return not_found("template", name, node, code="TemplateNotFound")


def image_paths(doc: dict[str, Any]) -> list[str]:
    """The current image and every previous one still kept."""
    return [doc["storage"]["path"], *(p["path"] for p in doc.get("previous") or [])]


@dataclass(eq=False)
class TemplateCatalog:
    store: MetadataStore
    nodes: NodeService
    gateway: NodeGateway
    tasks: TaskService

    def doc(self, node: str, name: str) -> dict[str, Any]:
        self.nodes.record(node)  # an unknown node is NodeNotFound, as everywhere
        if not safe_key(name):  # no template has such a name: a VM's recorded template from another tool, say
            raise template_not_found(node, name)
        doc = self.store.get("template", node, name)
        if doc is None:
            raise template_not_found(node, name)
        return doc

    def usage(self, node: str) -> NodeUsage:
        return self.gateway.template_usage(node)

    def busy(self, node: str, name: str) -> None:
        task = self.tasks.active_on({"kind": "template", "node": node, "name": name})
        if task:
            raise Conflict(f"template '{name}' on node '{node}' is busy with task {task['id']} ({task['kind']}); "
                           "wait for it or cancel it", code="ResourceBusy",
                           details={"task": task["id"], "task_kind": task["kind"]})

    def view(self, doc: dict[str, Any], usage: NodeUsage | None, *, detail: bool = False) -> dict[str, Any]:
        """The API's template; `usage` None when the node could not be asked (counts unknown)."""
        out = {k: v for k, v in doc.items() if k != "schema_version"}
        out["pool"] = doc["storage"]["pool"]
        out["usage"] = dict(doc["usage"])
        previous = [dict(p) for p in doc.get("previous") or []]
        if usage is None:
            out["state"] = "unknown"
            out["usage"]["vm_count"] = None
        else:
            bases = image_paths(doc)
            vms = [v for v in usage.vms(doc, bases) if v.by_metadata or v.disks]
            out["usage"]["vm_count"] = len(vms)
            if detail:  # plain data: the template answer is also a task's stored result
                out["usage"]["vms"] = [asdict(v) for v in vms]
                out["usage"]["volumes"] = [asdict(v) for v in usage.backed_volumes(bases)]
            for p in previous:
                p["dependents"] = [f"{v.pool}/{v.name}" for v in usage.backed_volumes([p["path"]])]
            paths = {v.path for v in usage.volumes}
            tpool = doc["storage"]["template_pool"]
            out["state"] = "ready" if doc["storage"]["path"] in paths else (
                "unknown" if tpool in usage.unseen_pools() else "image-missing")
        if (doc.get("integrity") or {}).get("state") == "broken":
            out["state"] = "broken"  # sticky until verify-template finds the recorded checksum again
        out["previous"] = previous
        return out

    def sync_count(self, node: str, name: str, view: dict[str, Any]) -> None:
        """Keep the file's usage.vm_count true whenever the count was computed and changed."""
        count = view["usage"]["vm_count"]
        if count is None:
            return

        def change(d: dict | None) -> dict | None:
            if d is None or d["usage"].get("vm_count") == count:
                return None
            return {**d, "usage": {**d["usage"], "vm_count": count}}
        self.store.update("template", node, name, fn=change)

    def describe(self, node: str, name: str) -> dict[str, Any]:
        """The metadata is the controller's: a node that cannot be asked leaves usage null and state unknown
        (like list-templates) instead of hiding the template."""
        doc = self.doc(node, name)
        try:
            usage = self.usage(node)
        except JvpError as exc:
            if exc.code not in ("NodeUnreachable", "NodeTimeout", "OperationTimeout"):
                raise
            log.warning("describe-template %s on %s: usage unknown: %s", name, node, exc.message)
            return self.view(doc, None, detail=True)
        view = self.view(doc, usage, detail=True)
        self.sync_count(node, name, view)
        return view

    def describe_quietly(self, node: str, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        """For the result of a task whose work is done: a node that cannot be asked right now must not turn
        a finished registration or update into a failed task."""
        try:
            return self.describe(node, name)
        except JvpError as exc:
            log.warning("template %s on %s: usage not available for the task result: %s", name, node, exc.message)
            return self.view(doc, None)
