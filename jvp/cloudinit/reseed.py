"""The cloud-init seed of a VM cloned from a snapshot: the source's NoCloud documents with a new identity.

- meta-data: a new `instance-id` (cloud-init then treats the first boot as a new instance: it sets the host
  name, makes new SSH host keys and applies the network config again) and `local-hostname` = the clone;
- network-config: each NIC is matched by the clone's new MAC instead of the source's; a static address is
  turned into DHCP (two VMs cannot hold one address; set a static one afterwards);
- user-data: kept as it was (same users, keys and packages), except that a `#cloud-config` document that
  names `hostname`/`fqdn` (or Cloudbase-Init's `set_hostname`) gets the clone's name there (that document
  is then re-written as YAML, without its comments); scripts and other formats pass unchanged.
"""
from __future__ import annotations

import io
from typing import Any

import pycdlib
import yaml

SEED_FILES = ("meta-data", "user-data", "network-config", "vendor-data")


def read_seed(data: bytes) -> dict[str, bytes]:
    """The NoCloud files of a seed ISO, by their long (Rock Ridge or Joliet) names."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    files: dict[str, bytes] = {}
    try:
        for name in SEED_FILES:
            for kind in ("rr_path", "joliet_path"):
                out = io.BytesIO()
                try:
                    iso.get_file_from_iso_fp(out, **{kind: f"/{name}"})
                except pycdlib.pycdlibexception.PyCdlibException:
                    continue
                files[name] = out.getvalue()
                break
    finally:
        iso.close()
    return files


def _mapping(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _nic(eth: dict[str, Any], macs: dict[str, str], notes: list[str], name: str) -> None:
    match = eth.get("match") or {}
    old = str(match.get("macaddress") or "").lower()
    if old in macs:
        eth["match"] = {**match, "macaddress": macs[old]}
    if eth.get("addresses"):
        notes.append(f"NIC {name}: the source's static address {', '.join(map(str, eth['addresses']))} is not "
                     "copied (two VMs cannot hold one address); the clone uses DHCP")
        for key in ("addresses", "routes", "gateway4", "gateway6"):
            eth.pop(key, None)
        eth["dhcp4"] = True


def network_config(data: bytes | None, macs: dict[str, str], notes: list[str]) -> bytes | None:
    doc = _mapping(data)
    if doc is None:
        return data
    if doc.get("version") == 2:
        for name, eth in (doc.get("ethernets") or {}).items():
            if isinstance(eth, dict):
                _nic(eth, macs, notes, str(name))
    elif doc.get("version") == 1:
        for item in doc.get("config") or []:
            if isinstance(item, dict) and item.get("type") == "physical":
                old = str(item.get("mac_address") or "").lower()
                item["mac_address"] = macs.get(old, item.get("mac_address"))
                subnets = item.get("subnets") or []
                if any(isinstance(s, dict) and s.get("type") == "static" for s in subnets):
                    notes.append(f"NIC {item.get('name')}: the source's static address is not copied; the clone "
                                 "uses DHCP")
                    item["subnets"] = [{"type": "dhcp"}]
    return yaml.safe_dump(doc, sort_keys=False).encode()


def user_data(data: bytes | None, hostname: str, notes: list[str]) -> bytes | None:
    if data is None or not data.lstrip(b"\xef\xbb\xbf").startswith(b"#cloud-config"):
        return data
    doc = _mapping(data)
    if doc is None or not ({"hostname", "fqdn", "set_hostname"} & set(doc)):
        return data
    for key in ("hostname", "set_hostname"):  # set_hostname: Cloudbase-Init's (a Windows VM's seed)
        if key in doc:
            doc[key] = hostname
    if "fqdn" in doc:
        fqdn = str(doc["fqdn"] or "")
        doc["fqdn"] = hostname + fqdn[fqdn.index("."):] if "." in fqdn else hostname
    notes.append("user-data names the host: set to the clone's name")
    return ("#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)).encode()


def clone_seed(files: dict[str, bytes], *, instance_id: str, hostname: str, macs: dict[str, str]
               ) -> tuple[dict[str, bytes], list[str]]:
    """(the clone's seed files, notes on what changed). `macs`: source MAC -> clone MAC."""
    notes: list[str] = []
    meta = _mapping(files.get("meta-data")) or {}
    meta["instance-id"] = instance_id
    meta["local-hostname"] = hostname
    out = dict(files)
    out["meta-data"] = yaml.safe_dump(meta, sort_keys=False).encode()
    if "network-config" in files:
        out["network-config"] = network_config(files["network-config"], {k.lower(): v for k, v in macs.items()},
                                                notes)
    if "user-data" in files:
        out["user-data"] = user_data(files["user-data"], hostname, notes)
    else:
        out["user-data"] = b"#cloud-config\n{}\n"  # NoCloud needs the file; an empty config changes nothing
    return out, notes


def renew_instance(files: dict[str, bytes], *, instance_id: str, hostname: str) -> dict[str, bytes]:
    """The same VM's seed with a new `instance-id` (rebuild-vm: cloud-init runs again on the new system
    disk with the same users, keys, host name and network config); `hostname` fills a missing
    local-hostname. Everything else is kept byte for byte."""
    meta = _mapping(files.get("meta-data")) or {}
    meta["instance-id"] = instance_id
    meta.setdefault("local-hostname", hostname)
    out = dict(files)
    out["meta-data"] = yaml.safe_dump(meta, sort_keys=False).encode()
    out.setdefault("user-data", b"#cloud-config\n{}\n")  # NoCloud needs the file; an empty config changes nothing
    return out
