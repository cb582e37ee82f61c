"""The manual update flow of URL templates: check-template-update asks, update-template-image downloads.

Nothing is checked or downloaded on its own (no update at start-up). check-template-update downloads no
image: it sends a HEAD (or a one-byte ranged GET when HEAD is refused) after the redirects, and reads the
published checksum file when the template has one. What decides, strongest first, among what both sides
know: the published checksum, the ETag, Last-Modified, the length. `update_available` is null when the
source publishes none of them.

update-template-image downloads the new version as a task (resumable, verified, checked like a
registration), stores it as a new volume `<name>-v<N+1>.<fmt>` and switches the template to it: new VMs
clone the new image; existing VMs and volumes keep the image they are backed by, which moves to the
template's `previous` list. An old image is removed once nothing is backed by it: checked when a VM of the
node is deleted (delete-vm calls TemplateService.after_vm_deleted), and at every check-template-update and
update-template-image of the template (describe-template shows each old image with the volumes still on it
meanwhile). While a storage pool of the node is inactive or cannot be listed, no old image is removed: a
volume in that pool may still be backed by it.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from email.utils import parsedate_to_datetime
from typing import Any

from jvp.errors import Conflict, JvpError, PreconditionFailed
from jvp.domain.template import NodeUsage, describe_pools
from jvp.hypervisor.gateway import NodeGateway
from jvp.images.checksums import Checksum, ChecksumError, parse_checksum
from jvp.images.fetch import Remote, check_url, redact
from jvp.service.node import NodeService
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.template.catalog import TemplateCatalog
from jvp.service.template.history import TemplateHistory, image_of
from jvp.service.template.install import bad, volume_name
from jvp.service.template.register import TemplateRegistrar
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339


log = logging.getLogger(__name__)
ORDER = ("checksum", "etag", "last_modified", "length")


def _date(value: str | None):
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def compare(source: dict[str, Any], remote: Remote, remote_checksum: Checksum | None
            ) -> tuple[bool | None, str | None, list[dict[str, Any]]]:
    """(update_available, decided_by, changes) from what was downloaded and what the source says now."""
    current: dict[str, Any] = {"etag": source.get("etag"), "last_modified": source.get("last_modified"),
                               "length": source.get("length"), "checksum": None}
    theirs: dict[str, Any] = {"etag": remote.etag, "last_modified": remote.last_modified, "length": remote.length,
                              "checksum": str(remote_checksum) if remote_checksum else None}
    for value in (source.get("checksum"), source.get("verified_checksum")):  # the sha256, or a sha512
        try:
            ours = parse_checksum(value) if value else None
        except ChecksumError:
            ours = None
        if ours and remote_checksum and ours.algorithm == remote_checksum.algorithm:
            current["checksum"] = str(ours)
            break
    changes, decided_by, available = [], None, None
    for field in ORDER:
        a, b = current[field], theirs[field]
        if a is None or b is None:
            continue
        if field == "last_modified" and _date(a) and _date(b):
            differs = _date(a) != _date(b)
        else:
            differs = a != b
        if differs:
            changes.append({"field": field, "current": a, "remote": b})
        if decided_by is None:
            decided_by, available = field, differs
    return available, decided_by, changes


class TemplateUpdater:
    def __init__(self, catalog: TemplateCatalog, registrar: TemplateRegistrar, store: MetadataStore,
                 nodes: NodeService, gateway: NodeGateway, tasks: TaskService, history: TemplateHistory):
        self.catalog = catalog
        self.history = history
        self.registrar = registrar  # its download, verify and install steps
        self.store = store
        self.nodes = nodes
        self.gateway = gateway
        self.tasks = tasks

    def _url_doc(self, node: str, name: str) -> dict[str, Any]:
        doc = self.catalog.doc(node, name)
        if doc["source"]["type"] != "url" or not doc["source"].get("url"):
            raise PreconditionFailed(f"template '{name}' was registered from a {doc['source']['type']}, not a URL: "
                                     "there is no source to ask for a newer image", code="NotUpdatable",
                                     details={"source_type": doc["source"]["type"]})
        return doc

    # -- check-template-update ----------------------------------------------------------------------------
    def check(self, node: str, name: str, by: str | None = None, task: str | None = None) -> dict[str, Any]:
        """The check, recorded in the template's history (a failed one too, with its error)."""
        doc = self._url_doc(node, name)
        try:
            result = self._check(node, name, doc)
        except JvpError as exc:
            self.history.record(node, name, "check", "failed", by=by, task=task, old=image_of(doc),
                                message=f"{exc.code}: {exc.message}")
            raise
        outcome = {True: "update-available", False: "up-to-date", None: "unknown"}[result["update_available"]]
        self.history.record(node, name, "check", outcome, by=by, task=task, old=image_of(doc),
                            message=result["message"])
        return result

    def _check(self, node: str, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        src = doc["source"]
        remote = self.registrar.fetcher.probe(src["url"])
        remote_checksum, note = None, ""
        if src.get("checksum_url"):
            try:
                remote_checksum = self.registrar.published_checksum(src["url"], src["checksum_url"])
            except JvpError as exc:  # the image answered: decide by its headers, and say why not by checksum
                note = f"; the checksum file could not be used ({exc.message})"
        available, decided_by, changes = compare(src, remote, remote_checksum)
        usage = self.catalog.usage(node)
        removed = self.prune(node, name, usage)
        doc = self.store.get("template", node, name) or doc
        bases = [doc["storage"]["path"], *(p["path"] for p in doc.get("previous") or [])]
        now = rfc3339()
        self.store.update("template", node, name, fn=lambda d: None if d is None else {
            **d, "update_check": {"checked_at": now, "update_available": available, "decided_by": decided_by}})
        vms = usage.vms(doc, bases)
        if available is None:
            message = "the source publishes no checksum, ETag, Last-Modified or length to compare"
        elif available:
            message = (f"a newer image is available ({decided_by} changed); update-template-image downloads it. "
                       f"{len(vms)} VM(s) built from the template keep their current base")
        else:
            message = f"the template is up to date (same {decided_by})"
        message += note
        if removed:
            message += f"; removed old images nothing used any more: {', '.join(removed)}"
        unknown = usage.unknown_pools()
        if doc.get("previous") and unknown:
            message += (f"; old images are kept while the volumes of storage pool(s) {describe_pools(unknown)} "
                        "cannot be seen")
        return {"name": name, "node": node, "update_available": available, "decided_by": decided_by,
                "changes": changes, "remote": {**remote.to_dict(), "url": redact(remote.url),
                                               "checksum": str(remote_checksum) if remote_checksum else None},
                "checked_at": now, "vms": [asdict(v) for v in vms],
                "volumes": [asdict(v) for v in usage.backed_volumes(bases)], "message": message}

    # -- update-template-image ----------------------------------------------------------------------------
    def update_image(self, node: str, name: str, *, url: str | None = None, sha256: str | None = None,
                     checksum: str | None = None, checksum_url: str | None = None, force: bool = False,
                     created_by: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        """Without a new `url`, the source is checked first and an up-to-date template is a 409
        (TemplateUpToDate) unless `force`. A new `url` (the next release) is always downloaded; it takes its
        own checksum or checksum_url, or is recorded unverified."""
        doc = self._url_doc(node, name)
        src = doc["source"]
        if sha256 and checksum:
            raise bad("checksum", "give sha256 or checksum, not both")
        expected = None
        if sha256 or checksum:
            try:
                expected = parse_checksum(checksum or f"sha256:{sha256}")
            except ChecksumError as exc:
                raise bad("checksum" if checksum else "sha256", str(exc)) from exc
        if url is not None:
            check_url(url, field_name="url", policy=self.registrar.fetcher.policy)
        if checksum_url is not None:
            check_url(checksum_url, field_name="checksum_url", policy=self.registrar.fetcher.policy)
            if expected:
                raise bad("checksum_url", "give a checksum or a checksum_url, not both")
        new_url = url or src["url"]
        if checksum_url is None and expected is None and new_url == src["url"]:
            checksum_url = src.get("checksum_url")  # the same source publishes the new digest where it did
        self.nodes.ensure_available(node)
        self.catalog.busy(node, name)
        if url is None and not force:
            result = self.check(node, name, by=created_by)
            if result["update_available"] is False:
                raise Conflict(f"template '{name}' is up to date: {result['message']}; pass force=true to download "
                               "it again anyway", code="TemplateUpToDate",
                               details={"decided_by": result["decided_by"]})

        def work(handle: TaskHandle) -> dict[str, Any]:
            before = image_of(self.store.get("template", node, name))
            try:
                result = self._run(handle, node, name, new_url, expected, checksum_url)
            except BaseException as exc:
                self.history.record(node, name, "update", "failed", by=created_by, task=handle.id, old=before,
                                    message=f"{getattr(exc, 'code', type(exc).__name__)}: "
                                            f"{getattr(exc, 'message', None) or exc}")
                raise
            self.history.record(node, name, "update", "succeeded", by=created_by, task=handle.id, old=before,
                                new=image_of(self.store.get("template", node, name)), message=result["message"])
            return result
        return self.tasks.submit("update-template-image", {"kind": "template", "node": node, "name": name},
                                     work, params={"url": redact(new_url), "force": force}, created_by=created_by,
                                     request_id=request_id, message=f"updating {name} from {redact(new_url)}")

    def _run(self, handle: TaskHandle, node: str, name: str, url: str, expected: Checksum | None,
             checksum_url: str | None) -> dict[str, Any]:
        reg = self.registrar
        doc = self.catalog.doc(node, name)
        with reg.downloaded(handle, url, expected, checksum_url, None) as got:
            fmt = got.facts.format
            version = doc["storage"]["version"] + 1
            vol, spec = reg.install_file(handle, node, doc["storage"]["pool"], volume_name(name, version, fmt),
                                         got.part, fmt)
            now = rfc3339()

            def switch(d: dict | None) -> dict | None:
                if d is None:
                    raise JvpError(f"template '{name}' on node '{node}' was deleted during the update",
                                   code="TemplateNotFound", status=404)
                st, s = d["storage"], d["source"]
                old = {"volume": st["volume"], "path": st["path"], "format": st["format"], "size": st["size"],
                       "virtual_size": st["virtual_size"], "version": st["version"], "checksum": s.get("checksum"),
                       "verified_checksum": s.get("verified_checksum"), "etag": s.get("etag"),
                       "last_modified": s.get("last_modified"), "url": s.get("url"),
                       "registered_at": s.get("fetched_at"), "replaced_at": now}
                return {**d, "updated_at": now, "previous": [*(d.get("previous") or []), old],
                        "storage": {**st, "volume": vol.name, "path": vol.path, "format": fmt,
                                    "size": got.facts.size, "virtual_size": got.facts.virtual_size,
                                    "version": version, "mtime": vol.mtime},
                        "source": {**s, "url": url, "checksum_url": checksum_url, "checksum": got.checksum,
                                   "verified_checksum": got.verified_checksum, "verified": got.verified,
                                   "etag": got.remote.etag, "last_modified": got.remote.last_modified,
                                   "length": got.remote.length, "fetched_at": now},
                        "update_check": {"checked_at": now, "update_available": False, "decided_by": None}}
            self.store.update("template", node, name, fn=switch)
            handle.drop_cleanup(spec)
            stats = got.stats
        try:
            removed = self.prune(node, name, self.catalog.usage(node))
        except JvpError as exc:  # the switch is done; old images are pruned at the next check or update
            log.warning("template %s on %s: old images not pruned now: %s", name, node, exc.message)
            removed = []
        new = self.catalog.describe_quietly(node, name, self.store.get("template", node, name) or doc)
        kept = [p["volume"] for p in new["previous"]]
        message = (f"template '{name}' now uses {vol.name} (version {version}); "
                   + (f"kept for the volumes still on them: {', '.join(kept)}" if kept else "no old image is kept")
                   + (f"; removed: {', '.join(removed)}" if removed else ""))
        return {"template": new, "replaced": doc["storage"]["volume"], "removed_previous": removed,
                "kept_previous": kept, "download": stats, "message": message}

    # -- removing old images --------------------------------------------------------------------------------
    def prune(self, node: str, name: str, usage: NodeUsage) -> list[str]:
        """Delete the previous images nothing is backed by or opens any more; returns `pool/volume` of each."""
        doc = self.store.get("template", node, name)
        if doc is None or not doc.get("previous"):
            return []
        unknown = usage.unknown_pools()
        if unknown:
            log.warning("template %s on %s: old images %s kept: the volumes of storage pool(s) %s cannot be seen, "
                        "one of them may be backed by them", name, node,
                        ", ".join(p["volume"] for p in doc["previous"]), describe_pools(unknown))
            return []
        tpool = doc["storage"]["template_pool"]
        removed = []
        for p in doc.get("previous") or []:
            if usage.backed_volumes([p["path"]]) or usage.paths_in_use([p["path"]]):
                continue
            try:
                outcome = self.gateway.delete_volume(node, tpool, p["volume"])
            except JvpError as exc:
                log.warning("old image %s/%s of template %s not removed: %s", tpool, p["volume"], name, exc.message)
                continue
            if outcome in ("deleted", "absent"):
                removed.append(p["volume"])
        if removed:
            self.store.update("template", node, name, fn=lambda d: None if d is None else {
                **d, "previous": [p for p in d.get("previous") or [] if p["volume"] not in removed]})
            log.info("template %s on %s: removed old images %s", name, node, ", ".join(removed))
        return [f"{tpool}/{v}" for v in removed]
