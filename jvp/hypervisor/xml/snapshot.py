"""The snapshot document (`<domainsnapshot>`), each field JVP reads or builds mapped to its path once.

snapshot_xml builds the documents handed to libvirt and reads libvirt's back through these classes; the copies
of the domain a snapshot carries are read through the domain mapping (jvp.hypervisor.xml.domain).
"""
from __future__ import annotations

from jvp.hypervisor.xml.base import INT, XmlChild, XmlChildren, XmlNode, XmlProperty
from jvp.hypervisor.xml.domain import Domain

# JVP's facts about a capture libvirt cannot record itself, in the snapshot's copies of the domain
SNAP_NS = "urn:jvp:snapshot:1"


class Capture(XmlNode):
    TAG = "jvps:capture"
    NSMAP = {"jvps": SNAP_NS}
    vm_state = XmlProperty("./@vm-state")
    quiesced = XmlProperty("./@quiesced")


class SnapshotDomain(Domain):
    """A domain document as a snapshot keeps it, with JVP's capture facts in its <metadata>."""
    NSMAP = {**Domain.NSMAP, "jvps": SNAP_NS}
    captures = XmlChildren(Capture, "./metadata/jvps:capture")


class SnapshotDisk(XmlNode):
    TAG = "disk"
    name = XmlProperty("./@name")
    snapshot = XmlProperty("./@snapshot")
    source_file = XmlProperty("./source/@file")   # an external snapshot's overlay (file)
    source_dev = XmlProperty("./source/@dev")     # (block)


class Snapshot(XmlNode):
    TAG = "domainsnapshot"
    ORDER = ("name", "description", "state", "parent", "creationTime", "memory", "disks", "domain",
             "inactiveDomain")
    name = XmlProperty("./name")
    description = XmlProperty("./description")
    state = XmlProperty("./state")
    parent = XmlProperty("./parent/name")
    creation_time = XmlProperty("./creationTime", INT)
    memory = XmlProperty("./memory/@snapshot")
    memory_file = XmlProperty("./memory/@file")
    disks_box = XmlChild(XmlNode, "./disks")
    disks = XmlChildren(SnapshotDisk, "./disks/disk")
    domain = XmlChild(SnapshotDomain, "./domain")
    inactive_domain = XmlChild(SnapshotDomain, "./inactiveDomain")
