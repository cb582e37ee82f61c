"""This machine's own network stack, read and changed through netlink (pyroute2), never shell strings.

Only the node whose libvirtd runs on this machine can use it (see `uri_is_this_machine`): host bridges and
the host-address overlap check of networks. Every other node is reached through libvirt alone.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from jvp.hostnet.netlink import HostNetwork

__all__ = ["HostNetwork", "uri_is_this_machine"]


def uri_is_this_machine(uri: str) -> bool:
    """True for the QEMU driver reached without a network hop (qemu:///system, qemu+unix:///system).

    qemu+tcp://127.0.0.1/system is deliberately *not* this machine: a URI with a host is how a remote node is
    named, and the loopback-TCP node is the project's stand-in for a remote one. The test driver is never
    this machine either: its interfaces are fiction."""
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    return driver == "qemu" and transport in ("", "unix") and not parts.hostname
