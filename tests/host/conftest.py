"""Fixtures of the real-host tier (tier 3) shared by its modules."""
from __future__ import annotations

import os

import pytest

from tests.conftest import libvirtd_reachable, require


@pytest.fixture(scope="session")
def second_node():
    """A second real libvirtd in its own namespaces (tests/host/second_node.py): another host UUID,
    hostname and runtime state, reached at `second_node.uri`; `second_node.shared` is a directory both
    daemons see at the same path. Started once per session, stopped (nothing left behind) at its end."""
    from tests.host import second_node as bed
    require(os.geteuid() == 0, "the second node needs root (namespaces, veth)")
    require(libvirtd_reachable(), "libvirtd does not answer on qemu:///system (run `make host`)")
    try:
        twin = bed.start()
    except (RuntimeError, OSError) as exc:
        require(False, f"the second libvirt node did not start: {exc}")
    try:
        yield twin
    finally:
        bed.stop()
