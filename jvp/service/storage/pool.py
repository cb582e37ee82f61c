"""Storage pools (SPEC 2.2): list, describe, create (define, build, start, autostart), delete, start, stop,
refresh, modify. Through the node gateway's typed storage operations only; the path and source rules are
in rules.py.

JVP's template pools (`<pool>_templates_`) are internal: hidden from the listing unless asked for, and
neither created nor deleted through these actions (the template module manages them).
"""
from __future__ import annotations

import logging
import os
import pwd
from dataclasses import replace
from typing import Any, Sequence

from jvp.domain.storage_pool import FILE_POOL_TYPES, TEMPLATE_POOL_SUFFIX, PoolView, is_internal_pool
from jvp.domain.volume import DiskUser, References, VolumeView, vm_names
from jvp.errors import Conflict, InvalidInput, PreconditionFailed, already_exists
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.node_uri import on_this_machine
from jvp.service.storage.rules import PATH_REQUIRED, check_pool_directory, pool_spec
from jvp.service.storage.volume import VolumeService

log = logging.getLogger(__name__)


def local_homes() -> list[str]:
    """Home directories of this machine's users (pool paths refuse them: rules.py)."""
    try:
        return sorted({os.path.normpath(u.pw_dir) for u in pwd.getpwall() if u.pw_dir not in ("", "/")})
    except OSError:  # pragma: no cover - no user database
        return []


class StoragePoolService:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, volumes: VolumeService,
                 protected_dirs: Sequence[str] = ()):
        self.nodes = nodes  # availability (maintenance)
        self.gateway = gateway
        self.volumes = volumes
        # JVP's data dir (as configured and resolved): refused as a pool directory on every node
        self.protected = sorted({p for d in protected_dirs for p in (os.path.normpath(d), os.path.realpath(d))})

    def _check_resolved(self, node_uri: str, spec: Any) -> None:
        """The pool path's deny-list again with its symlinks resolved, when the node is this machine (a
        remote node's filesystem is not the controller's: the path as given was checked by pool_spec)."""
        if spec.path and spec.type in PATH_REQUIRED and on_this_machine(node_uri):
            check_pool_directory(spec.path, protected=self.protected, homes=local_homes(),
                                 resolved=os.path.realpath(spec.path))

    @staticmethod
    def _view(node: str, p: PoolView) -> PoolView:
        return replace(p, node=node)

    # -- reading --------------------------------------------------------------------------------------
    def list(self, node: str, include_internal: bool = False) -> dict[str, Any]:
        pools = self.gateway.list_pools(node)
        return {"pools": [self._view(node, p) for p in pools if include_internal or not p.internal],
                "errors": []}

    def describe(self, node: str, name: str) -> PoolView:
        return self._view(node, self.gateway.describe_pool(node, name))

    # -- creating -------------------------------------------------------------------------------------
    def create(self, node: str, name: str, ptype: str, path: str | None = None,
               source: dict[str, Any] | None = None, autostart: bool = True, build: bool | None = None,
               internal: bool = False) -> PoolView:
        """`internal=True` is for JVP's own modules (the template pool); the API never sets it."""
        if is_internal_pool(name) and not internal:
            raise InvalidInput(f"pool names ending in '{TEMPLATE_POOL_SUFFIX}' are reserved for JVP's template "
                               "pools", code="ReservedName",
                               details={"field_errors": {"name": ["Reserved for JVP's template pools."]}})
        spec = pool_spec(name, ptype, path, source, build, protected=self.protected)
        self._check_resolved(self.nodes.ensure_available(node).uri, spec)
        existing = self.gateway.list_pools(node)
        if any(p.name == name for p in existing):
            raise already_exists("storage_pool", name, node)
        if spec.path and ptype in FILE_POOL_TYPES:
            clash = next((p.name for p in existing if p.path == spec.path), None)
            if clash:
                raise Conflict(f"path '{spec.path}' is already the directory of storage pool '{clash}' on "
                               f"node '{node}'", code="StoragePoolPathInUse",
                               details={"pool": clash, "path": spec.path, "node": node})
        created = self.gateway.create_pool(node, spec, autostart=autostart)
        log.info("storage pool %s (%s, %s) created on node %s", name, ptype, spec.path, node)
        return self._view(node, created)

    # -- state ----------------------------------------------------------------------------------------
    def start(self, node: str, name: str) -> PoolView:
        self.nodes.ensure_available(node)
        return self._view(node, self.gateway.start_pool(node, name))

    def _users(self, node: str, pool: PoolView, volumes: list[VolumeView] | None,
               usage: References) -> list[DiskUser]:
        """Every reference to an image of the pool (disks, boot files, chains: References.users)."""
        users = []
        if volumes is not None:
            for v in volumes:
                users += usage.users(pool.name, v.name, v.path)
        elif pool.path and pool.type in FILE_POOL_TYPES:
            users += usage.under(pool.path)  # an inactive pool: match the images by directory
        return list(dict.fromkeys(users + usage.of_pool(pool.name)))

    def stop(self, node: str, name: str) -> PoolView:
        """Refused while a running VM has one of its volumes open (for netfs/fs/logical pools stopping would
        pull the storage from under the guest)."""
        pool = self.describe(node, name)
        if pool.active:
            volumes = self.gateway.pool_volumes(node, name)
            running = [u for u in self._users(node, pool, volumes, self.volumes.usage(node)) if u.running]
            if running:
                raise Conflict(f"storage pool '{name}' has volumes open in running VMs "
                               f"({', '.join(vm_names(running))}); stop those VMs first",
                               code="StoragePoolInUse", details={"vms": vm_names(running), "node": node})
        view = self.gateway.stop_pool(node, name)
        return self._view(node, view) if view else replace(pool, active=False, state="inactive")

    def refresh(self, node: str, name: str) -> PoolView:
        return self._view(node, self.gateway.refresh_pool(node, name))

    def modify(self, node: str, name: str, autostart: bool | None) -> PoolView:
        if autostart is None:
            return self.describe(node, name)
        pool = self.describe(node, name)
        if not pool.persistent:
            raise Conflict(f"storage pool '{name}' is transient (not defined persistently): it cannot "
                           "autostart", code="InvalidState", details={"node": node})
        return self._view(node, self.gateway.set_pool_autostart(node, name, autostart))

    # -- deleting -------------------------------------------------------------------------------------
    def delete(self, node: str, name: str, delete_volumes: bool = False) -> dict[str, Any]:
        if is_internal_pool(name):
            raise Conflict(f"storage pool '{name}' holds JVP's templates; delete the templates "
                           "(delete-template) and JVP removes it", code="StoragePoolIsInternal",
                           details={"node": node})
        pool = self.describe(node, name)
        companion = name + TEMPLATE_POOL_SUFFIX
        if any(p.name == companion for p in self.gateway.list_pools(node)):
            raise Conflict(f"storage pool '{name}' has templates (pool '{companion}'); delete them first",
                           code="StoragePoolInUse", details={"internal_pool": companion, "node": node})
        started_here = False
        if not pool.active:
            # The volumes of an inactive pool cannot be listed: start it to know what is in it.
            try:
                self.gateway.start_pool(node, name)
                started_here = True
            except Exception as exc:  # noqa: BLE001 - a pool that cannot start has no reachable volumes
                if delete_volumes:
                    raise PreconditionFailed(f"storage pool '{name}' cannot be started to delete its volumes: "
                                             f"{getattr(exc, 'message', exc)}", code="StoragePoolInactive",
                                             details={"node": node}) from exc
                log.info("pool %s on %s cannot start (%s); deleting its definition only", name, node, exc)
        try:
            volumes = self.gateway.pool_volumes(node, name) if pool.active or started_here else None
            usage = self.volumes.usage(node)
            users = self._users(node, pool, volumes, usage)
            if users:
                raise Conflict(f"storage pool '{name}' has volumes attached to VMs ({', '.join(vm_names(users))}); "
                               "detach them or delete those VMs first", code="StoragePoolInUse",
                               details={"vms": vm_names(users), "node": node})
            names = [v.name for v in volumes or []]
            if names and not delete_volumes:
                raise Conflict(f"storage pool '{name}' still holds {len(names)} volume(s): "
                               f"{', '.join(names[:10])}{'...' if len(names) > 10 else ''}; delete them or pass "
                               "delete_volumes=true", code="StoragePoolNotEmpty",
                               details={"volumes": names, "node": node})
            outside = [d for d in self.volumes.dependents(node, [v.path for v in volumes or []], usage)
                       if not d.startswith(name + "/")]
            if outside:
                raise Conflict(f"volumes of pool '{name}' are the backing images of {', '.join(outside)}",
                               code="VolumeHasDependents", details={"volumes": outside, "node": node})
        except Exception:
            if started_here:
                self.gateway.stop_pool(node, name, action=None)
            raise
        deleted = []
        for v in names:
            self.volumes.delete_member(node, name, v)
            deleted.append(v)
        removed = self.gateway.delete_pool(node, name, remove_directory=pool.type == "dir")
        log.info("storage pool %s deleted on node %s (%d volumes deleted)", name, node, len(deleted))
        return {"ok": True, "deleted_volumes": deleted, "directory_removed": removed}
