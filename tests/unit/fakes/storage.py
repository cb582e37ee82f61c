"""Fakes for the storage services: the node gateway's storage operations over in-memory pools, volumes and VM
disks, the node service's availability, and the task service's busy check (no libvirt, no patched module
paths)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterable

from jvp.domain.node import NodeRecord
from jvp.domain.storage_pool import PoolSpec, PoolView
from jvp.domain.volume import BackingView, DiskUser, References, SkippedPool, VmDisk, VolumeLink, VolumeView
from jvp.errors import JvpError, PreconditionFailed, already_exists, not_found


class FakeNodes:
    def __init__(self, name: str = "local"):
        self.rec = NodeRecord(name=name, uri="qemu:///system")

    def record(self, name: str) -> NodeRecord:
        return self.rec

    def ensure_available(self, name: str) -> NodeRecord:
        return self.rec

    def names(self) -> list[str]:
        return [self.rec.name]


class FakeTasks:
    """No task is ever busy on a resource; submit and run_inline run the work at once with a FakeHandle."""

    def __init__(self) -> None:
        self.handles: list[FakeHandle] = []

    def active_on(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def list(self, node: str | None = None, **_: Any) -> dict[str, Any]:
        return {"tasks": []}

    def _run(self, work: Callable) -> Any:
        handle = FakeHandle()
        self.handles.append(handle)
        return handle, work(handle)

    def submit(self, kind: str, resource: dict[str, Any], work: Callable, **_: Any) -> dict[str, Any]:
        handle, result = self._run(work)
        return {"kind": kind, "result": result, "cleanups": handle.cleanups}

    def run_inline(self, kind: str, resource: dict[str, Any], work: Callable, **_: Any) -> Any:
        return self._run(work)[1]


class FakeHandle:
    id = "task-1"

    def __init__(self) -> None:
        self.cleanups: list[dict] = []
        self.progressed: list[float | None] = []

    def add_cleanup(self, spec: dict) -> None:
        self.cleanups.append(spec)

    def drop_cleanup(self, spec: dict) -> None:
        self.cleanups.remove(spec)

    def progress(self, pct: float | None = None, message: str | None = None, **_: Any) -> None:
        self.progressed.append(pct)

    def restart_rate(self, bytes_done: int) -> None:
        pass

    def check_cancelled(self) -> None:
        pass


def pool_view(name: str, *, ptype: str = "dir", path: str | None = None, active: bool = True,
              available: int = 100 * 2**30, persistent: bool = True) -> PoolView:
    """A pool view as jvp.hypervisor.storage_pool.view makes it."""
    return PoolView(name=name, type=ptype, uuid=f"uuid-{name}", path=path if path is not None else f"/srv/{name}",
                    state="running" if active else "inactive", active=active, autostart=True,
                    persistent=persistent, capacity_bytes=200 * 2**30 if active else None,
                    allocation_bytes=0 if active else None, available_bytes=available if active else None,
                    volume_count=0 if active else None)


def vol_view(pool: str, name: str, *, capacity: int = 2**30, fmt: str = "qcow2", backing: str | None = None,
             path: str | None = None) -> VolumeView:
    """A volume view as jvp.hypervisor.volume.view makes it."""
    return VolumeView(name=name, pool=pool, path=path or f"/srv/{pool}/{name}", format=fmt,
                      capacity_bytes=capacity, allocation_bytes=capacity // 4, physical_bytes=capacity // 4,
                      backing=BackingView(backing, "qcow2") if backing else None)


def disk(vm: str, path: str, *, running: bool = False, target: str = "vda",
         backing_paths: Iterable[str] = ()) -> DiskUser:
    """A VM disk as jvp.hypervisor.volume.disk_users gives it."""
    return DiskUser(vm=vm, running=running, disk=VmDisk(target=target, device="disk", path=path, pool=None,
                                                        volume=None, backing_paths=tuple(backing_paths),
                                                        live=running))


class FakeStorageGateway:
    """The storage operations of NodeGateway over views (replaced when they change); `calls` records every
    change."""

    def __init__(self, pools: Iterable[PoolView] = (), volumes: Iterable[VolumeView] = (),
                 disks: Iterable[DiskUser] = ()):
        self.pools = {p.name: p for p in pools}
        self.vols = {(v.pool, v.name): v for v in volumes}
        self.disks = list(disks)
        self.calls: list[tuple] = []
        self.uploaded: dict[tuple[str, str], bytes] = {}

    def _pool(self, node: str, name: str, *, active: bool = False) -> PoolView:
        if name not in self.pools:
            raise not_found("storage_pool", name, node)
        p = self.pools[name]
        if active and not p.active:
            raise PreconditionFailed(f"storage pool '{name}' on node '{node}' is inactive; start it first "
                                     "(start-storage-pool)", code="StoragePoolInactive",
                                     details={"pool": name, "node": node})
        return p

    def _vol(self, node: str, pool: str, name: str) -> VolumeView:
        self._pool(node, pool, active=True)
        if (pool, name) not in self.vols:
            raise not_found("volume", name, node)
        return self.vols[(pool, name)]

    # -- pools --------------------------------------------------------------------------------------------
    def list_pools(self, node: str) -> list[PoolView]:
        return [p for _, p in sorted(self.pools.items())]

    def describe_pool(self, node: str, name: str) -> PoolView:
        return self._pool(node, name)

    def usable_pool(self, node: str, name: str, *, refresh: bool = False) -> PoolView:
        return self._pool(node, name, active=True)

    def create_pool(self, node: str, spec: PoolSpec, *, autostart: bool) -> PoolView:
        self.calls.append(("create_pool", spec.name))
        if spec.name in self.pools:
            raise already_exists("storage_pool", spec.name, node)
        self.pools[spec.name] = pool_view(spec.name, ptype=spec.type, path=spec.path)
        return self.pools[spec.name]

    def start_pool(self, node: str, name: str) -> PoolView:
        self.calls.append(("start_pool", name))
        p = self._pool(node, name)
        self.pools[name] = pool_view(name, ptype=p.type, path=p.path, persistent=p.persistent)
        return self.pools[name]

    def stop_pool(self, node: str, name: str, *, action: str | None = "stop") -> PoolView | None:
        self.calls.append(("stop_pool", name))
        p = self._pool(node, name)
        self.pools[name] = pool_view(name, ptype=p.type, path=p.path, active=False, persistent=p.persistent)
        return self.pools[name]

    def refresh_pool(self, node: str, name: str) -> PoolView:
        return self._pool(node, name, active=True)

    def set_pool_autostart(self, node: str, name: str, on: bool) -> PoolView:
        self.calls.append(("set_pool_autostart", name, on))
        self.pools[name] = replace(self._pool(node, name), autostart=on)
        return self.pools[name]

    def delete_pool(self, node: str, name: str, *, remove_directory: bool) -> bool | None:
        self.calls.append(("delete_pool", name))
        self.pools.pop(name)
        return remove_directory or None

    def pool_volumes(self, node: str, name: str) -> list[VolumeView]:
        self._pool(node, name, active=True)
        return [v for (p, _), v in sorted(self.vols.items()) if p == name]

    def remove_pool_if_empty(self, node: str, name: str) -> bool:
        if name not in self.pools or any(p == name for p, _ in self.vols):
            return False
        self.calls.append(("remove_pool_if_empty", name))
        del self.pools[name]
        return True

    # -- volumes ------------------------------------------------------------------------------------------
    def volume(self, node: str, pool: str, name: str) -> VolumeView:
        return self._vol(node, pool, name)

    def volume_exists(self, node: str, pool: str, name: str) -> bool:
        self._pool(node, pool, active=True)
        return (pool, name) in self.vols

    def volume_at_path(self, node: str, path: str) -> tuple[str, str] | None:
        return next(((v.pool, v.name) for v in self.vols.values() if v.path == path), None)

    def all_volumes(self, node: str) -> tuple[list[VolumeView], list[SkippedPool]]:
        active = {n for n, p in self.pools.items() if p.active}
        return ([v for (p, _), v in sorted(self.vols.items()) if p in active],
                [SkippedPool(n, "StoragePoolInactive", "") for n in sorted(self.pools) if n not in active])

    def volumes_and_users(self, node: str, pools: list[str] | None):
        for p in pools or []:
            self._pool(node, p, active=True)
        vols, skipped = self.all_volumes(node)
        if pools is not None:
            vols = [v for v in vols if v.pool in pools]
            skipped = []
        return vols, skipped, self.references(node)

    def volume_with_users(self, node: str, pool: str, name: str) -> tuple[VolumeView, References]:
        return self.volume(node, pool, name), self.references(node)

    def references(self, node: str) -> References:
        vols, _ = self.all_volumes(node)
        return References(users_=list(self.disks), volumes=[
            VolumeLink(v.pool, v.name, v.path, v.backing.path if v.backing else None) for v in vols])

    def settle_volume(self, node: str, pool: str, name: str, fmt: str | None) -> VolumeView:
        vol = self._vol(node, pool, name)
        if fmt:
            vol = self.vols[(pool, name)] = replace(vol, format=fmt)
        return vol

    def volume_physical_size(self, node: str, pool: str, name: str) -> int:
        return self._vol(node, pool, name).physical_bytes or 0

    def create_volume(self, node: str, pool: str, name: str, capacity_bytes: int, fmt: str | None, *,
                      sparse: bool, backing: dict[str, str] | None = None, action: str = "create"
                      ) -> VolumeView:
        self.calls.append(("create_volume", pool, name, capacity_bytes, fmt))
        self._pool(node, pool, active=True)
        if (pool, name) in self.vols:
            raise JvpError(f"volume '{name}' exists", code="VolumeExists", status=409)
        self.vols[(pool, name)] = vol_view(pool, name, capacity=capacity_bytes, fmt=fmt or "raw",
                                           backing=backing["path"] if backing else None)
        return self.vols[(pool, name)]

    def clone_volume(self, node: str, src_pool: str, src_name: str, pool: str, name: str, capacity_bytes: int,
                     fmt: str | None, *, sparse: bool, expected_bytes: int, progress: Callable[[int], None],
                     action: str = "clone") -> VolumeView:
        self.calls.append(("clone_volume", src_pool, src_name, pool, name))
        self._vol(node, src_pool, src_name)
        progress(expected_bytes // 2)
        self.vols[(pool, name)] = vol_view(pool, name, capacity=capacity_bytes, fmt=fmt or "raw")
        return self.vols[(pool, name)]

    def resize_volume(self, node: str, pool: str, name: str, capacity_bytes: int) -> None:
        self.calls.append(("resize_volume", pool, name, capacity_bytes))
        self.vols[(pool, name)] = replace(self._vol(node, pool, name), capacity_bytes=capacity_bytes)

    def block_resize(self, node: str, vm: str, target: str, capacity_bytes: int, *, volume: str) -> None:
        self.calls.append(("block_resize", vm, target, capacity_bytes))

    def delete_volume(self, node: str, pool: str, name: str, *, action: str | None = "delete") -> str:
        self.calls.append(("delete_volume", pool, name))
        return "deleted" if self.vols.pop((pool, name), None) else "absent"

    def upload_to_volume(self, node: str, pool: str, name: str, length: int, blocks: Iterable[bytes], *,
                         action: str = "upload") -> None:
        self._vol(node, pool, name)
        self.uploaded[(pool, name)] = b"".join(blocks)

    def download_volume(self, node: str, pool: str, name: str, length: int):
        yield b"\0" * length
