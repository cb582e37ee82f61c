"""Listing many libvirt objects while other clients change them.

Between `listAll*()` and reading one object, another client may undefine it (the object is gone: skip it)
or change its state (a pool or network stopped: read it again, once, in its new state). A listing must
not fail as a whole because one object moved under it.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, TypeVar

import libvirt

T = TypeVar("T")

GONE = {libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK, libvirt.VIR_ERR_NO_STORAGE_POOL,
        libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_NODE_DEVICE, libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT}
CHANGED = {libvirt.VIR_ERR_OPERATION_INVALID}


def views_of(objects: Iterable[Any], view: Callable[[Any], T]) -> list[T]:
    out: list[T] = []
    for obj in objects:
        for attempt in (1, 2):
            try:
                out.append(view(obj))
                break
            except libvirt.libvirtError as exc:
                code = exc.get_error_code()
                if code in GONE:
                    break
                if code in CHANGED and attempt == 1:
                    continue
                raise
    return out
