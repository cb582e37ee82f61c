"""libvirt errors -> JvpError, in one table.

Services name the resource they were working on (`kind`, `name`, `node`) so that the message can say what
failed; libvirt's own text is always kept in `details.libvirt_error` (with its numeric code and domain).
"""
from __future__ import annotations

from typing import Any

import libvirt

from jvp.errors import JvpError

# libvirt error code -> (JVP code or None to derive "<Kind>NotFound"/"<Kind>Exists", HTTP status)
_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN: "VmNotFound",
    libvirt.VIR_ERR_NO_STORAGE_POOL: "StoragePoolNotFound",
    libvirt.VIR_ERR_NO_STORAGE_VOL: "VolumeNotFound",
    libvirt.VIR_ERR_NO_NETWORK: "NetworkNotFound",
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT: "SnapshotNotFound",
    libvirt.VIR_ERR_NO_NODE_DEVICE: "NodeDeviceNotFound",
    libvirt.VIR_ERR_NO_INTERFACE: "InterfaceNotFound",
    libvirt.VIR_ERR_NO_SECRET: "SecretNotFound",
    libvirt.VIR_ERR_NO_NWFILTER: "NwfilterNotFound",
}
TABLE: dict[int, tuple[str, int]] = {code: (jvp, 404) for code, jvp in _NOT_FOUND.items()}
# what a VM's definition can name that may vanish under it (a 404 of these during a VM action is not VmNotFound)
_MISSING = {
    libvirt.VIR_ERR_NO_STORAGE_POOL: "a storage pool", libvirt.VIR_ERR_NO_STORAGE_VOL: "a volume",
    libvirt.VIR_ERR_NO_NETWORK: "a network", libvirt.VIR_ERR_NO_NODE_DEVICE: "a host device",
    libvirt.VIR_ERR_NO_INTERFACE: "a host interface", libvirt.VIR_ERR_NO_SECRET: "a secret",
    libvirt.VIR_ERR_NO_NWFILTER: "a network filter",
}
TABLE.update({
    libvirt.VIR_ERR_OPERATION_INVALID: ("InvalidState", 409),
    libvirt.VIR_ERR_OPERATION_FAILED: ("OperationFailed", 422),
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED: ("NotSupported", 422),
    libvirt.VIR_ERR_NO_SUPPORT: ("NotSupported", 422),
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED: ("NotSupported", 422),
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED: ("NotSupported", 422),
    libvirt.VIR_ERR_INVALID_ARG: ("InvalidInput", 400),
    libvirt.VIR_ERR_XML_ERROR: ("InvalidInput", 400),
    libvirt.VIR_ERR_XML_DETAIL: ("InvalidInput", 400),
    libvirt.VIR_ERR_DOM_EXIST: ("VmExists", 409),
    libvirt.VIR_ERR_STORAGE_VOL_EXIST: ("VolumeExists", 409),
    libvirt.VIR_ERR_NETWORK_EXIST: ("NetworkExists", 409),
    libvirt.VIR_ERR_STORAGE_POOL_BUILT: ("StoragePoolExists", 409),
    # A job on a reachable node that timed out (mostly "cannot acquire state change lock": another job
    # holds the domain). SPEC §1 has no 504 class; it is a conflict with work in progress: retry later.
    libvirt.VIR_ERR_OPERATION_TIMEOUT: ("OperationTimeout", 409),
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE: ("GuestAgentUnavailable", 422),
    libvirt.VIR_ERR_AGENT_UNSYNCED: ("GuestAgentUnavailable", 422),
    libvirt.VIR_ERR_OPERATION_ABORTED: ("Cancelled", 409),
    libvirt.VIR_ERR_AUTH_FAILED: ("NodeAuthFailed", 502),
    libvirt.VIR_ERR_AUTH_CANCELLED: ("NodeAuthFailed", 502),
    libvirt.VIR_ERR_AUTH_UNAVAILABLE: ("NodeAuthFailed", 502),
    libvirt.VIR_ERR_NO_CONNECT: ("NodeUnreachable", 502),
    libvirt.VIR_ERR_INVALID_CONN: ("NodeUnreachable", 502),
    libvirt.VIR_ERR_RPC: ("NodeUnreachable", 502),
    libvirt.VIR_ERR_ACCESS_DENIED: ("NodeAccessDenied", 502),
    libvirt.VIR_ERR_RESOURCE_BUSY: ("ResourceBusy", 409),
    libvirt.VIR_ERR_STORAGE_PROBE_FAILED: ("OperationFailed", 422),
    libvirt.VIR_ERR_CPU_INCOMPATIBLE: ("NotSupported", 422),
    libvirt.VIR_ERR_MIGRATE_UNSAFE: ("MigrationUnsafe", 422),
    libvirt.VIR_ERR_SNAPSHOT_REVERT_RISKY: ("InvalidState", 409),
    libvirt.VIR_ERR_INVALID_DOMAIN_SNAPSHOT: ("InvalidInput", 400),
})

_CONNECTION_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN, libvirt.VIR_ERR_RPC,
                     libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR}


def libvirt_details(exc: libvirt.libvirtError) -> dict[str, Any]:
    return {"libvirt_error": {"message": exc.get_error_message(), "code": exc.get_error_code(),
                              "domain": exc.get_error_domain()}}


def is_connection_error(exc: libvirt.libvirtError, conn: libvirt.virConnect | None = None) -> bool:
    """True when the error means the connection itself is gone (libvirtd restarted, network cut)."""
    code = exc.get_error_code()
    if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN, libvirt.VIR_ERR_RPC):
        return True
    if code in _CONNECTION_CODES:
        text = (exc.get_error_message() or "").lower()
        if any(s in text for s in ("connection", "end of file", "broken pipe", "cannot recv",
                                   "cannot write", "client socket is closed", "no route")):
            return True
        if conn is not None:
            try:
                return conn.isAlive() == 0
            except libvirt.libvirtError:
                return True
    return False


def map_libvirt_error(exc: libvirt.libvirtError, *, node: str | None = None, kind: str | None = None,
                      name: str | None = None, action: str | None = None) -> JvpError:
    """Turn a libvirt error into a JvpError whose message names the resource and keeps libvirt's text."""
    code = exc.get_error_code()
    text = exc.get_error_message() or str(exc)
    details = libvirt_details(exc)
    if node:
        details["node"] = node
    what = f"{kind.replace('_', ' ')} '{name}'" if kind and name else (kind or "operation")
    where = f" on node '{node}'" if node and not (kind == "node" and name == node) else ""
    if code in TABLE:
        jvp_code, status = TABLE[code]
        if status == 404 and kind == "vm" and code != libvirt.VIR_ERR_NO_DOMAIN:
            # The VM exists, an object its definition names does not (a NIC on a deleted network, a vanished
            # volume, a missing host device): libvirt refused to act on the VM, which is a precondition on the
            # host, not a VM that is not there (real host: starting a VM whose network was deleted).
            missing = _MISSING.get(code, "an object")
            return JvpError(f"{action + ' ' if action else ''}{what}{where} failed: it references {missing} that "
                            f"does not exist ({text})", code="PreconditionFailed", status=422,
                            details={**details, "vm": name, "missing": jvp_code})
        if status == 404 and kind and name:
            jvp_code = "".join(p.capitalize() for p in kind.split("_")) + "NotFound"
            return JvpError(f"{what} not found{where}", code=jvp_code, status=404, details=details)
    elif is_connection_error(exc):
        jvp_code, status = "NodeUnreachable", 502
    else:
        jvp_code, status = "LibvirtError", 422
    verb = f"{action} " if action else ""
    if status == 502:
        message = f"node '{node}' is unreachable: {text}" if node else f"libvirt connection failed: {text}"
    else:
        message = f"{verb}{what}{where} failed: {text}"
    return JvpError(message, code=jvp_code, status=status, details=details)
