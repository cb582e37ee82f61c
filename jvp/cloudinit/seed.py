"""Build the three NoCloud documents from JVP's structured fields, or pass raw user-data through.

Structured mode produces `#cloud-config` YAML (users with SHA-512-crypt password hashes and SSH keys,
packages, runcmd, write_files, timezone); raw mode hands the caller's user-data to the guest byte for byte.
network-config is version 2, each NIC matched by its MAC address, DHCP unless a static IPv4 is given.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import yaml
from passlib.hash import sha512_crypt

DEFAULT_USER = "jvp"


def hash_password(password: str) -> str:
    """SHA-512-crypt (`$6$...`), what /etc/shadow and cloud-init's `passwd` expect."""
    return sha512_crypt.using(rounds=5000).hash(password)


@dataclass
class Nic:
    mac: str
    ipv4: str | None = None        # "198.18.10.20/24"
    gateway: str | None = None
    dns: list[str] = field(default_factory=list)


def meta_data(instance_id: str, hostname: str) -> str:
    return yaml.safe_dump({"instance-id": instance_id, "local-hostname": hostname}, sort_keys=False)


def _user(u: dict[str, Any], extra_keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": u["name"], "shell": u.get("shell") or "/bin/bash", "lock_passwd": True}
    keys = list(dict.fromkeys([*(u.get("ssh_keys") or []), *extra_keys]))
    if keys:
        out["ssh_authorized_keys"] = keys
    if u.get("password"):
        out["passwd"] = hash_password(u["password"])
        out["lock_passwd"] = False
    sudo = u.get("sudo")
    if sudo is True:
        out["sudo"] = "ALL=(ALL) NOPASSWD:ALL"
    elif isinstance(sudo, str) and sudo:
        out["sudo"] = sudo
    if u.get("groups"):
        out["groups"] = ", ".join(u["groups"])
    return out


def user_data(*, hostname: str, users: list[dict[str, Any]], keypair_keys: list[str],
              packages: list[str] | None = None, runcmd: list[Any] | None = None,
              write_files: list[dict[str, Any]] | None = None, timezone: str | None = None) -> str:
    """`#cloud-config` from structured fields. Keypair keys go to every listed user, or to a default
    user with passwordless sudo when no user is listed."""
    users = users or ([{"name": DEFAULT_USER, "sudo": True}] if keypair_keys else [])
    doc: dict[str, Any] = {"hostname": hostname, "fqdn": hostname, "preserve_hostname": False,
                           "users": ["default", *(_user(u, keypair_keys) for u in users)]}
    if any(u.get("password") for u in users):
        doc["ssh_pwauth"] = True
    if packages:
        doc["packages"] = list(packages)
        doc["package_update"] = True
    if runcmd:
        doc["runcmd"] = list(runcmd)
    if write_files:
        doc["write_files"] = [{k: v for k, v in f.items() if v is not None} for f in write_files]
    if timezone:
        doc["timezone"] = timezone
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)


def network_config(nics: list[Nic]) -> str:
    ethernets: dict[str, Any] = {}
    for i, nic in enumerate(nics):
        eth: dict[str, Any] = {"match": {"macaddress": nic.mac.lower()}, "set-name": f"eth{i}"}
        if nic.ipv4:
            iface = ipaddress.IPv4Interface(nic.ipv4)
            eth["dhcp4"] = False
            eth["addresses"] = [str(iface)]
            if nic.gateway:
                eth["routes"] = [{"to": "default", "via": nic.gateway}]
            if nic.dns:
                eth["nameservers"] = {"addresses": list(nic.dns)}
        else:
            eth["dhcp4"] = True
        ethernets[f"eth{i}"] = eth
    return yaml.safe_dump({"version": 2, "ethernets": ethernets}, sort_keys=False)
