"""Disk images between a node and the controller's own files, through libvirt volume streams only.

- backing_chain: a disk image and the images under it, each one a volume of a storage pool of the node
  (libvirt reports a volume's backing file; the next one is looked up by that path);
- fetch: a volume's file into a local file, holes kept as holes (sparse streams);
- store: a local file into a new volume (sparse upload), read back by libvirt once complete.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import libvirt

from jvp.domain.volume import VolumeView, format_label
from jvp.hypervisor import volume as vol_hv
from jvp.hypervisor import volume_stream
from jvp.hypervisor.storage_xml import build_volume_xml, read_volume

CHAIN_MAX = 16                  # deeper chains are refused: a loop or something JVP did not build
_ZEROS = bytes(volume_stream.BLOCK)


class ChainError(Exception):
    """An image of the chain is not a volume libvirt can hand out (message for a person)."""


def _volume_at(conn: libvirt.virConnect, path: str) -> libvirt.virStorageVol:
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL):
            raise ChainError(f"{path} is not a volume of any active storage pool of the node; JVP reads disk "
                             "images only through libvirt's storage pools (define a pool for its directory)"
                             ) from exc
        raise


def backing_chain(conn: libvirt.virConnect, path: str) -> list[dict[str, Any]]:
    """[{path, pool, volume, format, length, backing}] from the image at `path` down to its base."""
    chain: list[dict[str, Any]] = []
    while path:
        if len(chain) >= CHAIN_MAX or any(c["path"] == path for c in chain):
            raise ChainError(f"the backing chain of {chain[0]['path']} is deeper than {CHAIN_MAX} or loops")
        vol = _volume_at(conn, path)
        info = read_volume(vol.XMLDesc(0), vol.storagePoolLookupByVolume().name())
        chain.append({"path": path, "pool": info.pool, "volume": vol.name(),
                      "format": format_label(None, info.format), "length": volume_stream.physical_size(vol),
                      "backing": info.backing.path if info.backing else None})
        path = chain[-1]["backing"]
    return chain


def read_head(conn: libvirt.virConnect, path: str, length: int) -> bytes:
    """The first bytes of an image (its header), for a before/after comparison around a copy."""
    return b"".join(volume_stream.download(conn, _volume_at(conn, path), length))


def fetch(conn: libvirt.virConnect, path: str, dest: Path, length: int,
          progress: Callable[[int], None]) -> None:
    """Download the volume's file into `dest` (created); runs of zeros become holes in the local file."""
    vol = _volume_at(conn, path)
    done = 0
    with open(dest, "wb") as fh:
        for chunk in volume_stream.download(conn, vol, length):
            if chunk == _ZEROS[:len(chunk)]:
                fh.seek(len(chunk), os.SEEK_CUR)
            else:
                fh.write(chunk)
            done += len(chunk)
            progress(done)
        fh.truncate(length)


def store(conn: libvirt.virConnect, pool: str, name: str, src: Path, fmt: str,
          progress: Callable[[int], None]) -> VolumeView:
    """A new volume holding the bytes of `src` (created raw with the file's length; libvirt reads the
    image's real format once the upload ends). The caller registers the volume for cleanup first."""
    length = src.stat().st_size
    vol_hv.create(conn, pool, build_volume_xml(name, length, "raw", sparse=True))
    up = volume_stream.Upload(conn, vol_hv.lookup(conn, pool, name), length)
    try:
        with open(src, "rb", buffering=0) as fh:
            done = 0
            while done < length:
                block = fh.read(min(volume_stream.BLOCK, length - done))
                if not block:
                    raise ChainError(f"{src} shrank while it was sent to the node")
                up.write(block)
                done += len(block)
                progress(done)
        up.finish()
    except BaseException:
        up.abort()  # release the volume at once, so that the cleanup can delete it
        raise
    return vol_hv.settle(conn, pool, name, fmt)
