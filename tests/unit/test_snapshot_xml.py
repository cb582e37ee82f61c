"""Snapshot XML: which disks a snapshot covers, the documents JVP gives libvirt, the snapshot view and tree,
and the clone's definition edited from the snapshot's copy of the source."""
from __future__ import annotations

import pytest
from lxml import etree

from jvp.domain.snapshot import SnapshotDiskView
from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice, VmFacts
from jvp.hypervisor import snapshot_xml as sx
from jvp.hypervisor.clone_xml import clone_domain, cloned_from
from jvp.hypervisor.domain_edit import EditError
from jvp.hypervisor.domain_xml import NS, RUNTIME_NS, build_domain, read_facts
from jvp.hypervisor.xml import parse, to_string

Q = f"{{{NS}}}"


def domain(**kw) -> etree._Element:
    disks = kw.pop("disks", [DiskDevice("vda", "/p/web-root.qcow2", "qcow2"),
                             DiskDevice("vdb", "/p/web-disk1.qcow2", "qcow2"),
                             DiskDevice("hda", None, "raw", bus="ide", device="cdrom"),
                             DiskDevice("hdc", "/p/.jvp-cidata-web-1.iso", "raw", bus="ide", device="cdrom")])
    return build_domain(DomainSpec(
        name="web", uuid="0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00aaaa", vcpus=1, memory_mib=512, domain_type="qemu",
        arch="x86_64", cpu_mode=None, disks=disks,
        nics=[NicDevice("network", "default", "52:54:00:00:00:01"), NicDevice("bridge", "br0", "52:54:00:00:00:02")],
        facts=VmFacts(created_at="2026-01-01T00:00:00Z", created_by="ops", system_disk="vda", instance_id="i-1",
                      seed_pool="default", seed_volume=".jvp-cidata-web-1.iso", labels={"env": "prod"},
                      template={"name": "debian12", "pool": "default_templates_", "volume": "d.qcow2"}), **kw))


# -- which disks ------------------------------------------------------------------------------------------
def test_writable_qcow2_disks_are_internal_read_only_and_empty_drives_are_left_out():
    chosen, refused = sx.disk_choices(domain())
    assert [(d.target, d.snapshot, d.reason) for d in chosen] == [
        ("vda", "internal", None), ("vdb", "internal", None), ("hda", "no", "empty drive"),
        ("hdc", "no", "read-only")]
    assert refused == []


def test_raw_and_shared_disks_are_refused_by_name():
    root = domain(disks=[DiskDevice("vda", "/p/root.qcow2", "qcow2"), DiskDevice("vdb", "/p/data.raw", "raw"),
                         DiskDevice("vdc", "/p/shared.qcow2", "qcow2")])
    etree.SubElement(root.findall("devices/disk")[2], "shareable")
    _, refused = sx.disk_choices(root)
    assert [(d.target, d.path, d.format) for d in refused] == [("vdb", "/p/data.raw", "raw"),
                                                              ("vdc", "/p/shared.qcow2", "qcow2")]
    assert "raw format" in refused[0].reason and "shared" in refused[1].reason


# -- documents for libvirt --------------------------------------------------------------------------------
def test_create_xml_with_and_without_memory():
    disks, _ = sx.disk_choices(domain())
    with_mem = parse(sx.create_xml("s1", "before upgrade", disks, True))
    assert with_mem.findtext("name") == "s1" and with_mem.findtext("description") == "before upgrade"
    assert with_mem.find("memory").get("snapshot") == "internal"
    assert {d.get("name"): d.get("snapshot") for d in with_mem.findall("disks/disk")} == {
        "vda": "internal", "vdb": "internal", "hda": "no", "hdc": "no"}
    without = parse(sx.create_xml("s2", "", disks, False))
    assert without.find("memory").get("snapshot") == "no" and without.find("description") is None


def test_redefine_xml_records_a_disk_only_capture_of_a_running_vm():
    disks, _ = sx.disk_choices(domain())
    live, inactive = domain(), domain()
    root = parse(sx.redefine_xml("s3", "d", "s2", 1767225600, disks, live, inactive, "running", True))
    assert root.findtext("state") == "shutoff" and root.find("memory").get("snapshot") == "no"
    assert root.findtext("parent/name") == "s2" and root.findtext("creationTime") == "1767225600"
    for tag in ("domain", "inactiveDomain"):
        cap = root.find(f"{tag}/metadata/{sx.CAPTURE}")
        assert cap.attrib == {"vm-state": "running", "quiesced": "yes"}
    assert live.find(f"metadata/{sx.CAPTURE}") is None  # the caller's documents are untouched


# -- the view and the tree --------------------------------------------------------------------------------
def libvirt_snapshot(name: str, state: str, memory: str, parent: str | None = None, created: int = 1767225600,
                     dom: etree._Element | None = None) -> str:
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "state").text = state
    if parent:
        etree.SubElement(etree.SubElement(root, "parent"), "name").text = parent
    etree.SubElement(root, "creationTime").text = str(created)
    etree.SubElement(root, "memory", snapshot=memory)
    disks = etree.SubElement(root, "disks")
    etree.SubElement(disks, "disk", name="vda", snapshot="internal")
    etree.SubElement(disks, "disk", name="hdc", snapshot="no")
    root.append(dom if dom is not None else domain())
    return to_string(root)


def test_view_of_a_memory_snapshot_and_of_a_stopped_one():
    v = sx.view(libvirt_snapshot("m", "running", "internal"), vm="web", node="local", current=True)
    assert (v.state, v.has_memory, v.revert_state, v.current) == ("running", True, "running", True)
    assert v.created_at == "2026-01-01T00:00:00Z" and v.system_disk == "vda" and v.quiesced is None
    assert v.disks == [SnapshotDiskView(target="vda", snapshot="internal", path="/p/web-root.qcow2"),
                       SnapshotDiskView(target="hdc", snapshot="no", path="/p/.jvp-cidata-web-1.iso")]
    off = sx.view(libvirt_snapshot("o", "shutoff", "no"), vm="web", node="local", current=False)
    assert (off.state, off.has_memory, off.revert_state) == ("stopped", False, "stopped")


def test_view_of_a_redefined_disk_only_snapshot_shows_the_vm_state_at_capture():
    disks, _ = sx.disk_choices(domain())
    xml = sx.redefine_xml("d", "", None, 1767225600, disks, domain(), None, "running", False)
    v = sx.view(xml, vm="web", node="local", current=False)
    # recorded running: a revert boots the VM from the reverted disks (it ends in the state recorded)
    assert (v.state, v.has_memory, v.revert_state, v.quiesced) == ("running", False, "running", False)


def test_tree_links_children_and_orders_parents_first_within_a_second():
    views = [sx.view(libvirt_snapshot(n, "shutoff", "no", p, t), vm="web", node="local", current=False)
             for n, p, t in (("c", "b", 5), ("a", None, 5), ("b", "a", 5), ("z", "a", 9))]
    ordered = sx.link_tree(views)
    assert [v.name for v in ordered] == ["a", "b", "c", "z"]
    assert {v.name: v.children for v in ordered} == {"a": ["b", "z"], "b": ["c"], "c": [], "z": []}


def test_tree_puts_a_parent_first_even_when_the_clock_went_back():
    views = [sx.view(libvirt_snapshot(n, "shutoff", "no", p, t), vm="web", node="local", current=False)
             for n, p, t in (("root", None, 5), ("kid", "root", 3), ("grandkid", "kid", 4), ("late", "root", 9),
                             ("early", None, 1))]
    assert [v.name for v in sx.link_tree(views)] == ["early", "root", "kid", "grandkid", "late"]


def test_node_wide_listing_keeps_each_vms_tree_order():
    """Parent 'b' and child 'a' of one VM taken in the same second: 'b' first (sorting by time and name
    would put 'a' first); the VMs one after the other."""
    import libvirt
    from jvp.hypervisor import snapshot as snap_hv
    conn = libvirt.open("test:///default")
    try:
        web = domain()
        other = domain()
        other.find("name").text = "aaa-other"
        other.find("uuid").text = "0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00bbbb"
        for dom, snaps in ((web, (("b", None, 7), ("a", "b", 7), ("c", "a", 7))), (other, (("x", None, 3),))):
            d = conn.defineXML(to_string(dom))
            for name, parent, created in snaps:
                d.snapshotCreateXML(libvirt_snapshot(name, "shutoff", "no", parent, created, dom=dom),
                                    libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        listed = snap_hv.node_views(conn, "local")
        assert [(v.vm, v.name, v.parent) for v in listed] == [
            ("aaa-other", "x", None), ("web", "b", None), ("web", "a", "b"), ("web", "c", "a")]
        assert [v.name for v in snap_hv.views(conn, "local", "web")] == ["b", "a", "c"]
    finally:
        for name in ("web", "aaa-other"):
            try:
                conn.lookupByName(name).undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
            except libvirt.libvirtError:
                pass
        conn.close()


def test_snapshot_domain_prefers_the_persistent_definition():
    disks, _ = sx.disk_choices(domain())
    live, inactive = domain(), domain()
    inactive.find("name").text = "persistent"
    root = parse(sx.redefine_xml("s", "", None, 1, disks, live, inactive, "running", False))
    assert sx.snapshot_domain(root).findtext("name") == "persistent"
    assert sx.snapshot_domain(root).tag == "domain"


# -- the clone's definition -------------------------------------------------------------------------------
def live_domain() -> etree._Element:
    dom = domain()
    disk = dom.find("devices/disk")
    disk.find("source").set("index", "2")
    etree.SubElement(etree.SubElement(disk, "backingStore", type="file"), "source", file="/t/base.qcow2")
    etree.SubElement(disk, "alias", name="virtio-disk0")
    nic = dom.find("devices/interface")
    etree.SubElement(nic, "target", dev="vnet3")
    etree.SubElement(nic, "alias", name="ua-keep")
    g = dom.find("devices/graphics")
    g.set("port", "5901")
    etree.SubElement(dom.find("os"), "nvram").text = "/var/nv/web_VARS.fd"
    meta = dom.find("metadata")
    etree.SubElement(meta, f"{{{RUNTIME_NS}}}runtime", {"started-at": "2026-01-01T00:00:00Z"})
    etree.SubElement(meta, sx.CAPTURE, {"vm-state": "running"})
    return dom


def test_clone_domain_gets_a_new_identity_and_new_disks():
    dom = clone_domain(live_domain(), name="web2", uuid="11111111-2222-3333-4444-555555555555",
                       disks={"vda": {"path": "/p/web2-root.qcow2", "format": "qcow2"},
                              "vdb": {"path": "/p/web2-disk1.qcow2", "format": "qcow2"}},
                       macs=["52:54:00:00:10:01", "52:54:00:00:10:02"],
                       seed={"target": "hdc", "path": "/p/.jvp-cidata-web2-9.iso"},
                       facts={"created_at": "2026-02-02T00:00:00Z", "created_by": "bob",
                              "cloud_init": {"instance-id": "i-2", "pool": "default", "volume": "s.iso"}},
                       cloned_from={"vm": "web", "snapshot": "s1", "uuid": "u"})
    assert dom.findtext("name") == "web2" and dom.findtext("uuid").startswith("11111111")
    vda = dom.find("devices/disk")
    assert vda.find("source").attrib == {"file": "/p/web2-root.qcow2"} and vda.find("backingStore") is None
    assert [n.find("mac").get("address") for n in dom.findall("devices/interface")] == [
        "52:54:00:00:10:01", "52:54:00:00:10:02"]
    assert dom.find("devices/interface/target") is None
    assert [a.get("name") for a in dom.iter("alias")] == ["ua-keep"]  # user aliases are configuration
    assert dom.find("devices/graphics").get("port") is None
    assert dom.find("os/nvram") is None
    assert dom.find(f"metadata/{{{RUNTIME_NS}}}runtime") is None and dom.find(f"metadata/{sx.CAPTURE}") is None
    hdc = [d for d in dom.findall("devices/disk") if d.find("target").get("dev") == "hdc"][0]
    assert hdc.find("source").get("file") == "/p/.jvp-cidata-web2-9.iso"
    facts = read_facts(dom)
    assert (facts.created_by, facts.instance_id, facts.seed_volume) == ("bob", "i-2", "s.iso")
    assert facts.template["name"] == "debian12" and facts.labels == {"env": "prod"}  # kept from the source
    assert cloned_from(dom) == {"vm": "web", "snapshot": "s1", "uuid": "u"}


def test_clone_domain_needs_one_mac_per_nic_and_known_disks():
    with pytest.raises(EditError):
        clone_domain(domain(), name="x", uuid="u", disks={}, macs=["52:54:00:00:10:01"], seed=None, facts={},
                     cloned_from={})
    with pytest.raises(EditError):
        clone_domain(domain(), name="x", uuid="u", disks={"vdz": {"path": "/p", "format": "qcow2"}},
                     macs=["52:54:00:00:10:01", "52:54:00:00:10:02"], seed=None, facts={}, cloned_from={})
