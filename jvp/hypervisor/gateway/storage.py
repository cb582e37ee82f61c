"""Storage operations of the node gateway: pools, volumes, volume streams, and who uses an image (see base.py
for the rules every operation follows).

A pool that a volume operation needs running is looked up with storage_pool.lookup(active=True); when it is
missing or stopped the operation raises 404 StoragePoolNotFound or 422 StoragePoolInactive (`pool_error`),
never libvirt's own error. Pool and volume XML is built here (storage_xml) from the plain values the services
pass. Streams (upload, download) stay in the hypervisor layer: the services hand over or receive byte
iterables.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import Callable, Iterable, Iterator

from jvp.domain.storage_pool import PoolSpec, PoolView
from jvp.domain.volume import References, SkippedPool, VolumeView
from jvp.errors import Conflict, JvpError, NotSupported, already_exists, not_found, pool_inactive
from jvp.hypervisor import storage_pool as pool_hv
from jvp.hypervisor import volume as vol_hv
from jvp.hypervisor import volume_stream
from jvp.hypervisor.gateway.base import GatewayBase, translated
from jvp.hypervisor.storage_xml import build_pool_xml, build_volume_xml

BLOCK = volume_stream.BLOCK  # the size of one block of a volume stream: read uploads in blocks of it


def pool_error(exc: pool_hv.PoolUnavailable, node: str) -> JvpError:
    if exc.reason == "missing":
        return not_found("storage_pool", exc.pool, node)
    return pool_inactive(exc.pool, node)


def _pool_errors(node: str) -> AbstractContextManager[None]:
    return translated(pool_hv.PoolUnavailable, lambda exc: pool_error(exc, node))


@contextmanager
def _pool_path_errors(node: str, name: str) -> Iterator[None]:
    try:
        yield
    except pool_hv.PathNotDirectory as exc:
        raise Conflict(f"storage pool '{name}' on node '{node}': its path exists and is not a directory "
                       f"({exc}); choose a directory, or a path that does not exist yet",
                       code="PoolPathNotDirectory", details={"node": node, **exc.details}) from exc


class StorageOps(GatewayBase):
    # -- pools ------------------------------------------------------------------------------------------
    def list_pools(self, node: str) -> list[PoolView]:
        """Every pool of the node (SPEC 2.2's fields), sorted by name."""
        return self._read(node, pool_hv.list_all, kind="node", obj=node)

    def describe_pool(self, node: str, name: str) -> PoolView:
        """One pool's view, active or not."""
        return self._read(node, lambda c: pool_hv.describe(c, name), kind="storage_pool", obj=name)

    def usable_pool(self, node: str, name: str, *, refresh: bool = False) -> PoolView:
        """A running pool's view (404 when missing, 422 when inactive); `refresh` re-reads free space first."""
        def fn(conn):
            vol_hv.active_pool(conn, name)
            if refresh:
                vol_hv.refresh_quietly(conn, name)
            return pool_hv.describe(conn, name)
        with _pool_errors(node):
            return self._read(node, fn, kind="volume")

    def create_pool(self, node: str, spec: PoolSpec, *, autostart: bool) -> PoolView:
        """Define, build (spec.build), start and set autostart a pool from a validated spec (rules.pool_spec);
        a failure removes the definition. A pool of that name defined meanwhile is 409 StoragePoolExists."""
        name, xml = spec.name, build_pool_xml(spec)
        try:
            with _pool_path_errors(node, name):
                return self._write(node, lambda c: pool_hv.create(c, xml, build=spec.build, ptype=spec.type,
                                                                  autostart=autostart, name=name),
                                   kind="storage_pool", obj=name, action="create")
        except pool_hv.PoolDefinedMeanwhile as exc:  # a concurrent define won the race since the check
            raise already_exists("storage_pool", name, node, **exc.details) from exc
        except pool_hv.BuildUnsupported as exc:  # support table: pool_build_no_overwrite
            raise NotSupported(
                f"node '{node}' cannot build a {spec.type} pool without the risk of writing over what its device "
                f"holds (its libvirt refuses the build's no-overwrite flag: {exc}); the pool was not created. "
                "Prepare the device yourself and create the pool with build: false",
                code="NotSupported", details={"node": node, "pool": name, "type": spec.type,
                                              **exc.details}) from exc

    def start_pool(self, node: str, name: str) -> PoolView:
        """Start a pool (nothing when it runs already); its view."""
        with _pool_path_errors(node, name):
            return self._write(node, lambda c: pool_hv.start(c, name), kind="storage_pool", obj=name,
                               action="start")

    def stop_pool(self, node: str, name: str, *, action: str | None = "stop") -> PoolView | None:
        """Stop a pool; its view, or None for a transient pool (gone once stopped)."""
        return self._write(node, lambda c: pool_hv.stop(c, name), kind="storage_pool", obj=name,
                           action=action)

    def refresh_pool(self, node: str, name: str) -> PoolView:
        """Re-read a running pool's volumes and sizes (404 missing, 422 inactive); its view."""
        def fn(conn):
            vol_hv.active_pool(conn, name)
            return pool_hv.refresh(conn, name)
        with _pool_errors(node):
            return self._write(node, fn, kind="storage_pool", obj=name, action="refresh")

    def set_pool_autostart(self, node: str, name: str, on: bool) -> PoolView:
        """Set whether the pool starts with libvirtd; its view."""
        return self._write(node, lambda c: pool_hv.set_autostart(c, name, on), kind="storage_pool", obj=name,
                           action="modify")

    def delete_pool(self, node: str, name: str, *, remove_directory: bool) -> bool | None:
        """Stop and undefine a pool (and rmdir its then-empty directory): whether the directory went."""
        return self._write(node, lambda c: pool_hv.delete(c, name, remove_directory=remove_directory),
                           kind="storage_pool", obj=name, action="delete")

    def pool_volumes(self, node: str, name: str) -> list[VolumeView]:
        """The volumes of one pool (libvirt's error when it is not running)."""
        return self._read(node, lambda c: vol_hv.list_pool(pool_hv.lookup(c, name)), kind="storage_pool",
                          obj=name)

    def remove_pool_if_empty(self, node: str, name: str) -> bool:
        """Start the pool when stopped, then stop, undefine and rmdir it when it holds no volume: whether it
        went (False when missing or not empty). For JVP's own template pools."""
        def remove(conn) -> bool:
            try:
                p = vol_hv.active_pool(conn, name)
            except pool_hv.PoolUnavailable as exc:
                if exc.reason == "missing":
                    return False
                pool_hv.start(conn, name)
                p = vol_hv.active_pool(conn, name)
            if p.numOfVolumes():
                return False
            return bool(pool_hv.delete(conn, name, remove_directory=True))
        return self._write(node, remove, kind="storage_pool", obj=name)

    # -- volumes: reading ------------------------------------------------------------------------------
    def volume(self, node: str, pool: str, name: str) -> VolumeView:
        """A volume's view (SPEC 2.3's fields without usage)."""
        with _pool_errors(node):
            return self._read(node, lambda c: vol_hv.describe(c, pool, name), kind="volume", obj=name)

    def volume_exists(self, node: str, pool: str, name: str) -> bool:
        """Whether the running pool holds a volume of that name."""
        with _pool_errors(node):
            return self._read(node, lambda c: vol_hv.exists(c, pool, name), kind="volume")

    def volume_at_path(self, node: str, path: str) -> tuple[str, str] | None:
        """(pool, volume) of the volume at a path on the node, or None when no active pool holds it."""
        return self._read(node, lambda c: vol_hv.at_path(c, path), kind=None)

    def volumes_and_users(self, node: str, pools: list[str] | None
                          ) -> tuple[list[VolumeView], list[SkippedPool], References]:
        """(volumes of the named pools or of all, pools that could not be read, who references what) on one
        connection."""
        def fn(conn):
            vols, skipped = vol_hv.list_pools(conn, pools)
            return vols, skipped, vol_hv.references(conn, vols if pools is None else None)
        with _pool_errors(node):
            return self._read(node, fn, kind="volume")

    def volume_with_users(self, node: str, pool: str, name: str) -> tuple[VolumeView, References]:
        """A volume's view and the References that answer who uses it (read for the VMs that can only)."""
        with _pool_errors(node):
            return self._read(node, lambda c: vol_hv.volume_references(c, pool, name), kind="volume", obj=name)

    def all_volumes(self, node: str) -> tuple[list[VolumeView], list[SkippedPool]]:
        """(every volume of the node's running pools, the pools that could not be read)."""
        return self._read(node, lambda c: vol_hv.list_pools(c, None), kind="node", obj=node)

    def references(self, node: str) -> References:
        """Who references which image: every VM's disks, cdroms, boot files and backing chains, and the
        volumes' own chains (one pass; jvp.domain.volume.References). The answer that guards deletes and
        resizes: exact (base.py `_check`)."""
        return self._check(node, vol_hv.references, kind="node", obj=node)

    def settle_volume(self, node: str, pool: str, name: str, fmt: str | None) -> VolumeView:
        """The volume once libvirt has re-read an uploaded image (its format probed), within 30 s."""
        with _pool_errors(node):
            return self._read(node, lambda c: vol_hv.settle(c, pool, name, fmt), kind="volume", obj=name)

    def volume_physical_size(self, node: str, pool: str, name: str) -> int:
        """The bytes a download of the volume sends (its file as the node holds it)."""
        with _pool_errors(node):
            return self._read(node, lambda c: volume_stream.physical_size(vol_hv.lookup(c, pool, name)),
                              kind="volume", obj=name)

    # -- volumes: changing ------------------------------------------------------------------------------
    def create_volume(self, node: str, pool: str, name: str, capacity_bytes: int, fmt: str | None, *,
                      sparse: bool, backing: dict[str, str] | None = None, action: str = "create"
                      ) -> VolumeView:
        """A new volume (`backing` {path, format}: a qcow2 overlay on it); its view."""
        xml = build_volume_xml(name, capacity_bytes, fmt, sparse=sparse, backing=backing)
        with _pool_errors(node):
            return self._write(node, lambda c: vol_hv.create(c, pool, xml), kind="volume", obj=name,
                               action=action)

    def clone_volume(self, node: str, src_pool: str, src_name: str, pool: str, name: str, capacity_bytes: int,
                     fmt: str | None, *, sparse: bool, expected_bytes: int, progress: Callable[[int], None],
                     action: str = "clone") -> VolumeView:
        """A node-side copy (libvirt copies on the node); progress(bytes written) while it runs. See
        volume.clone for a progress callback that raises."""
        xml = build_volume_xml(name, capacity_bytes, fmt, sparse=sparse)
        with _pool_errors(node):
            return self._write(node, lambda c: vol_hv.clone(c, src_pool, src_name, pool, name, xml, expected_bytes,
                                                            progress), kind="volume", obj=name, action=action)

    def resize_volume(self, node: str, pool: str, name: str, capacity_bytes: int) -> None:
        """Grow a volume nobody runs (thin)."""
        with _pool_errors(node):
            self._write(node, lambda c: vol_hv.resize(c, pool, name, capacity_bytes), kind="volume", obj=name,
                        action="resize")

    def block_resize(self, node: str, vm: str, target: str, capacity_bytes: int, *, volume: str) -> None:
        """Grow a disk through the running VM's QEMU (the guest sees the new size at once)."""
        self._write(node, lambda c: vol_hv.block_resize(c, vm, target, capacity_bytes), kind="volume", obj=volume,
                    action="resize")

    def delete_volume(self, node: str, pool: str, name: str, *, action: str | None = "delete") -> str:
        """'deleted', 'absent' (already gone) or 'busy' (libvirt still writes it, or its pool is inactive)."""
        with _pool_errors(node):
            return self._write(node, lambda c: vol_hv.delete(c, pool, name), kind="volume", obj=name,
                               action=action)

    # -- volume streams ---------------------------------------------------------------------------------
    def upload_to_volume(self, node: str, pool: str, name: str, length: int, blocks: Iterable[bytes], *,
                         action: str = "upload") -> None:
        """Send `blocks` (exactly `length` bytes in all) into an existing volume through a libvirt upload
        stream. Whatever the blocks raise (a short body, a cancel) aborts the stream at once, so the volume is
        released for its cleanup, and leaves unchanged."""
        def pump(conn) -> None:
            up = volume_stream.BackgroundUpload(volume_stream.Upload(conn, vol_hv.lookup(conn, pool, name), length))
            try:
                for block in blocks:
                    up.write(block)
                up.finish()
            except BaseException:
                up.abort()  # release the volume at once, so the task's cleanup can delete it
                raise
        with _pool_errors(node):
            self._write(node, pump, kind="volume", obj=name, action=action)

    def download_volume(self, node: str, pool: str, name: str, length: int) -> Iterator[bytes]:
        """The volume's bytes through a libvirt download stream. The stream is opened and its first block read
        here, before the caller sends any header: a failure to start (the volume gone, a driver without
        streams, libvirt refusing) is an error answer like any other. Errors after that end the iterator; the
        caller has sent its headers by then."""
        def open_stream(conn) -> tuple[bytes | None, Iterator[bytes]]:
            stream = volume_stream.download(conn, vol_hv.lookup(conn, pool, name), length)
            return next(stream, None), stream

        with _pool_errors(node):
            first, rest = self._read(node, open_stream, kind="volume", obj=name, action="download")

        def blocks() -> Iterator[bytes]:
            if first is not None:
                yield first
            yield from rest
        return blocks()
