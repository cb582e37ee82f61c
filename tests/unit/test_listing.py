"""Listings survive objects that vanish or change state while they are read."""
from __future__ import annotations

import libvirt
import pytest

from jvp.hypervisor.errors import map_libvirt_error
from jvp.hypervisor.listing import views_of


def err(code: int) -> libvirt.libvirtError:
    e = libvirt.libvirtError("x")
    e.err = (code, 0, "x", 0, None, None, None, 0, 0)
    return e


def test_vanished_objects_are_skipped_and_changed_ones_reread():
    calls = {"b": 0}

    def view(name):
        if name == "gone":
            raise err(libvirt.VIR_ERR_NO_STORAGE_POOL)
        if name == "b":
            calls["b"] += 1
            if calls["b"] == 1:
                raise err(libvirt.VIR_ERR_OPERATION_INVALID)  # stopped between isActive() and a read
        return name
    assert views_of(["a", "gone", "b"], view) == ["a", "b"]
    assert calls["b"] == 2


def test_other_errors_still_fail_the_listing():
    with pytest.raises(libvirt.libvirtError):
        views_of(["a"], lambda _: (_ for _ in ()).throw(err(libvirt.VIR_ERR_INTERNAL_ERROR)))


def test_node_errors_do_not_repeat_the_node():
    e = map_libvirt_error(err(libvirt.VIR_ERR_INTERNAL_ERROR), node="local", kind="node", name="local")
    assert "on node" not in e.message and e.message.startswith("node 'local'")
