"""The JvpError family: every failure that leaves JVP is one of these.

`code` is stable (clients branch on it), `status` is the HTTP status class of SPEC §1, `message` is for a
person, `details` carries machine-readable extras (field errors, libvirt's own text, conflicting names).

Every code must be in the one table, jvp/domain/errors.py (status and meaning; README and OpenAPI are
generated from it): tests/unit/test_error_codes.py scans jvp/ for the codes raised here and elsewhere,
including the `<Kind>NotFound`/`<Kind>Exists` codes not_found() and already_exists() derive from `kind`.
"""
from __future__ import annotations

from typing import Any


class JvpError(Exception):
    code = "InternalError"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r})"


class InvalidInput(JvpError):
    code, status = "InvalidInput", 400


class ValidationFailed(InvalidInput):
    code = "ValidationFailed"


class Unauthorized(JvpError):
    code, status = "Unauthorized", 401


class Forbidden(JvpError):
    code, status = "Forbidden", 403


class NotFound(JvpError):
    code, status = "NotFound", 404


class Conflict(JvpError):
    code, status = "Conflict", 409


class PreconditionFailed(JvpError):
    code, status = "PreconditionFailed", 422


class PayloadTooLarge(JvpError):
    code, status = "PayloadTooLarge", 413


class NodeUnreachable(JvpError):
    code, status = "NodeUnreachable", 502


class NotSupported(JvpError):
    code, status = "NotSupported", 422


class InternalError(JvpError):
    code, status = "InternalError", 500


def not_found(kind: str, name: str, node: str | None = None, *, code: str | None = None,
              **details: Any) -> NotFound:
    """`vm 'web1' not found on node 'local'` with code `VmNotFound`."""
    where = f" on node '{node}'" if node else ""
    label = kind.replace("_", " ")
    code = code or "".join(p.capitalize() for p in kind.split("_")) + "NotFound"
    return NotFound(f"{label} '{name}' not found{where}", code=code,
                    details={"kind": kind, "name": name, **({"node": node} if node else {}), **details})


def already_exists(kind: str, name: str, node: str | None = None, *, code: str | None = None,
                   **details: Any) -> Conflict:
    where = f" on node '{node}'" if node else ""
    label = kind.replace("_", " ")
    code = code or "".join(p.capitalize() for p in kind.split("_")) + "Exists"
    return Conflict(f"{label} '{name}' already exists{where}; choose another name or delete it first",
                    code=code, details={"kind": kind, "name": name, **({"node": node} if node else {}),
                                        **details})


def pool_inactive(pool: str, node: str) -> PreconditionFailed:
    """422 StoragePoolInactive: what a volume of the pool is asked for needs the pool running."""
    return PreconditionFailed(f"storage pool '{pool}' on node '{node}' is not active; start it first "
                              "(start-storage-pool)", code="StoragePoolInactive",
                              details={"pool": pool, "node": node})
