"""Helpers for the real-host storage tests: test pools under a temporary directory, images with known
content, a minimal domain defined straight through libvirt, and a cleanup that never leaves anything."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import libvirt

from tests.conftest import unique

MIB = 1024 * 1024
GIB = 1024 * MIB


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(4 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def sparse_image(path: Path, size: int, islands: list[int], island_size: int = 4 * MIB) -> Path:
    """A sparse raw image: random data at the given offsets, holes elsewhere."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        for off in islands:
            fh.seek(off)
            fh.write(os.urandom(min(island_size, size - off)))
    return path


def filled_image(path: Path, size: int, byte: int = 0xAB) -> Path:
    """A fully allocated image (no zero block a sparse copy could skip)."""
    block = bytes([byte]) * MIB
    with open(path, "wb") as fh:
        for _ in range(size // MIB):
            fh.write(block)
    return path


def define_minimal_domain(conn: libvirt.virConnect, name: str, disk_path: str, fmt: str = "raw") -> libvirt.virDomain:
    """A domain that needs no OS: TCG (KVM cannot run guests here), no <cpu>, one virtio disk. It sits in the
    BIOS, which is all a block device needs to be open in a running QEMU."""
    xml = f"""<domain type='qemu'>
      <name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64'>hvm</type></os>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{disk_path}'/>
          <target dev='vda' bus='virtio'/></disk>
        <graphics type='vnc' listen='127.0.0.1' autoport='yes'/>
      </devices></domain>"""
    return conn.defineXML(xml)


def remove_domain(conn: libvirt.virConnect, name: str) -> None:
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    if dom.isActive():
        dom.destroy()
    dom.undefine()


def remove_pool(conn: libvirt.virConnect, name: str) -> None:
    """Whatever a test left: every volume (waiting for libvirt to finish a copy), the pool, its definition."""
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        return
    if pool.isActive():
        deadline = time.monotonic() + 120
        for vol in pool.listAllVolumes(0):
            while True:
                try:
                    vol.delete(0)
                    break
                except libvirt.libvirtError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        pool.destroy()
    try:
        pool.delete(0)
    except libvirt.libvirtError:
        pass
    try:
        pool.undefine()
    except libvirt.libvirtError:
        pass


class PoolKeeper:
    """Creates dir pools through JVP under a temporary directory and removes them (and anything in them)."""

    def __init__(self, call, base: Path, uri: str = "qemu:///system", node: str = "local"):
        self.call = call  # fn(action, body) -> dict (raises on error)
        self.base = base
        self.node = node
        self.uri = uri
        self.conn = libvirt.open(uri)
        self.names: list[str] = []
        self.domains: list[str] = []

    def create(self, **extra) -> dict:
        name = unique("pool-")
        self.names.append(name)
        pool = self.call("create-storage-pool", {"node": self.node, "name": name, "type": "dir",
                                                 "path": str(self.base / name), **extra})["pool"]
        return pool

    def cleanup(self) -> None:
        # A fresh connection: the test's own may have died with a libvirtd restart in the meantime.
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass
        conn = libvirt.open(self.uri)
        try:
            for dom in self.domains:
                remove_domain(conn, dom)
            for name in self.names:
                remove_pool(conn, name)
        finally:
            conn.close()
