"""The storage a VM needs, through libvirt's storage API only (so remote nodes work the same):
look up pools and volumes, create blank disks, linked clones (qcow2 overlays) and full copies, upload the
cloud-init seed ISO through a volume stream (who uses a volume is volume.references, the one scan; pools are
found by storage_pool.lookup, the one pool lookup).
"""
from __future__ import annotations

import threading
from typing import Any

import libvirt

from jvp.domain.storage_pool import INTERNAL_VOLUME_PREFIX, TEMPLATE_POOL_SUFFIX
from jvp.errors import Conflict
from jvp.hypervisor import storage_pool, volume
from jvp.hypervisor.listing_memo import LISTING
from jvp.hypervisor.storage_xml import build_volume_xml
from jvp.hypervisor.volume_stream import Upload
from jvp.hypervisor.xml import parse, text
from jvp.hypervisor.xml.storage import Volume

INTERNAL_PREFIX = INTERNAL_VOLUME_PREFIX   # JVP's own files in a pool (cloud-init media, probes)


def pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool:
    return storage_pool.lookup(conn, name)


def pool_info(conn: libvirt.virConnect, name: str) -> dict[str, Any]:
    p = pool(conn, name)
    root = parse(p.XMLDesc(0))
    return {"name": name, "active": bool(p.isActive()), "type": root.get("type"),
            "path": text(root, "target/path")}


# A volume document's fields, kept per exact XML text (a describe-vm reads each disk's volume XML on every
# call; the parse and the mapping reads are skipped when the text is the one seen before). Keyed by the
# document itself: a volume that changed in any way (allocation, backing, format) is a different text, so an
# entry is never stale. Bounded; the oldest entry goes first.
_VOL_FIELDS: dict[str, tuple[str | None, str | None, str | None, int | None, str | None]] = {}
_VOL_FIELDS_MAX = 4096
_vol_fields_lock = threading.Lock()


def _vol_fields(xml_text: str) -> tuple[str | None, str | None, str | None, int | None, str | None]:
    got = _VOL_FIELDS.get(xml_text)
    if got is None:
        doc = Volume(parse(xml_text))  # the volume mapping (xml/storage.py): no XPath per field
        got = (doc.raw_name, doc.raw_path, doc.format, doc.capacity_bytes, doc.backing_path)
        with _vol_fields_lock:
            _VOL_FIELDS[xml_text] = got
            while len(_VOL_FIELDS) > _VOL_FIELDS_MAX:
                _VOL_FIELDS.pop(next(iter(_VOL_FIELDS)))
    return got


def _vol_info(vol: libvirt.virStorageVol, pool_name: str | None = None,
              conn: libvirt.virConnect | None = None) -> dict[str, Any]:
    """The volume's fields; `pool_name` when the caller knows it, else asked of libvirt through listing_memo
    (kept per connection `conn` until a pool event) or, without `conn`, asked now."""
    raw_name, raw_path, fmt, capacity_bytes, backing_path = _vol_fields(vol.XMLDesc(0))
    if pool_name is None:
        pool_name = (LISTING.pool_of_volume(conn, raw_path, vol) if conn is not None and raw_path
                     else vol.storagePoolLookupByVolume().name())
    # the name and path libvirt answers for vol.name() / vol.path() are the document's <name> and
    # <target><path>: read there (two round trips less to a remote node per disk of a describe-vm)
    return {"pool": pool_name, "volume": raw_name or vol.name(), "path": raw_path or vol.path(),
            "format": fmt or "raw",
            "capacity_bytes": capacity_bytes,
            "backing": backing_path}


def volume_info(conn: libvirt.virConnect, pool_name: str, name: str) -> dict[str, Any]:
    return _vol_info(pool(conn, pool_name).storageVolLookupByName(name), pool_name)


def volume_exists(conn: libvirt.virConnect, pool_name: str, name: str) -> bool:
    return volume.exists(conn, pool_name, name)


def volume_by_path(conn: libvirt.virConnect, path: str) -> dict[str, Any] | None:
    """The pool volume behind a file path, or None when no pool holds it."""
    try:
        vol = conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL):
            return None
        raise
    return _vol_info(vol, conn=conn)


def _volume_xml(name: str, capacity_bytes: int, fmt: str, backing: dict[str, str] | None = None) -> str:
    return build_volume_xml(name, capacity_bytes, fmt, sparse=True, backing=backing)


def create_volume(conn: libvirt.virConnect, pool_name: str, name: str, capacity_bytes: int, fmt: str = "qcow2",
                  backing: dict[str, str] | None = None, *, expected_path: str | None = None) -> dict[str, Any]:
    """A blank volume, or with `backing` ({path, format}) a qcow2 overlay: a linked clone whose creation
    costs the same whatever the size of the base. Its info is what was asked for, with the path libvirt gave
    it: the volume's XML is not read back, which would make libvirt probe the new image a second time (it did
    when creating it), about 1-2 ms of a linked clone's 20-25. `expected_path`: where the pool's type puts the
    volume (plan.new_volume_path: dir, fs and netfs pools, whose volume key is its path): when the key the
    creation answered with (kept by libvirt-python, no call) is that path, it is the path; otherwise the path
    is asked for (vol.path(): one more round trip to the node)."""
    vol = pool(conn, pool_name).createXML(_volume_xml(name, capacity_bytes, fmt, backing), 0)
    path = expected_path if expected_path is not None and vol.key() == expected_path else vol.path()
    return {"pool": pool_name, "volume": name, "path": path, "format": fmt, "capacity_bytes": capacity_bytes,
            "backing": backing["path"] if backing else None}


def copy_volume(conn: libvirt.virConnect, pool_name: str, name: str, source: dict[str, Any], fmt: str,
                capacity_bytes: int) -> dict[str, Any]:
    """A full, independent copy of `source` (a volume_info dict), made by libvirt on the node."""
    src = pool(conn, source["pool"]).storageVolLookupByName(source["volume"])
    xml = _volume_xml(name, capacity_bytes, fmt)
    vol = pool(conn, pool_name).createXMLFrom(xml, src, 0)
    return _vol_info(vol, pool_name)


def resize_volume(conn: libvirt.virConnect, pool_name: str, name: str, capacity_bytes: int) -> None:
    pool(conn, pool_name).storageVolLookupByName(name).resize(capacity_bytes, 0)


def upload_volume(conn: libvirt.virConnect, pool_name: str, name: str, data: bytes) -> dict[str, Any]:
    """Create a raw volume holding exactly `data`, sent through a libvirt stream (no node filesystem)."""
    vol = pool(conn, pool_name).createXML(_volume_xml(name, len(data), "raw"), 0)
    try:
        upload = Upload(conn, vol, len(data))
        try:
            upload.write(data)
            upload.finish()
        except BaseException:
            upload.abort()
            raise
    except BaseException:
        try:
            vol.delete(0)
        except libvirt.libvirtError:
            pass
        raise
    return _vol_info(vol, pool_name)


def delete_volume(conn: libvirt.virConnect, pool_name: str, name: str) -> bool:
    """True when deleted, False when it was already gone; a volume libvirt still holds is an error."""
    outcome = volume.delete(conn, pool_name, name)
    if outcome == "busy":
        raise Conflict(f"volume '{name}' in pool '{pool_name}' is busy (libvirt is still writing it, or its "
                       "pool is inactive); try again later", code="ResourceBusy",
                       details={"pool": pool_name, "volume": name})
    return outcome == "deleted"


def is_template_volume(info: dict[str, Any]) -> bool:
    """Template base images live in JVP's `<pool>_templates_` pools (SPEC 2.4) and are never deleted here."""
    return (info.get("pool") or "").endswith(TEMPLATE_POOL_SUFFIX) or \
        f"/{TEMPLATE_POOL_SUFFIX}/" in (info.get("path") or "")
