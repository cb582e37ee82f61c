"""Usage of a template computed from one snapshot of the node's domains and volumes (no counters)."""
from __future__ import annotations

from jvp.domain.template import DomainUsage
from jvp.domain.volume import BackingView, VolumeView
from jvp.hypervisor.template_usage import NodeUsage

BASE = "/p/_templates_/deb-v1.qcow2"
NEW = "/p/_templates_/deb-v2.qcow2"


def vol(pool, name, path, backing=None):
    return VolumeView(name=name, pool=pool, path=path, backing=BackingView(backing, "qcow2") if backing else None)


def dom(name, template=None, paths=(), running=False):
    return DomainUsage(name=name, template=template, paths=frozenset(paths), running=running, created_at=None)


def usage() -> NodeUsage:
    return NodeUsage(domains=[
        dom("a", {"name": "deb", "uuid": "u1"}, ["/p/a-root.qcow2"]),
        dom("b", None, ["/p/b-top.qcow2"], running=True),               # made by hand, on top of a clone
        dom("c", {"name": "deb", "uuid": "u0"}, ["/p/c-root.qcow2"]),   # an older template of the same name
        dom("d", {"name": "deb"}, []),                                  # metadata without uuid: by name
        dom("e", None, ["/p/other.qcow2"]),
    ], volumes=[
        vol("p_templates_", "deb-v1.qcow2", BASE), vol("p_templates_", "deb-v2.qcow2", NEW),
        vol("p", "a-root.qcow2", "/p/a-root.qcow2", BASE),
        vol("p", "b-mid.qcow2", "/p/b-mid.qcow2", NEW),
        vol("p", "b-top.qcow2", "/p/b-top.qcow2", "/p/b-mid.qcow2"),      # two levels above the image
        vol("p", "loop1", "/p/l1", "/p/l2"), vol("p", "loop2", "/p/l2", "/p/l1"),  # a broken chain never hangs
        vol("p", "other.qcow2", "/p/other.qcow2"),
    ])


def test_backing_chains_are_followed_through_the_volumes():
    u = usage()
    assert [(v.name, v.base) for v in u.backed_volumes([BASE, NEW])] == [
        ("a-root.qcow2", BASE), ("b-mid.qcow2", NEW), ("b-top.qcow2", NEW)]
    assert [v.name for v in u.backed_volumes([BASE])] == ["a-root.qcow2"]
    assert u.backed_volumes(["/p/nothing"]) == []


def test_vms_by_metadata_or_by_disk():
    u = usage()
    vms = {v.name: v for v in u.vms({"name": "deb", "uuid": "u1"}, [BASE, NEW])}
    assert set(vms) == {"a", "b", "d"}
    assert vms["a"].by_metadata and vms["a"].disks == ["/p/a-root.qcow2"]
    assert not vms["b"].by_metadata and vms["b"].disks == ["/p/b-top.qcow2"] and vms["b"].running
    assert vms["d"].by_metadata and vms["d"].disks == []


def test_paths_opened_directly():
    u = NodeUsage(domains=[dom("x", None, [BASE])], volumes=[])
    assert u.paths_in_use([BASE, NEW]) == {BASE: ["x"]}


class _Pool:
    """A libvirt storage pool whose volume listing works or fails as the test says."""

    def __init__(self, name, active=True, error=None):
        self._name, self._active, self._error = name, active, error

    def name(self):
        return self._name

    def isActive(self):
        return self._active

    def listAllVolumes(self, flags):
        if self._error:
            import libvirt
            raise libvirt.libvirtError(self._error)
        return []


class _Conn:
    """A node with no domains and the given pools (the test driver cannot make a pool's listing fail)."""

    def __init__(self, pools):
        self.pools = pools

    def listAllDomains(self, flags):
        return []

    def listAllStoragePools(self, flags):
        return self.pools

    def isAlive(self):
        return 1

    def getURI(self):
        return "test:///default"


def test_a_pool_whose_volumes_cannot_be_listed_is_named_with_libvirts_text():
    from jvp.hypervisor.template_usage import scan
    usage = scan(_Conn([_Pool("data", error="cannot open directory '/srv/nfs': Stale file handle"),
                        _Pool("cold", active=False), _Pool("ok")]))
    assert usage.skipped_pools == ["cold"]
    assert usage.unreadable_pools == [{"pool": "data", "error": "cannot open directory '/srv/nfs': Stale file handle"}]
    assert [p["pool"] for p in usage.unknown_pools()] == ["cold", "data"]
