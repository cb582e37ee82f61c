"""Storage XML with lxml: pool and volume definitions built from validated specs, and read back.

Builders take specs the service layer has already validated (paths normalized, required source fields
present); they only shape XML. Readers turn libvirt's XML into plain dicts, leaving unknown elements alone.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from jvp.hypervisor.xml import element, integer, parse, size_bytes, sub, text, to_string

# Where libvirt expects a pool's target when the type has a natural one (the admin may not care).
DEFAULT_TARGETS = {"disk": "/dev", "iscsi": "/dev/disk/by-path"}


def _source_auth(source_el: etree._Element, auth: dict[str, Any], default_type: str) -> None:
    el = sub(source_el, "auth", {"type": auth.get("type") or default_type, "username": auth["username"]})
    sub(el, "secret", {"uuid": auth.get("secret_uuid"), "usage": auth.get("secret_usage")})


def build_pool(spec: dict[str, Any]) -> etree._Element:
    """<pool type=...> for dir, fs, netfs, logical, disk, iscsi and rbd from a validated spec
    {name, type, path, source{...}}."""
    ptype = spec["type"]
    src = spec.get("source") or {}
    pool = element("pool", {"type": ptype})
    sub(pool, "name", text_=spec["name"])
    if ptype != "dir":
        source = sub(pool, "source")
        if ptype in ("netfs", "iscsi"):
            sub(source, "host", {"name": src["host"], "port": src.get("port")})
        if ptype == "rbd":
            for host in src["hosts"]:  # validated into {"name", "port"} by the service
                sub(source, "host", {"name": host["name"], "port": host.get("port")})
        if ptype == "netfs":
            sub(source, "dir", {"path": src["dir"]})
        if ptype in ("fs", "disk"):
            sub(source, "device", {"path": src["device"]})
        if ptype == "logical":
            for dev in src.get("devices") or []:
                sub(source, "device", {"path": dev})
        if ptype == "iscsi":
            sub(source, "device", {"path": src["iqn"]})
            if src.get("initiator_iqn"):
                sub(sub(source, "initiator"), "iqn", {"name": src["initiator_iqn"]})
        if ptype in ("logical", "rbd"):
            sub(source, "name", text_=src.get("name") or spec["name"])
        fmt = src.get("format") or {"logical": "lvm2"}.get(ptype)
        if fmt:
            sub(source, "format", {"type": fmt})
        if src.get("auth"):
            _source_auth(source, src["auth"], "ceph" if ptype == "rbd" else "chap")
    path = spec.get("path") or DEFAULT_TARGETS.get(ptype)
    if ptype == "logical" and not path:
        path = f"/dev/{src.get('name') or spec['name']}"
    if path and ptype != "rbd":  # rbd images have no local path
        sub(sub(pool, "target"), "path", text_=path)
    return pool


def build_pool_xml(spec: dict[str, Any]) -> str:
    return to_string(build_pool(spec))


def read_pool(xml: str) -> dict[str, Any]:
    """type, uuid, target path, sizes and the source fields, as JVP names them."""
    root = parse(xml)
    src = root.find("source")
    source: dict[str, Any] | None = None
    if src is not None and len(src):
        hosts = [h.get("name") + (f":{h.get('port')}" if h.get("port") else "") for h in src.findall("host")]
        devices = [d.get("path") for d in src.findall("device")]
        auth = src.find("auth")
        secret = auth.find("secret") if auth is not None else None
        source = {
            "host": hosts[0].split(":")[0] if hosts else None, "hosts": hosts,
            "port": integer(src, "host/@port"), "dir": text(src, "dir/@path"),
            "device": devices[0] if devices else None, "devices": devices, "name": text(src, "name"),
            "format": text(src, "format/@type"), "iqn": devices[0] if root.get("type") == "iscsi" and devices else None,
            "initiator_iqn": text(src, "initiator/iqn/@name"),
            "auth": None if auth is None else {
                "type": auth.get("type"), "username": auth.get("username"),
                "secret_uuid": secret.get("uuid") if secret is not None else None,
                "secret_usage": secret.get("usage") if secret is not None else None},
        }
    return {"name": text(root, "name"), "type": root.get("type"), "uuid": text(root, "uuid"),
            "path": text(root, "target/path"), "capacity_bytes": size_bytes(root.find("capacity"), "bytes"),
            "allocation_bytes": size_bytes(root.find("allocation"), "bytes"),
            "available_bytes": size_bytes(root.find("available"), "bytes"), "source": source}


def build_volume_xml(name: str, capacity_bytes: int, fmt: str | None, *, sparse: bool = True,
                     backing: dict[str, str] | None = None) -> str:
    """A volume definition. `fmt` None for block pools (an LV or a partition has no image format);
    `sparse` gives allocation 0 (a file costs nothing until written); `backing` {path, format} makes the
    volume a qcow2 overlay of it."""
    vol = element("volume")
    sub(vol, "name", text_=name)
    sub(vol, "capacity", {"unit": "bytes"}, capacity_bytes)
    sub(vol, "allocation", {"unit": "bytes"}, 0 if sparse else capacity_bytes)
    if fmt:
        sub(sub(vol, "target"), "format", {"type": fmt})
    if backing:
        bs = sub(vol, "backingStore")
        sub(bs, "path", text_=backing["path"])
        sub(bs, "format", {"type": backing["format"]})
    return to_string(vol)


def read_volume(xml: str) -> dict[str, Any]:
    root = parse(xml)
    backing_path = text(root, "backingStore/path")
    return {"name": text(root, "name"), "key": text(root, "key"), "type": root.get("type"),
            "path": text(root, "target/path"), "format": text(root, "target/format/@type"),
            "capacity_bytes": size_bytes(root.find("capacity"), "bytes"),
            "allocation_bytes": size_bytes(root.find("allocation"), "bytes"),
            "physical_bytes": size_bytes(root.find("physical"), "bytes"),
            "backing": {"path": backing_path, "format": text(root, "backingStore/format/@type")}
            if backing_path else None}


def _source_path(source: etree._Element | None) -> str | None:
    if source is None:
        return None
    return source.get("file") or source.get("dev") or source.get("dir")


def domain_disks(xml: str) -> list[dict[str, Any]]:
    """Every disk of a domain: target, the image it opens (path, or pool+volume for `type='volume'` disks)
    and the images under it (its backing chain, as far as libvirt shows it)."""
    out = []
    for disk in parse(xml).findall("devices/disk"):
        source = disk.find("source")
        chain = [p for p in (_source_path(bs.find("source")) for bs in disk.iter("backingStore")) if p]
        out.append({"target": text(disk, "target/@dev"), "device": disk.get("device"),
                    "path": _source_path(source),
                    "pool": source.get("pool") if source is not None else None,
                    "volume": source.get("volume") if source is not None else None,
                    "backing_paths": chain})
    return out
