"""Is a template's image still the one JVP recorded? The start-up validation and verify-template.

- At start (create_app calls TemplateService.validate_at_start; nothing is downloaded): every template of
  every reachable node is looked up through libvirt. An image that is gone (its volume or its template pool
  no longer exists), or whose file size or modification time differs from what was recorded when it was
  installed or last verified, marks the template `broken` (metadata `integrity`, a history entry). A
  template pool that exists but is inactive is not judged (nothing can be seen; create-vm refuses with
  TemplateImageMissing meanwhile). A template recorded before JVP kept the mtime gets the current one as its
  reference when its size matches.
- Broken is sticky: create-vm and rebuild-vm refuse a broken template (422 TemplateBroken) until
  verify-template (a task reading the whole image through libvirt) finds the recorded sha256 again; it then
  records the file's size and mtime anew and marks the template ok. A different checksum keeps it broken
  (the task fails with 422 ImageChanged); a template without a recorded checksum gets the computed one.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from jvp.domain.volume import VolumeView
from jvp.errors import JvpError, PreconditionFailed
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.template.catalog import TemplateCatalog, template_not_found
from jvp.service.template.history import TemplateHistory, image_of
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
GONE_CODES = ("VolumeNotFound", "StoragePoolNotFound")
START_UP = "jvp"


def problem(doc: dict[str, Any], vol: VolumeView) -> str | None:
    """Why the volume is not the recorded image (size or mtime differs), or None."""
    st = doc["storage"]
    if st.get("size") is not None and vol.physical_bytes is not None and st["size"] != vol.physical_bytes:
        return f"the image file is {vol.physical_bytes} bytes, {st['size']} were recorded"
    if st.get("mtime") and vol.mtime and st["mtime"] != vol.mtime:
        return f"the image file was modified (mtime {vol.mtime}, {st['mtime']} was recorded)"
    return None


class TemplateIntegrity:
    def __init__(self, catalog: TemplateCatalog, store: MetadataStore, gateway: NodeGateway, tasks: TaskService,
                 history: TemplateHistory, timeout_s: float):
        self.catalog = catalog
        self.store = store
        self.gateway = gateway
        self.tasks = tasks
        self.history = history
        self.timeout_s = timeout_s

    # -- start-up ----------------------------------------------------------------------------------------
    def validate_all(self, known_nodes: list[str]) -> dict[str, dict[str, str]]:
        """{node: {template: ok | broken | unseen}} over every node with templates (in parallel, bounded)."""
        by_node: dict[str, list[dict[str, Any]]] = {}
        for (n, _), doc in self.store.list("template").items:
            if n in known_nodes:
                by_node.setdefault(n, []).append(doc)
        out: dict[str, dict[str, str]] = {}
        for r in self.gateway.fan_out(sorted(by_node), lambda n: self.validate_node(n, by_node[n]),
                                      self.timeout_s, what="answer the template validation"):
            if r.error is not None:
                log.warning("templates of node %s not validated at start: %s", r.node, r.error.get("message"))
            else:
                out[r.node] = r.value
        return out

    def validate_node(self, node: str, docs: list[dict[str, Any]]) -> dict[str, str]:
        result = {}
        for doc in docs:
            try:
                result[doc["name"]] = self.validate(node, doc)
            except JvpError as exc:
                log.warning("template %s on %s not validated: %s", doc["name"], node, exc.message)
                result[doc["name"]] = "unseen"
        return result

    def validate(self, node: str, doc: dict[str, Any]) -> str:
        name, st = doc["name"], doc["storage"]
        try:
            vol = self.gateway.volume(node, st["template_pool"], st["volume"])
        except JvpError as exc:
            if exc.code not in GONE_CODES:
                return "unseen"   # an inactive pool, a node hiccup: nothing can be judged
            self.mark(node, name, "broken", f"the image {st['template_pool']}/{st['volume']} is gone: {exc.message}",
                      by="start-up")
            return "broken"
        why = problem(doc, vol)
        if why:
            self.mark(node, name, "broken", why, by="start-up")
            return "broken"
        if not st.get("mtime") and vol.mtime and (doc.get("integrity") or {}).get("state") != "broken":
            self.store.update("template", node, name, fn=lambda d: None if d is None else {
                **d, "storage": {**d["storage"], "mtime": vol.mtime}})  # the reference for the next start
        return (doc.get("integrity") or {}).get("state") or "ok"

    def mark(self, node: str, name: str, state: str, reason: str | None, *, by: str, who: str = START_UP,
             task: str | None = None, storage: dict[str, Any] | None = None, checksum: str | None = None) -> None:
        """Record the template's integrity (and, when verified, its image's facts); a history entry when the
        state changes or verify-template ran."""
        now = rfc3339()
        before: dict[str, Any] = {}

        def change(d: dict | None) -> dict | None:
            if d is None:
                return None
            before.update(d.get("integrity") or {})
            new = {**d, "integrity": {"state": state, "checked_at": now, "by": by, "reason": reason}}
            if storage:
                new["storage"] = {**d["storage"], **storage}
            if checksum:
                new["source"] = {**d["source"], "checksum": checksum}
            return new
        doc = self.store.update("template", node, name, fn=change)
        if doc is None:
            return
        if by == "verify-template" or before.get("state") != state:
            if state == "broken":
                log.warning("template %s on node %s is broken: %s", name, node, reason)
            self.history.record(node, name, "verify" if by == "verify-template" else "validate", state, by=who,
                                task=task, new=image_of(doc), message=reason or f"the image is {state}")

    # -- verify-template ---------------------------------------------------------------------------------
    def submit_verify(self, node: str, name: str, created_by: str | None, request_id: str | None
                      ) -> dict[str, Any]:
        self.catalog.doc(node, name)
        self.catalog.busy(node, name)
        return self.tasks.submit("verify-template", {"kind": "template", "node": node, "name": name},
                                 lambda h: self.verify(h, node, name, created_by), created_by=created_by,
                                 request_id=request_id, message=f"verifying {name}")

    def verify(self, h: TaskHandle, node: str, name: str, who: str | None) -> dict[str, Any]:
        doc = self.store.get("template", node, name)
        if doc is None:
            raise template_not_found(node, name)
        st = doc["storage"]
        try:
            vol = self.gateway.volume(node, st["template_pool"], st["volume"])
        except JvpError as exc:
            if exc.code in GONE_CODES:
                self.mark(node, name, "broken", f"the image {st['template_pool']}/{st['volume']} is gone",
                          by="verify-template", who=who or START_UP, task=h.id)
                raise PreconditionFailed(f"the image of template '{name}' ({st['template_pool']}/{st['volume']}) is "
                                         f"not on node '{node}' any more: {exc.message}",
                                         code="TemplateImageMissing",
                                         details={"template": name, "pool": st["template_pool"],
                                                  "volume": st["volume"]}) from exc
            raise
        length = vol.physical_bytes or vol.allocation_bytes or vol.capacity_bytes or 0
        digest, done = hashlib.sha256(), 0
        h.progress(0, f"reading {st['template_pool']}/{st['volume']} ({length} bytes)", bytes_done=0,
                   bytes_total=length, force=True)
        for block in self.gateway.download_volume(node, st["template_pool"], st["volume"], length):
            digest.update(block)
            done += len(block)
            h.progress(100 * done / length if length else None, "hashing", bytes_done=done, bytes_total=length)
        got = f"sha256:{digest.hexdigest()}"
        recorded = (doc.get("source") or {}).get("checksum")
        facts = {"size": vol.physical_bytes if vol.physical_bytes is not None else done, "mtime": vol.mtime}
        if recorded and recorded != got:
            self.mark(node, name, "broken", f"the image's sha256 is {got}, {recorded} was recorded",
                      by="verify-template", who=who or START_UP, task=h.id)
            raise PreconditionFailed(f"the image of template '{name}' on node '{node}' changed: its sha256 is "
                                     f"{got}, {recorded} was recorded; register the image again (or delete the "
                                     "template)", code="ImageChanged",
                                     details={"template": name, "expected": recorded, "actual": got})
        note = "the checksum matches" if recorded else "no checksum was recorded: the computed one is kept"
        self.mark(node, name, "ok", note, by="verify-template", who=who or START_UP, task=h.id, storage=facts,
                  checksum=None if recorded else got)
        return {"template": name, "node": node, "state": "ok", "checksum": got, "bytes": done,
                "message": f"template '{name}' verified: {note}"}
