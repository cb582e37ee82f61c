"""Snapshots made outside JVP read as libvirt has them, and one unreadable snapshot degrades its own row."""
from __future__ import annotations

import libvirt

from jvp.hypervisor import snapshot as snap_hv
from jvp.hypervisor import snapshot_xml as sx

EXTERNAL = """<domainsnapshot><name>ext</name><description> two
lines </description><state>disk-snapshot</state><parent><name> odd parent</name></parent>
<creationTime>1700000000</creationTime><memory snapshot='external' file='/m/ext.mem'/>
<disks><disk name='vda' snapshot='external' type='block'><source dev='/dev/vg/ext'/></disk>
<disk name='vdb' snapshot='manual'/></disks></domainsnapshot>"""


def test_an_external_snapshot_as_libvirt_has_it():
    v = sx.view(EXTERNAL, vm="vm1", node="n", current=False)
    assert (v.libvirt_state, v.state, v.location, v.memory, v.memory_file) == (
        "disk-snapshot", "running", "external", "external", "/m/ext.mem")
    assert v.description == " two\nlines " and v.parent == " odd parent"
    assert [(d.target, d.snapshot, d.snapshot_file) for d in v.disks] == [("vda", "external", "/dev/vg/ext"),
                                                                          ("vdb", "manual", None)]
    assert v.problems == [] and v.has_memory is True


class _Snap:
    def __init__(self, name, xml=None, gone=False):
        self.name, self.xml, self.gone = name, xml, gone

    def getName(self):  # noqa: N802 - libvirt's names
        return self.name

    def getXMLDesc(self, flags):  # noqa: N802
        if self.gone:
            err = libvirt.libvirtError("gone")
            err.err = (libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT, 0, "gone", 0, "", "", "", 0, 0)
            raise err
        return self.xml


class _Dom:
    def __init__(self, snaps):
        self.snaps = snaps

    def hasCurrentSnapshot(self, flags):  # noqa: N802
        return 0

    def listAllSnapshots(self, flags):  # noqa: N802
        return self.snaps


class _Conn:
    def __init__(self, dom):
        self.dom = dom

    def lookupByName(self, name):  # noqa: N802
        return self.dom


def test_one_unreadable_snapshot_degrades_its_row_and_a_vanished_one_is_skipped():
    dom = _Dom([_Snap("ext", EXTERNAL), _Snap("broken", "<domainsnapshot><name>broken</name"),
                _Snap("gone", gone=True)])
    views = snap_hv.views(_Conn(dom), "n", "vm1")
    assert sorted(v.name for v in views) == ["broken", "ext"]
    broken = next(v for v in views if v.name == "broken")
    assert [p.code for p in broken.problems] == ["SnapshotXmlUnreadable"] and broken.state == "unknown"
    assert next(v for v in views if v.name == "ext").problems == []
