"""The cloud-init seed of a new VM: checked before libvirt sees anything, then built as a NoCloud ISO.

Choices (also in the README):
- Structured mode (`cloud_init`): typed fields become `#cloud-config` (passwords as SHA-512-crypt hashes,
  never in clear); SSH keys must parse as OpenSSH public keys; keypairs' keys go to every listed user, or to
  a default user `jvp` with passwordless sudo when no user is listed.
- Raw mode (`user_data`): the text reaches the guest byte for byte (UTF-8). When it declares itself
  `#cloud-config` it must be a YAML mapping, else 400 InvalidUserData: a guest silently ignoring its whole
  configuration is worse than a refusal. Scripts (`#!`), MIME multipart, `#include` pass unchecked.
  `cloud_init.hostname` and `cloud_init.network` may accompany raw user-data (they go to meta-data and
  network-config); the other structured fields may not.
- Static IPv4 per NIC (`cloud_init.network: [{nic, ipv4, gateway?, dns?}]`): on a libvirt network the
  address must lie in its subnet, be a usable host address other than the host side's, and lie outside the
  DHCP range (dnsmasq could lease it to another VM); the prefix defaults to the subnet's, gateway and DNS to
  the host side's address. On a bridge or macvtap NIC the prefix is required and nothing else is known.
- The instance id is new for every VM (`i-` + 16 hex digits) and recorded in the VM's metadata.
- `os_profile: windows`: the same fields, checked the same way, become the seed Cloudbase-Init reads
  (jvp/cloudinit/cloudbase.py); fields Windows has no use for (`packages`, a user's `shell`, a sudoers rule)
  are refused, `sudo: true` means the Administrators group, and write_files paths are Windows paths (C:\\...).
"""
from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from jvp.cloudinit import cloudbase
from jvp.cloudinit import iso as ci_iso
from jvp.cloudinit import seed as ci_seed
from jvp.errors import InvalidInput
from jvp.service.keypair import parse_public_key

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
RAW_COMPANIONS = {"hostname", "network"}
WINDOWS_PATH_RE = re.compile(r"^[A-Za-z]:[\\/]")


def _bad(field: str, message: str, code: str = "InvalidInput", **details: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details={"field_errors": {field: [message]}, **details})


@dataclass
class Seed:
    instance_id: str
    files: dict[str, bytes]
    keypairs: list[str]

    def iso(self) -> bytes:
        return ci_iso.build_iso(self.files)


def check_user_data(text: str) -> None:
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip()
    if first != "#cloud-config":
        return
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _bad("user_data", f"user_data says #cloud-config but is not valid YAML{where}: "
                   f"{getattr(exc, 'problem', None) or exc}", code="InvalidUserData") from exc
    if doc is not None and not isinstance(doc, dict):
        raise _bad("user_data", "user_data says #cloud-config but its YAML is not a mapping "
                   f"(got a {type(doc).__name__}); cloud-init would ignore it", code="InvalidUserData")


def check_ssh_key(key: str, field: str) -> str:
    try:
        parse_public_key(key)
    except InvalidInput as exc:
        raise _bad(field, f"{field}: {exc.message}", code="InvalidSshKey") from exc
    return " ".join(key.split())  # one line, comment kept


def static_nic(entry: dict[str, Any], index: int, nic: dict[str, Any], net: dict[str, Any] | None
               ) -> ci_seed.Nic:
    """Validate one static IPv4 entry against the NIC's network (`net`: vm_net.network_info or None)."""
    field = f"cloud_init.network.{index}.ipv4"
    raw = entry["ipv4"]
    try:
        addr = ipaddress.IPv4Address(raw.split("/")[0])
        prefix = int(raw.split("/")[1]) if "/" in raw else None
        if prefix is not None and not 0 < prefix <= 32:
            raise ValueError(prefix)
    except ValueError:
        raise _bad(field, f"{raw!r} is not an IPv4 address (e.g. 198.18.10.20 or 198.18.10.20/24)") from None
    gateway, dns = entry.get("gateway"), list(entry.get("dns") or [])
    if net is not None:
        subnets = net["ipv4"]
        host = next((s for s in subnets if addr in s.network), None)
        if host is None:
            where = ", ".join(str(s.network) for s in subnets) or "no IPv4 subnet"
            raise _bad(field, f"{addr} is outside network '{net['name']}' ({where})", code="IpOutsideNetwork",
                       network=net["name"], subnets=[str(s.network) for s in subnets])
        if addr in (host.network.network_address, host.network.broadcast_address, host.ip):
            raise _bad(field, f"{addr} is the network, broadcast or host address of {host.network}",
                       code="IpOutsideNetwork", network=net["name"])
        if prefix is not None and prefix != host.network.prefixlen:
            raise _bad(field, f"prefix /{prefix} does not match network '{net['name']}' ({host.network})")
        for start, end in net.get("dhcp_ranges", []):
            if start <= addr <= end:
                raise _bad(field, f"{addr} is inside the DHCP range {start}-{end} of network '{net['name']}', "
                           "where dnsmasq may lease it to another VM; pick an address outside it",
                           code="IpInDhcpRange", network=net["name"])
        prefix = host.network.prefixlen
        gateway = gateway or str(host.ip)
        dns = dns or [str(host.ip)]
    elif prefix is None:
        raise _bad(field, f"NIC {entry['nic']} is not on a libvirt network: give the prefix ({addr}/24)")
    for i, value in enumerate([gateway, *dns] if gateway else dns):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise _bad(f"cloud_init.network.{index}", f"{value!r} is not an IPv4 address") from None
    return ci_seed.Nic(mac=nic["mac"], ipv4=f"{addr}/{prefix}", gateway=gateway, dns=dns)


def check_profile_fields(ci: dict[str, Any], os_profile: str) -> None:
    """Refuse the structured fields the guest OS family cannot apply (before anything is built)."""
    windows = os_profile == "windows"
    for i, f in enumerate(ci.get("write_files") or []):
        if not (WINDOWS_PATH_RE.match(f["path"]) if windows else f["path"].startswith("/")):
            want = "a Windows path such as C:\\jvp\\file.txt" if windows else "an absolute path such as /etc/x"
            raise _bad(f"cloud_init.write_files.{i}.path", f"{f['path']!r} is not {want} ({os_profile} VM)")
    if not windows:
        return
    if ci.get("packages"):
        raise _bad("cloud_init.packages", "packages is a Linux cloud-init field: Cloudbase-Init installs no "
                   "packages on Windows (use runcmd or user_data with a #ps1_sysnative script)")
    for i, u in enumerate(ci.get("users") or []):
        if u.get("shell"):
            raise _bad(f"cloud_init.users.{i}.shell", "a login shell is a Linux user field; leave it out for "
                       "a Windows VM")
        if isinstance(u.get("sudo"), str):
            raise _bad(f"cloud_init.users.{i}.sudo", "a sudoers rule means nothing on Windows: sudo: true puts "
                       "the user in Administrators")


def build_seed(*, vm_name: str, cloud_init: dict[str, Any] | None, user_data: str | None,
               nics: list[dict[str, Any]], networks: dict[str, dict[str, Any]],
               keypair_key: Callable[[str], str], os_profile: str = "linux") -> Seed | None:
    """The seed documents, or None when neither cloud_init nor user_data was given.

    `nics`: [{mac, network?}] in VM order; `networks`: network name -> vm_net.network_info;
    `keypair_key`: name -> public key (raises KeypairNotFound); `os_profile`: windows writes the seed
    Cloudbase-Init reads (jvp/cloudinit/cloudbase.py), linux cloud-init's."""
    if cloud_init is None and user_data is None:
        return None
    ci = dict(cloud_init or {})
    if user_data is not None:
        extra = sorted(k for k, v in ci.items() if k not in RAW_COMPANIONS and v not in (None, [], ""))
        if extra:
            raise InvalidInput(f"user_data replaces the structured user-data fields; drop {', '.join(extra)} or "
                               "user_data (only hostname and network may go with raw user-data)",
                               code="InvalidInput", details={"field_errors": {"user_data": ["Conflicts."]}})
        check_user_data(user_data)
    check_profile_fields(ci, os_profile)
    hostname = ci.get("hostname") or vm_name
    if not HOSTNAME_RE.match(hostname):
        raise _bad("cloud_init.hostname", f"{hostname!r} is not a valid host name (RFC 1123)")
    statics: dict[int, ci_seed.Nic] = {}
    for i, entry in enumerate(ci.get("network") or []):
        idx = entry["nic"]
        if idx >= len(nics):
            raise _bad(f"cloud_init.network.{i}.nic", f"NIC {idx} does not exist: the VM has {len(nics)} NIC(s)")
        if idx in statics:
            raise _bad(f"cloud_init.network.{i}.nic", f"NIC {idx} is configured twice")
        nic = nics[idx]
        statics[idx] = static_nic(entry, i, nic, networks.get(nic["network"]) if nic.get("network") else None)
    net_nics = [statics.get(i) or ci_seed.Nic(mac=n["mac"]) for i, n in enumerate(nics)]
    keypairs = list(dict.fromkeys(ci.get("keypairs") or []))
    if user_data is None:
        users = []
        for ui, u in enumerate(ci.get("users") or []):
            keys = [check_ssh_key(k, f"cloud_init.users.{ui}.ssh_keys.{ki}")
                    for ki, k in enumerate(u.get("ssh_keys") or [])]
            users.append({**u, "ssh_keys": keys})
        if len({u["name"] for u in users}) != len(users):
            raise _bad("cloud_init.users", "user names must be unique")
    keypair_keys = [keypair_key(k) for k in keypairs]
    windows = os_profile == "windows"
    if user_data is not None:
        text = user_data
    elif windows:
        text = cloudbase.user_data(hostname=hostname, users=users, keypair_keys=keypair_keys,
                                   runcmd=ci.get("runcmd"), write_files=ci.get("write_files"),
                                   timezone=ci.get("timezone"))
    else:
        text = ci_seed.user_data(hostname=hostname, users=users, keypair_keys=keypair_keys,
                                 packages=ci.get("packages"), runcmd=ci.get("runcmd"),
                                 write_files=ci.get("write_files"), timezone=ci.get("timezone"))
    instance_id = f"i-{uuid.uuid4().hex[:16]}"
    if windows:
        files = cloudbase.seed_files(instance_id=instance_id, hostname=hostname, user_data_text=text,
                                     keypair_keys=keypair_keys, nics=net_nics)
    else:
        files = {"meta-data": ci_seed.meta_data(instance_id, hostname).encode(),
                 "user-data": text.encode("utf-8"),
                 "network-config": ci_seed.network_config(net_nics).encode()}
    return Seed(instance_id=instance_id, files=files, keypairs=keypairs)
