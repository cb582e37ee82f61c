"""The NoCloud seed of a Windows VM, written the way Cloudbase-Init reads it.

Cloudbase-Init's `NoCloudConfigDriveService` (cloudbase-init docs, doc/source/services.rst, "NoCloud
configuration drive"; cloudbaseinit/metadata/services/nocloudservice.py) looks for a config drive (an ISO
9660 cdrom here) labelled `cidata` or `CIDATA` holding `/meta-data` and `/user-data` (the EC2 layout) and,
beside them, `/network-config` in cloud-init's network config version 1. What JVP writes:

- meta-data (YAML): `instance-id`, `local-hostname` (the service reads exactly these keys; Windows keeps the
  first 15 characters as the NetBIOS name) and `public-keys`, a list of OpenSSH keys (the service accepts a
  list), which the SetUserSSHPublicKeysPlugin writes for the user Cloudbase-Init is configured to manage.
- user-data: `#cloud-config` with only the directives Cloudbase-Init implements (doc/source/userdata.rst,
  "Cloud config"): `set_hostname`, `users` (name, plain-text `passwd`: on Windows Cloudbase-Init expects the
  password itself, not a hash; `groups`; `ssh_authorized_keys`), `write_files` (path, content, permissions,
  encoding), `set_timezone` and `runcmd` (joined into one cmd.exe script, run once per instance). A user
  with `sudo: true` becomes a member of `Administrators`. With keypairs and no user, a user `jvp` in
  Administrators gets the keys (as the Linux seed's default user does). Raw `user_data` (`#ps1_sysnative`,
  `rem cmd`, `#cloud-config`, MIME multipart) is passed byte for byte instead.
- network-config: version 1, one `physical` entry per NIC matched by `mac_address`, named like Windows
  names its adapters (`Ethernet`, `Ethernet 2`, ...: Cloudbase-Init renames an adapter to the entry's name),
  `subnets: [{type: dhcp}]` or a static address with `netmask`, `gateway`, `dns_nameservers`.
"""
from __future__ import annotations

import ipaddress
from typing import Any

import yaml

ADMIN_GROUP = "Administrators"
DEFAULT_USER = "jvp"
FILES = ("meta-data", "user-data", "network-config")


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)


def meta_data(instance_id: str, hostname: str, public_keys: list[str]) -> str:
    doc: dict[str, Any] = {"instance-id": instance_id, "local-hostname": hostname}
    if public_keys:
        doc["public-keys"] = list(public_keys)
    return _dump(doc)


def _user(u: dict[str, Any], extra_keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": u["name"]}
    if u.get("password"):
        out["passwd"] = u["password"]
    groups = list(u.get("groups") or [])
    if u.get("sudo") is True and ADMIN_GROUP not in groups:
        groups.append(ADMIN_GROUP)
    if groups:
        out["groups"] = ", ".join(groups)  # Cloudbase-Init splits a string on ", "
    keys = list(dict.fromkeys([*(u.get("ssh_keys") or []), *extra_keys]))
    if keys:
        out["ssh_authorized_keys"] = keys
    return out


def user_data(*, hostname: str, users: list[dict[str, Any]], keypair_keys: list[str],
              runcmd: list[Any] | None = None, write_files: list[dict[str, Any]] | None = None,
              timezone: str | None = None) -> str:
    users = users or ([{"name": DEFAULT_USER, "sudo": True}] if keypair_keys else [])
    doc: dict[str, Any] = {"set_hostname": hostname}
    if timezone:
        doc["set_timezone"] = timezone
    if write_files:
        doc["write_files"] = [{k: v for k, v in f.items() if v is not None and k in
                               ("path", "content", "permissions", "encoding")} for f in write_files]
    if users:
        doc["users"] = [_user(u, keypair_keys) for u in users]
    if runcmd:
        doc["runcmd"] = list(runcmd)
    return "#cloud-config\n" + _dump(doc)


def adapter_name(index: int) -> str:
    return "Ethernet" if index == 0 else f"Ethernet {index + 1}"


def network_config(nics: list[Any]) -> str:
    """`nics`: cloudinit.seed.Nic (mac, ipv4 "a.b.c.d/nn" or None, gateway, dns)."""
    config: list[dict[str, Any]] = []
    for i, nic in enumerate(nics):
        entry: dict[str, Any] = {"type": "physical", "name": adapter_name(i), "mac_address": nic.mac.lower()}
        if nic.ipv4:
            iface = ipaddress.IPv4Interface(nic.ipv4)
            subnet: dict[str, Any] = {"type": "static", "address": str(iface.ip), "netmask": str(iface.netmask)}
            if nic.gateway:
                subnet["gateway"] = nic.gateway
            if nic.dns:
                subnet["dns_nameservers"] = list(nic.dns)
            entry["subnets"] = [subnet]
        else:
            entry["subnets"] = [{"type": "dhcp"}]
        config.append(entry)
    return _dump({"version": 1, "config": config})


def seed_files(*, instance_id: str, hostname: str, user_data_text: str, keypair_keys: list[str],
               nics: list[Any]) -> dict[str, bytes]:
    """The three files of the seed ISO (jvp/cloudinit/iso.py writes them with the label `cidata`)."""
    return {"meta-data": meta_data(instance_id, hostname, keypair_keys).encode(),
            "user-data": user_data_text.encode("utf-8"),
            "network-config": network_config(nics).encode()}
