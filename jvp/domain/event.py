"""What the events stream carries (README: Events): the typed VM event the gateway hands the event hub, and the
kinds of messages a client may ask for."""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("vm", "task", "audit", "node")


@dataclass(frozen=True)
class VmEvent:
    """A change of a domain on a node, from libvirt's own events (any client made it: JVP, virsh, another
    controller). `event`: started, stopped, shutdown, crashed, suspended, resumed, defined, undefined,
    migrated, pmsuspended, device-added, device-removed, metadata-changed; `reason`: libvirt's detail
    (booted, destroyed, migrated, ...); `device`: the alias of an added/removed device."""
    node: str
    uuid: str
    name: str
    event: str
    reason: str | None = None
    device: str | None = None
