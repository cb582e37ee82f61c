"""Templates (SPEC 2.4): read-only base images for VMs, kept in a JVP-managed libvirt `dir` pool per storage
pool (`<pool>_templates_`, directory `<pool path>/_templates_`), with their metadata in
`metadata/<node>/<template>/metadata.yaml`. Names are unique per node.

This module reads, edits and deletes templates; create-vm's `template` source is in vm_source.py,
check-template-updates and the history (with what rebuild-vm asks of a template) in checks.py, registration in
register.py (the node side in install.py), the update flow in update.py, the metadata and usage views in
catalog.py. Each part receives its collaborators in its constructor; none reaches back into this service.
Usage is computed from the node (the gateway's template_usage): `usage.vm_count` and the dependents the API answers are always what the domains
and volumes say right now. The count stored in the metadata file is a copy of the last computed value,
written back when a template is listed or described and after delete-vm (`after_vm_deleted`); create-vm
records `usage.last_used` but leaves the stored count to the next read. Never rely on the stored copy.

Nothing that removes an image guesses: while a storage pool of the node is inactive or cannot be listed, a
volume in it may be backed by the image without anything showing it, so delete-template refuses (409
TemplateUsageUnknown, naming the pools) and old images are kept (update.py `prune`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jvp.domain.storage_pool import TEMPLATE_POOL_SUFFIX
from jvp.domain.template import NodeUsage, describe_pools
from jvp.errors import Conflict, JvpError
from jvp.hypervisor.gateway import NodeGateway
from jvp.images.fetch import AddressPolicy, Fetcher, Hashes
from jvp.service.node import NodeService
from jvp.service.storage.pool import StoragePoolService
from jvp.service.storage.volume import VolumeService
from jvp.service.task.service import TaskService
from jvp.service.template.catalog import TemplateCatalog, image_paths, template_not_found
from jvp.service.template.checks import TemplateChecks
from jvp.service.template.download import Downloads
from jvp.service.template.history import TemplateHistory
from jvp.service.template.integrity import TemplateIntegrity
from jvp.service.template.register import TemplateRegistrar, TemplateSources, volume_name
from jvp.service.template.update import TemplateUpdater
from jvp.service.template.vm_source import TemplateVmSource
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)
TEMPLATE_TASKS = ("register-template", "update-template-image")


class TemplateService(TemplateVmSource, TemplateChecks):
    def __init__(self, store: MetadataStore, nodes: NodeService, gateway: NodeGateway, tasks: TaskService,
                 volumes: VolumeService, pools: StoragePoolService, data_dir: Path, download: dict[str, Any],
                 sources: TemplateSources, list_timeout_s: float = 10.0, listen: tuple[str, int] | None = None):
        self.store = store
        self.nodes = nodes
        self.gateway = gateway
        self.tasks = tasks
        self.volumes = volumes
        self.list_timeout_s = list_timeout_s
        # where downloads may connect: public addresses unless download.allow_private; never JVP itself
        policy = AddressPolicy(allow_private=bool(download.get("allow_private")), listen=listen)
        self.fetcher = Fetcher(max_bytes=download["max_bytes"], max_redirects=download["max_redirects"],
                               timeout_s=download["timeout_s"], policy=policy)
        self.catalog = TemplateCatalog(store, nodes, gateway, tasks)
        self.registrar = TemplateRegistrar(self.catalog, store, nodes, gateway, tasks, volumes, pools, self.fetcher,
                                           Downloads(store, Path(data_dir), self.fetcher), download, Path(data_dir),
                                           sources)
        self.history = TemplateHistory(store)
        self.updater = TemplateUpdater(self.catalog, self.registrar, store, nodes, gateway, tasks, self.history)
        self.integrity = TemplateIntegrity(self.catalog, store, gateway, tasks, self.history, list_timeout_s)

    def close(self) -> None:
        """Nothing of its own to stop: listings run on the gateway's fan-out pool."""

    # -- the catalog's reads (catalog.py), for the API and the snapshot module -----------------------------
    def doc(self, node: str, name: str) -> dict[str, Any]:
        return self.catalog.doc(node, name)

    def usage(self, node: str) -> NodeUsage:
        return self.catalog.usage(node)

    def describe(self, node: str, name: str) -> dict[str, Any]:
        return self.catalog.describe(node, name)

    # -- reading ----------------------------------------------------------------------------------------
    def list(self, node: str | None = None, pool: str | None = None) -> dict[str, Any]:
        if node:
            self.nodes.record(node)
        known = [node] if node else self.nodes.names()
        listing = self.store.list("template")
        errors: list[dict[str, Any]] = [dict(e) for e in listing.errors]
        by_node: dict[str, list[dict[str, Any]]] = {}
        for (n, _), doc in listing.items:
            if pool and doc["storage"]["pool"] != pool:
                continue
            if n in known:
                by_node.setdefault(n, []).append(doc)
            elif not node:
                errors.append({"node": n, "code": "NodeNotFound", "message": f"templates are recorded for node "
                               f"'{n}', which JVP no longer knows; re-add the node or remove metadata/{n}/"})
        # the nodes' usage in parallel (the gateway's fan-out: a node known dead is skipped unless asked for)
        outcomes = {r.node: r for r in self.gateway.fan_out(sorted(by_node), self.usage, self.list_timeout_s,
                                                            skip_dead=not node)}
        templates = []
        for n, docs in sorted(by_node.items()):
            usage = outcomes[n].value
            if outcomes[n].error is not None:
                errors.append(outcomes[n].error)
            for doc in docs:
                view = self.catalog.view(doc, usage)
                self.catalog.sync_count(n, doc["name"], view)
                templates.append(view)
        return {"templates": sorted(templates, key=lambda t: (t["node"], t["name"])), "errors": errors}

    # -- editing ----------------------------------------------------------------------------------------
    def update(self, node: str, name: str, *, description: str | None = None, os: dict | None = None,
               features: dict | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        """Given fields of os and features replace those fields; tags replace the list."""
        self.doc(node, name)

        def change(d: dict | None) -> dict | None:
            if d is None:
                raise template_not_found(node, name)
            new = dict(d)
            if description is not None:
                new["description"] = description
            if os is not None:
                new["os"] = {**d["os"], **os}
            if features is not None:
                new["features"] = {**d["features"], **features}
            if tags is not None:
                new["tags"] = list(dict.fromkeys(tags))
            new["updated_at"] = rfc3339()
            return new
        self.store.update("template", node, name, fn=change)
        return self.describe(node, name)

    # -- deleting ---------------------------------------------------------------------------------------
    def delete(self, node: str, name: str) -> dict[str, Any]:
        """Refused (409 TemplateInUse) while any volume is backed by one of its images or a VM disk opens one;
        then every image goes, then the metadata, then JVP's template pool if it is left empty."""
        doc = self.doc(node, name)
        self.catalog.busy(node, name)
        usage = self.usage(node)
        bases = image_paths(doc)
        volumes = usage.backed_volumes(bases)
        direct = usage.paths_in_use(bases)
        vms = sorted({v.name for v in usage.vms(doc, bases) if v.disks} | {n for ns in direct.values()
                                                                               for n in ns})
        if volumes or vms:
            names = [f"{v.pool}/{v.name}" for v in volumes]
            raise Conflict(f"template '{name}' on node '{node}' is in use: "
                           + (f"volumes {', '.join(names)} are backed by it" if names else "")
                           + ("; " if names and vms else "") + (f"VMs {', '.join(vms)} use it" if vms else "")
                           + ". Delete those VMs (with their volumes) first", code="TemplateInUse",
                           details={"volumes": names, "vms": vms, "node": node})
        unknown = usage.unknown_pools()
        if unknown:
            pools = [p["pool"] for p in unknown]
            raise Conflict(f"template '{name}' on node '{node}' is not deleted: the volumes of storage pool(s) "
                           f"{describe_pools(unknown)} cannot be seen, so JVP cannot tell whether one of them is "
                           "backed by the template's image. Start the pool(s) (start-storage-pool) or repair them, "
                           "then delete the template again", code="TemplateUsageUnknown",
                           details={"pools": pools, "unknown_pools": unknown, "node": node})
        tpool = doc["storage"]["template_pool"]
        deleted = []
        for volume in [doc["storage"]["volume"], *(p["volume"] for p in doc.get("previous") or [])]:
            outcome = self.gateway.delete_volume(node, tpool, volume)
            if outcome == "busy":
                raise Conflict(f"the image {tpool}/{volume} of template '{name}' is held open by libvirt (a "
                               "transfer in progress, or its pool is inactive); try again when it ends",
                               code="ResourceBusy", details={"pool": tpool, "volume": volume})
            if outcome == "deleted":
                deleted.append(f"{tpool}/{volume}")
        self.store.delete("template", node, name)
        self.history.forget(node, name)
        log.info("template %s deleted on node %s (%s)", name, node, ", ".join(deleted) or "no image left")
        return {"ok": True, "deleted_volumes": deleted,
                "template_pool_removed": self.drop_empty_pool(node, doc["storage"]["pool"])}

    def after_vm_deleted(self, node: str, vm: str) -> list[str]:
        """delete-vm's hook, called once the VM is gone: the old images of the node's templates that nothing
        uses any more are removed now (not at the next check or update), and the stored usage.vm_count is
        brought up to date. Returns the removed `pool/volume`s. Never raises: the VM is deleted whatever
        happens here, and a failure only leaves the old images to the next check-template-update,
        update-template-image or delete-template."""
        try:
            docs = [d for (n, _), d in self.store.list("template").items if n == node]
            if not docs:
                return []
            usage = self.usage(node)
            removed: list[str] = []
            for doc in docs:
                if doc.get("previous"):
                    removed += self.updater.prune(node, doc["name"], usage)
                    doc = self.store.get("template", node, doc["name"]) or doc
                self.catalog.sync_count(node, doc["name"], self.catalog.view(doc, usage))
            if removed:
                log.info("delete-vm %s on %s: removed old template images nothing used any more: %s", vm, node,
                         ", ".join(removed))
            return removed
        except Exception:  # noqa: BLE001 - must never fail delete-vm
            log.exception("delete-vm %s on %s: old template images not checked now (the next "
                          "check-template-update or update-template-image of each template will)", vm, node)
            return []

    def remove_empty_pool(self, spec: dict[str, Any]) -> None:
        """Cleanup handler "template-pool": a failed registration that made the pool takes it back."""
        self.drop_empty_pool(spec["node"], spec["pool"], except_task=spec.get("task"))

    def drop_empty_pool(self, node: str, pool: str, except_task: str | None = None) -> bool:
        """Remove `<pool>_templates_` once it holds nothing and no (other) template task works in it."""
        tpool = pool + TEMPLATE_POOL_SUFFIX
        for t in self.tasks.list(node=node)["tasks"]:
            if t["state"] in ("pending", "running") and t["kind"] in TEMPLATE_TASKS and t["id"] != except_task:
                return False  # a registration may be about to put an image there
        if any(d["storage"]["template_pool"] == tpool for (n, _), d in self.store.list("template").items
               if n == node):
            return False
        try:
            removed = self.gateway.remove_pool_if_empty(node, tpool)
        except JvpError as exc:  # the template is gone already; an empty internal pool is harmless
            log.warning("template pool %s on %s not removed: %s", tpool, node, exc.message)
            return False
        if removed:
            log.info("template pool %s on node %s was empty and is removed", tpool, node)
        return removed

    # -- registration and updates (register.py, update.py) ----------------------------
    def register(self, node: str, pool: str, name: str, source: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.registrar.register(node, pool, name, source, **kwargs)

    def register_from_volume(self, node: str, pool: str, name: str, source_pool: str, source_volume: str,
                             **kwargs: Any) -> dict[str, Any]:
        return self.registrar.register_from_volume(node, pool, name, source_pool, source_volume, **kwargs)

    def check_update(self, node: str, name: str, by: str | None = None) -> dict[str, Any]:
        return self.updater.check(node, name, by=by)

    # -- integrity (integrity.py) -------------------------------------------------------------------------
    def validate_at_start(self) -> dict[str, dict[str, str]]:
        """Start-up validation: never raises (a node that cannot be asked is logged and left as it was)."""
        try:
            return self.integrity.validate_all(self.nodes.names())
        except Exception:  # noqa: BLE001 - JVP starts whatever the nodes answer
            log.exception("the start-up validation of the templates failed")
            return {}

    def verify(self, node: str, name: str, created_by: str | None, request_id: str | None) -> dict[str, Any]:
        return self.integrity.submit_verify(node, name, created_by, request_id)

    def update_image(self, node: str, name: str, **kwargs: Any) -> dict[str, Any]:
        return self.updater.update_image(node, name, **kwargs)

    # -- template images other modules make (export-snapshot-to-template) -----------------------------
    def exists(self, node: str, name: str) -> bool:
        return self.store.get("template", node, name) is not None

    def check_pool(self, node: str, pool: str) -> None:
        """The pool can take a template image (its template pool is made when the image is installed)."""
        self.registrar.parent_pool(node, pool)

    def install_image(self, h: Any, node: str, pool: str, name: str, image: Path, source: dict[str, Any],
                      meta: dict[str, Any], *, size: int, virtual: int) -> dict[str, Any]:
        """A qcow2 image file made on the controller becomes template `name` (version 1) in `pool`: copied
        into the template pool with its sha256 taken on the way (`source.checksum`), then recorded."""
        hashes = Hashes(("sha256",))
        vol, spec = self.registrar.install_file(h, node, pool, volume_name(name, 1, "qcow2"), image, "qcow2",
                                                hashes)
        source = {**source, "checksum": f"sha256:{hashes.hexdigest('sha256')}"}
        doc = self.registrar.new_doc(node, pool, name, source["type"], vol, "qcow2", size, virtual, source, meta)
        return self.registrar.save(h, node, name, doc, [spec])
