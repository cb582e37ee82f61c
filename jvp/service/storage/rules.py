"""Validation of storage pool definitions: target paths and the source fields of each pool type.

Pool paths. Any absolute directory may hold a pool: an admin chooses where the disks go, and JVP does not
impose a base directory. The path is normalized (`//` and `/./` collapsed, trailing `/` dropped) and must
not contain a `..` component at all: `/a/../b` is refused rather than resolved, because the admin who typed
it may not mean `/b`.

A deny-list protects what must never become volumes, for the types whose volumes are files (dir, fs,
netfs): every file in a pool's directory is a "volume" an operator can download or delete (an `id_rsa`,
JVP's `admin-token`). Refused (InvalidPoolPath):
- `/` and the trees under /bin, /boot, /dev, /etc, /lib*, /proc, /run, /sbin, /sys, /usr (the system), /root,
  /var/run and /var/lock (aliases of /run), /var/log, /var/spool, /var/mail, /var/backups,
  /var/lib/libvirt/qemu and /var/lib/libvirt/dnsmasq (libvirt's own state), /var/lib/jvp and JVP's
  configured data dir (tokens, keys, metadata);
- the bare directories /home, /media, /mnt, /opt, /srv, /tmp, /var, /var/cache, /var/lib, /var/lib/libvirt,
  /var/tmp (a directory under them, such as /var/lib/libvirt/images or /srv/vms, is fine), and the home
  directories of the node's users (their dotfiles would be volumes; known when the node is the JVP
  server's own machine, from its user database);
- any path with a credentials component: .ssh, .gnupg, .pki, .aws, .azure, .kube, .docker, .password-store,
  .config.
The rules apply to the path as given and, when the node is the JVP server's own machine (a URI without a
host, or a loopback host), to the path with its symlinks resolved (`/srv/link` -> `/root/.ssh`,
`/var/run/x` -> `/run/x`). For a remote node JVP has no shell there and does not resolve: the rules hold
for the path as given, which covers the usual aliases (/var/run, /var/lock). A path that exists on the
node as a file is found by libvirt when the pool is built or started and is refused then
(PoolPathNotDirectory, told by the errno libvirt reports, ENOTDIR, not by its localized message).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from jvp.domain.storage_pool import POOL_TYPES, PoolAuthSpec, PoolHostSpec, PoolSourceSpec, PoolSpec
from jvp.errors import InvalidInput

MAX_PATH = 1024
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                "/sys", "/usr")
# further trees whose files must not become volumes (module docstring); JVP's data dir is added by the caller
PROTECTED_TREES = ("/root", "/var/run", "/var/lock", "/var/log", "/var/spool", "/var/mail", "/var/backups",
                   "/var/lib/libvirt/qemu", "/var/lib/libvirt/dnsmasq", "/var/lib/jvp")
SYSTEM_DIRS = {"/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var", "/var/cache", "/var/lib",
               "/var/lib/libvirt", "/var/tmp"}
SECRET_COMPONENTS = {".ssh", ".gnupg", ".pki", ".aws", ".azure", ".kube", ".docker", ".password-store", ".config"}
FORMATS = {
    "fs": ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs", "ocfs2",
           "vmfs"),
    "netfs": ("auto", "nfs", "glusterfs", "cifs"),
    "logical": ("lvm2",),
    "disk": ("none", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2"),
}
# Source fields each type accepts; the first tuple is required.
SOURCE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dir": ((), ()),
    "fs": (("device",), ("format",)),
    "netfs": (("host", "dir"), ("format",)),
    "logical": ((), ("devices", "name", "format")),
    "disk": (("device",), ("format",)),
    "iscsi": (("host", "iqn"), ("port", "initiator_iqn", "auth")),
    "rbd": (("hosts", "name"), ("auth",)),
}
PATH_REQUIRED = ("dir", "fs", "netfs")
BUILD_DEFAULT = {"dir": True, "netfs": True, "fs": False, "logical": False, "disk": False, "iscsi": False,
                 "rbd": False}
BUILDABLE = ("dir", "netfs", "fs", "logical", "disk")

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^[0-9A-Fa-f:.]{2,45}$")
_IQN = re.compile(r"^(iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[^\s]{1,200})?|eui\.[0-9A-Fa-f]{16}|"
                  r"naa\.[0-9A-Fa-f]{16,32})$")
_VG = re.compile(r"^[A-Za-z0-9+_][A-Za-z0-9+_.-]{0,126}$")
_SHARE = re.compile(r"^[A-Za-z0-9._$-]{1,80}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SECRET_USAGE = re.compile(r"^[A-Za-z0-9._:@/-]{1,128}$")


def _bad_path(field: str, value: Any, why: str) -> InvalidInput:
    return InvalidInput(f"invalid {field} {value!r}: {why}", code="InvalidPoolPath",
                        details={"field_errors": {field: [why]}})


def _bad_source(field: str, why: str, ptype: str) -> InvalidInput:
    return InvalidInput(f"invalid source for a {ptype} pool: {field}: {why}", code="InvalidPoolSource",
                        details={"field_errors": {"source": {field: [why]}}, "type": ptype})


def normalize_path(value: Any, field: str = "path") -> str:
    """An absolute path with `//`, `/./` and a trailing `/` collapsed; `..` anywhere is refused."""
    if not isinstance(value, str) or not value:
        raise _bad_path(field, value, "must be a non-empty absolute path")
    if len(value) > MAX_PATH or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _bad_path(field, value, f"at most {MAX_PATH} characters, no control characters")
    if not value.startswith("/"):
        raise _bad_path(field, value, "must be absolute (start with '/')")
    parts = value.split("/")
    if ".." in parts:
        raise _bad_path(field, value, "must not contain '..' (path traversal)")
    return "/" + "/".join(p for p in parts if p not in ("", "."))


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def pool_directory_refusal(path: str, protected: Sequence[str] = (), homes: Sequence[str] = ()) -> str | None:
    """Why a directory cannot hold a pool whose files become volumes (module docstring), or None."""
    if path in SYSTEM_DIRS or any(_under(path, t) for t in SYSTEM_TREES):
        return "a system directory cannot hold a storage pool"
    if any(_under(path, t) for t in PROTECTED_TREES):
        return "a protected directory (system state, logs or credentials) cannot hold a storage pool"
    if any(_under(path, t) for t in protected):
        return "JVP's data directory (tokens, keys, metadata) cannot hold a storage pool"
    if path in homes:
        return "a user's home directory cannot hold a storage pool (its dotfiles would become volumes)"
    secret = next((c for c in path.split("/") if c in SECRET_COMPONENTS), None)
    if secret:
        return f"a credentials directory ({secret}) cannot hold a storage pool"
    return None


def check_pool_directory(path: str, *, protected: Sequence[str] = (), homes: Sequence[str] = (),
                         resolved: str | None = None) -> None:
    """Refuse the deny-listed directories for pools whose files become volumes; `resolved` is the path
    with its symlinks resolved, when JVP can know it (the node is its own machine)."""
    for candidate in (path, resolved):
        if candidate is None:
            continue
        why = pool_directory_refusal(candidate, protected, homes)
        if why:
            via = f" ({path} resolves to {candidate})" if candidate != path else ""
            raise _bad_path("path", path, f"{why}{via}: its files would become volumes that can be downloaded "
                                          "and deleted; choose a directory such as /var/lib/libvirt/images "
                                          "or /srv/vms/<name>")


def _device(value: Any, field: str, ptype: str) -> str:
    try:
        path = normalize_path(value, field)
    except InvalidInput as exc:
        raise _bad_source(field, exc.details["field_errors"][field][0], ptype) from exc
    if not path.startswith("/dev/"):
        raise _bad_source(field, "must be a device under /dev/", ptype)
    return path


def _host(value: Any, field: str, ptype: str) -> PoolHostSpec:
    """`name`, `name:port`, or `[v6]:port`."""
    if not isinstance(value, str):
        raise _bad_source(field, "must be a host name or address", ptype)
    name, port = value, None
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)$", value) or \
        (re.match(r"^([^:]+):(\d+)$", value) if value.count(":") == 1 else None)
    if m:
        name, port = m.group(1), int(m.group(2))
    if not _HOST.match(name) or (port is not None and not 0 < port < 65536):
        raise _bad_source(field, f"{value!r} is not a host name, address, or host:port", ptype)
    return PoolHostSpec(name, port)


def _port(value: Any, ptype: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise _bad_source("port", "must be a TCP port (1-65535)", ptype)
    return value


def _auth(value: Any, ptype: str) -> PoolAuthSpec:
    kind = "ceph" if ptype == "rbd" else "chap"
    if not isinstance(value, dict) or set(value) - {"type", "username", "secret_uuid", "secret_usage"}:
        raise _bad_source("auth", "an object {type?, username, secret_uuid | secret_usage}", ptype)
    if value.get("type", kind) != kind:
        raise _bad_source("auth", f"a {ptype} pool authenticates with type '{kind}'", ptype)
    user = value.get("username")
    if not isinstance(user, str) or not re.match(r"^[A-Za-z0-9._@-]{1,64}$", user):
        raise _bad_source("auth", "username: 1-64 letters, digits, '.', '_', '@' or '-'", ptype)
    uuid, usage = value.get("secret_uuid"), value.get("secret_usage")
    if (uuid is None) == (usage is None):
        raise _bad_source("auth", "give exactly one of secret_uuid or secret_usage (a libvirt secret)", ptype)
    if uuid is not None and not (isinstance(uuid, str) and _UUID.match(uuid)):
        raise _bad_source("auth", "secret_uuid is not a UUID", ptype)
    if usage is not None and not (isinstance(usage, str) and _SECRET_USAGE.match(usage)):
        raise _bad_source("auth", "secret_usage: 1-128 characters of a libvirt secret's usage name", ptype)
    return PoolAuthSpec(type=kind, username=user, secret_uuid=uuid, secret_usage=usage)


def _source(ptype: str, src: dict[str, Any]) -> PoolSourceSpec:
    """The request's source object (free-form until here) checked against what the type takes."""
    required, optional = SOURCE_FIELDS[ptype]
    given = {k for k, v in src.items() if v not in (None, [], "")}
    extra = sorted(given - set(required) - set(optional))
    if extra:
        raise _bad_source(extra[0], f"not used by {ptype} pools (they take: "
                                    f"{', '.join(required + optional) or 'no source'})", ptype)
    for field in required:
        if field not in given:
            raise _bad_source(field, f"required for {ptype} pools", ptype)
    out: dict[str, Any] = {}
    if "device" in given:
        out["device"] = _device(src["device"], "device", ptype)
    if "devices" in given:
        if not isinstance(src["devices"], list) or len(src["devices"]) > 64:
            raise _bad_source("devices", "a list of at most 64 device paths", ptype)
        out["devices"] = tuple(_device(d, "devices", ptype) for d in src["devices"])
    if "host" in given:
        host = _host(src["host"], "host", ptype)
        if host.port is not None:
            raise _bad_source("host", "give the port in `port`", ptype)
        out["host"] = host.name
    if "port" in given:
        out["port"] = _port(src["port"], ptype)
    if "hosts" in given:
        if not isinstance(src["hosts"], list) or not 1 <= len(src["hosts"]) <= 16:
            raise _bad_source("hosts", "a list of 1-16 monitors (host or host:port)", ptype)
        out["hosts"] = tuple(_host(h, "hosts", ptype) for h in src["hosts"])
    fmt = src.get("format")
    if fmt is not None:
        if fmt not in FORMATS[ptype]:
            raise _bad_source("format", f"one of {', '.join(FORMATS[ptype])}", ptype)
        out["format"] = fmt
    if "dir" in given:
        if fmt == "cifs":
            if not isinstance(src["dir"], str) or not _SHARE.match(src["dir"]):
                raise _bad_source("dir", "a CIFS share name", ptype)
            out["dir"] = src["dir"]
        else:
            try:
                out["dir"] = normalize_path(src["dir"], "dir")
            except InvalidInput as exc:
                raise _bad_source("dir", exc.details["field_errors"]["dir"][0], ptype) from exc
    if "name" in given:
        if not isinstance(src["name"], str) or not _VG.match(src["name"]) or src["name"] in (".", ".."):
            raise _bad_source("name", "1-127 letters, digits, '+', '_', '.' or '-'", ptype)
        out["name"] = src["name"]
    for field in ("iqn", "initiator_iqn"):
        if field in given:
            if not isinstance(src[field], str) or not _IQN.match(src[field]):
                raise _bad_source(field, "an iSCSI name (iqn.YYYY-MM.domain[:id], eui.* or naa.*)", ptype)
            out[field] = src[field]
    if "auth" in given:
        out["auth"] = _auth(src["auth"], ptype)
    return PoolSourceSpec(**out)


def pool_spec(name: str, ptype: str, path: str | None, source: dict[str, Any] | None,
              build: bool | None, *, protected: Sequence[str] = ()) -> PoolSpec:
    """A validated, normalized pool spec or InvalidInput. `protected`: further trees refused for pools whose
    volumes are files (JVP's data dir)."""
    if ptype not in POOL_TYPES:
        raise InvalidInput(f"unknown pool type {ptype!r}: one of {', '.join(POOL_TYPES)}", code="ValidationFailed",
                           details={"field_errors": {"type": [f"Must be one of: {', '.join(POOL_TYPES)}."]}})
    src = _source(ptype, source or {})
    if path is None:
        if ptype in PATH_REQUIRED:
            raise _bad_path("path", None, f"required for {ptype} pools (the directory holding the volumes)")
    elif ptype == "rbd":
        raise _bad_path("path", path, "rbd pools have no local path")
    else:
        path = normalize_path(path)
        if ptype in PATH_REQUIRED:
            check_pool_directory(path, protected=protected)
        elif ptype == "logical" and path != f"/dev/{src.name or name}":
            raise _bad_path("path", path, f"a logical pool's path is /dev/<volume group> "
                                          f"(/dev/{src.name or name})")
        elif ptype in ("disk", "iscsi") and not (path == "/dev" or path.startswith("/dev/")):
            raise _bad_path("path", path, f"a {ptype} pool's path is /dev or a directory under it")
    if build is None:
        build = BUILD_DEFAULT[ptype]
    elif build and ptype not in BUILDABLE:
        raise InvalidInput(f"{ptype} pools cannot be built by libvirt; prepare the source and create the pool "
                           "with build=false", code="ValidationFailed",
                           details={"field_errors": {"build": [f"Not supported for {ptype} pools."]}})
    return PoolSpec(name=name, type=ptype, path=path, source=src, build=build)
