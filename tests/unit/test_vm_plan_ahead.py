"""create-vm's plan: the node's answers asked ahead in parallel keep the checks' order, and a new disk's path is
known before it exists only where libvirt's pool type says where it goes (issue 15, create-vm's floor)."""
from __future__ import annotations

import threading

import pytest

from jvp.errors import NotFound
from jvp.service.vm.plan import DiskPlan, _Ahead, new_volume_path


class Gateway:
    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []
        self.lock = threading.Lock()

    def _note(self, name, *args):
        with self.lock:
            self.calls.append((name, args))

    def vm_exists(self, node, name):
        self._note("vm_exists", node, name)
        return False

    def vm_volume(self, node, pool, name):
        self._note("vm_volume", node, pool, name)
        raise NotFound(f"volume '{name}' not found", code="VolumeNotFound")

    def vm_network(self, node, name, need_active=False):
        self._note("vm_network", node, name, need_active)
        return {"name": name}


def test_an_answer_asked_ahead_is_taken_once_and_its_error_raised_where_it_is_read():
    gw = Gateway()
    ahead = _Ahead(gw)
    ahead.start("vm_volume", "local", "default", "base.qcow2")
    ahead.start("vm_exists", "local", "web1")
    assert ahead.vm_exists("local", "web1") is False
    with pytest.raises(NotFound):  # the error of the read done ahead, raised by the call that reads it
        ahead.vm_volume("local", "default", "base.qcow2")
    assert sorted(c[0] for c in gw.calls) == ["vm_exists", "vm_volume"]
    assert ahead.vm_exists("local", "web1") is False  # a second call asks the gateway again
    assert ahead.vm_network("local", "net1", need_active=True) == {"name": "net1"}  # passed through
    assert [c[0] for c in gw.calls].count("vm_exists") == 2


def test_a_new_disk_path_is_known_only_for_directory_like_pools():
    disk = DiskPlan("vda", "linked", "default", "web1-root.qcow2")
    assert new_volume_path({"type": "dir", "path": "/var/lib/libvirt/images"}, disk) == \
        "/var/lib/libvirt/images/web1-root.qcow2"
    assert new_volume_path({"type": "netfs", "path": "/mnt/nfs/"}, disk) == "/mnt/nfs/web1-root.qcow2"
    assert new_volume_path({"type": "logical", "path": "/dev/vg0"}, disk) is None
    assert new_volume_path({"type": "dir", "path": None}, disk) is None
    assert new_volume_path(None, disk) is None
