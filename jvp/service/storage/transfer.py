"""Volume upload and download over HTTP through libvirt streams, with the server's memory flat.

Upload semantics: an upload always creates a NEW volume (an existing name is a 409). libvirt cannot rename
a volume, so there is no "write under a temporary name, then commit"; and writing over an existing volume
would leave it torn if the transfer broke. Instead the volume is created under its final name inside an
inline task that registers it as partial output: a length mismatch, a client that goes away, a node error
or a cancel-task deletes it before the request ends, and if the JVP process itself dies the next start
deletes it (task recovery). The request must carry Content-Length (the volume is created with that size and
the pool's free space is checked against it before a byte is written).

Format: `format` qcow2 or raw, or omitted to take it from the data. The first block is read before the
volume exists: a qcow2 image starts with its magic and carries its virtual size; a qcow2 that names a
backing file is refused (it would make a guest read a file of the node's choosing). After the upload libvirt
probes the image itself; a volume whose probed format is not the declared one is deleted (FormatMismatch),
so a raw upload can never turn into something else.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from jvp.domain.storage_pool import FILE_POOL_TYPES, is_internal_pool
from jvp.domain.volume import VolumeView
from jvp.errors import Conflict, InvalidInput, JvpError, already_exists
from jvp.hypervisor.gateway import NodeGateway
from jvp.hypervisor.gateway.storage import BLOCK
from jvp.service.node import NodeService
from jvp.service.task.service import TaskService
from jvp.service.storage.volume import VolumeService, insufficient_space, lacks_space, vm_names

log = logging.getLogger(__name__)
QCOW2_MAGIC = b"QFI\xfb"


class UploadBody(Protocol):
    """The request body as the api layer hands it over."""
    length: int | None

    def read(self, n: int) -> bytes:
        """Up to n bytes; raises JvpError(UploadIncomplete) when the client stops short."""


def incomplete(received: int, length: int) -> JvpError:
    return InvalidInput(f"the upload ended after {received} of the {length} bytes its Content-Length "
                        "announced; nothing was kept", code="UploadIncomplete",
                        details={"received_bytes": received, "content_length": length})


@dataclass(frozen=True)
class ImageHead:
    """What the first bytes of an upload show."""
    format: str                  # qcow2 | raw
    backing: bool = False        # a qcow2 that names a backing file
    virtual_size: int | None = None


def sniff(head: bytes) -> ImageHead:
    """The image format the first bytes show: qcow2 (with its virtual size and whether it names a backing
    file) or raw."""
    if head[:4] != QCOW2_MAGIC or len(head) < 32:
        return ImageHead("raw")
    backing_offset, = struct.unpack(">Q", head[8:16])
    virtual_size, = struct.unpack(">Q", head[24:32])
    return ImageHead("qcow2", backing=backing_offset != 0, virtual_size=virtual_size)


class VolumeTransferService:
    def __init__(self, nodes: NodeService, gateway: NodeGateway, volumes: VolumeService, tasks: TaskService):
        self.nodes = nodes  # availability (maintenance)
        self.gateway = gateway
        self.volumes = volumes
        self.tasks = tasks

    # -- upload ---------------------------------------------------------------------------------------
    def _check_format(self, fmt: str | None, seen: ImageHead, file_pool: bool) -> str | None:
        if not file_pool:
            if fmt == "qcow2" or seen.format == "qcow2":
                raise InvalidInput("this pool holds raw block volumes; upload qcow2 images to a dir, fs or netfs "
                                   "pool", code="FormatNotSupported",
                                   details={"field_errors": {"format": ["Not supported by this pool type."]}})
            return None
        fmt = fmt or seen.format
        if fmt != seen.format:
            hint = "pass format=qcow2 (or leave format out)" if seen.format == "qcow2" else \
                "the data has no qcow2 header; pass format=raw, or convert it with qemu-img first"
            raise InvalidInput(f"format={fmt} but the data is a {seen.format} image: {hint}",
                               code="FormatMismatch", details={"declared": fmt, "detected": seen.format})
        if seen.backing:
            raise InvalidInput("the qcow2 image names a backing file; upload a standalone image "
                               "(qemu-img convert -O qcow2 in.qcow2 out.qcow2)", code="BackingFileNotAllowed",
                               details={})
        return fmt

    def upload(self, node: str, pool: str, name: str, body: UploadBody, fmt: str | None = None, *,
               created_by: str | None = None, request_id: str | None = None) -> VolumeView:
        length = body.length
        if length is None:
            raise JvpError("upload-volume needs a Content-Length header (the volume is created with that size); "
                           "send the file as is (curl --data-binary @FILE or -T FILE), not chunked",
                           code="LengthRequired", status=411)
        if length <= 0:
            raise InvalidInput("the upload is empty: send the image's bytes as the request body",
                               code="EmptyUpload", details={"content_length": length})
        self.nodes.ensure_available(node)
        p = self.volumes.pool(node, pool, refresh=True)
        if is_internal_pool(pool):
            raise Conflict(f"storage pool '{pool}' is managed by JVP (templates)", code="StoragePoolIsInternal",
                           details={"pool": pool})
        file_pool = p.type in FILE_POOL_TYPES
        if fmt == "qcow2" and not file_pool:
            self._check_format(fmt, ImageHead("raw"), False)
        if self.gateway.volume_exists(node, pool, name):
            raise already_exists("volume", name, node, pool=pool)
        if lacks_space(p, length):
            raise insufficient_space(pool, node, length, p.available_bytes)
        head = self._read(body, min(BLOCK, length), 0, length)
        fmt = self._check_format(fmt, sniff(head), file_pool)
        spec = {"type": "volume", "node": node, "pool": pool, "name": name}

        def work(handle):
            handle.add_cleanup(spec)
            try:
                # Created raw with the upload's length; libvirt re-reads the image when the stream finishes.
                self.gateway.create_volume(node, pool, name, length, "raw" if file_pool else None, sparse=file_pool,
                                           action="upload")
            except JvpError as exc:
                if exc.code == "VolumeExists":  # created meanwhile by someone else: not ours to remove
                    handle.drop_cleanup(spec)
                raise
            self.gateway.upload_to_volume(node, pool, name, length, self._blocks(body, head, length, handle))
            vol = self.gateway.settle_volume(node, pool, name, fmt)
            self._check_probed(node, pool, name, fmt, vol.format)
            handle.drop_cleanup(spec)
            return {"volume": {"node": node, "pool": pool, "name": name, "format": vol.format,
                               "bytes": length}}
        self.tasks.run_inline("upload-volume", {"kind": "volume", "node": node, "pool": pool, "name": name}, work,
                              params={"bytes": length, "format": fmt}, created_by=created_by,
                              request_id=request_id, message=f"uploading {length} bytes")
        return self.volumes.describe(node, pool, name)

    @staticmethod
    def _check_probed(node: str, pool: str, name: str, declared: str | None, probed: str | None) -> None:
        """libvirt's own reading of the finished image must agree with the declared format."""
        if declared is None or probed == declared or (declared == "raw" and probed == "iso"):
            return
        if declared == "qcow2" and probed == "raw":
            # Not re-read yet: other transfers in the pool hold off libvirt's refresh. The header was checked
            # before the upload; the next refresh of the pool shows qcow2.
            log.warning("volume %s/%s on %s: libvirt has not re-read the uploaded qcow2 yet (pool busy)", pool,
                        name, node)
            return
        raise InvalidInput(f"libvirt reads the uploaded image as {probed}, not {declared}; the volume was removed",
                           code="FormatMismatch", details={"declared": declared, "detected": probed})

    @staticmethod
    def _read(body: UploadBody, n: int, received: int, length: int) -> bytes:
        first = body.read(n)
        if len(first) == n:  # the usual case: no copy
            return first
        if not first:
            raise incomplete(received, length)
        data = bytearray(first)
        while len(data) < n:
            piece = body.read(n - len(data))
            if not piece:
                raise incomplete(received + len(data), length)
            data += piece
        return bytes(data)

    def _blocks(self, body: UploadBody, head: bytes, length: int, handle) -> Iterator[bytes]:
        """The upload's blocks for the gateway's stream: the head read already, then the rest of the body,
        with the task's progress after each block is sent (a short body or a cancel raises, which aborts the
        stream)."""
        yield head
        done = len(head)
        while done < length:
            data = self._read(body, min(BLOCK, length - done), done, length)
            yield data
            done += len(data)
            handle.progress(done * 100.0 / length, bytes_done=done, bytes_total=length)

    # -- download -------------------------------------------------------------------------------------
    def download(self, node: str, pool: str, name: str) -> tuple[dict[str, Any], Iterator[bytes]]:
        """(facts for the response headers, the volume's bytes). The bytes are the volume's file as the node
        holds it: a qcow2 volume downloads as a qcow2 image (physical size), ready to upload elsewhere."""
        self.volumes._busy(node, pool, name)
        vol = self.volumes.raw(node, pool, name)
        running = [u for u in self.volumes.usage(node).users(pool, name, vol.path) if u.running]
        if running:
            raise Conflict(f"volume '{name}' is open in running VMs ({', '.join(vm_names(running))}); a copy "
                           "taken while the guest writes is inconsistent: stop them first", code="VolumeInUse",
                           details={"vms": vm_names(running)})
        length = self.gateway.volume_physical_size(node, pool, name)
        blocks = self.gateway.download_volume(node, pool, name, length)

        def chunks() -> Iterator[bytes]:
            sent = 0
            try:
                for chunk in blocks:
                    sent += len(chunk)
                    yield chunk
            except GeneratorExit:
                log.info("download of %s/%s on %s stopped by the client after %d of %d bytes", pool, name, node,
                         sent, length)
                raise
            except Exception:
                # The headers (and Content-Length) are gone already: ending the body short is the only signal.
                log.exception("download of %s/%s on %s failed after %d of %d bytes", pool, name, node, sent,
                              length)
                raise
        return {"length": length, "format": vol.format, "capacity_bytes": vol.capacity_bytes}, chunks()
