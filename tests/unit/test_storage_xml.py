"""Storage XML: the pool definition of every type, volume definitions, and reading libvirt's XML back."""
from __future__ import annotations

import libvirt
import pytest
from lxml import etree

from jvp.domain.volume import BackingView, VolumeView
from jvp.hypervisor import storage_pool as pool_hv
from jvp.hypervisor.storage_xml import build_pool_xml, build_volume_xml, domain_disks, read_volume
from jvp.service.storage.rules import pool_spec


def xml_of(name, ptype, path=None, source=None, build=None):
    return etree.fromstring(build_pool_xml(pool_spec(name, ptype, path, source, build)).encode())


def attrs(root, xpath, attr):
    return [el.get(attr) for el in root.xpath(xpath)]


def test_dir_pool():
    root = xml_of("p", "dir", "/srv/vms//p/")
    assert root.get("type") == "dir" and root.findtext("name") == "p"
    assert root.findtext("target/path") == "/srv/vms/p"
    assert root.find("source") is None


def test_fs_pool():
    root = xml_of("p", "fs", "/srv/fs1", {"device": "/dev/sdb1", "format": "ext4"})
    assert attrs(root, "source/device", "path") == ["/dev/sdb1"]
    assert attrs(root, "source/format", "type") == ["ext4"]
    assert root.findtext("target/path") == "/srv/fs1"


def test_netfs_pool():
    root = xml_of("p", "netfs", "/srv/nfs", {"host": "nfs.example.org", "dir": "/export//vms/", "format": "nfs"})
    assert attrs(root, "source/host", "name") == ["nfs.example.org"]
    assert attrs(root, "source/dir", "path") == ["/export/vms"]
    assert attrs(root, "source/format", "type") == ["nfs"]


def test_netfs_cifs_share_name():
    root = xml_of("p", "netfs", "/srv/cifs", {"host": "10.0.0.5", "dir": "vmshare", "format": "cifs"})
    assert attrs(root, "source/dir", "path") == ["vmshare"]


def test_logical_pool_defaults_to_the_pool_name_as_vg():
    root = xml_of("vg0", "logical", None, {"devices": ["/dev/sdc", "/dev/sdd"]})
    assert attrs(root, "source/device", "path") == ["/dev/sdc", "/dev/sdd"]
    assert root.findtext("source/name") == "vg0"
    assert attrs(root, "source/format", "type") == ["lvm2"]
    assert root.findtext("target/path") == "/dev/vg0"
    named = xml_of("p", "logical", "/dev/data", {"name": "data"})
    assert named.findtext("source/name") == "data" and named.findtext("target/path") == "/dev/data"


def test_disk_pool():
    root = xml_of("p", "disk", None, {"device": "/dev/sde", "format": "gpt"})
    assert attrs(root, "source/device", "path") == ["/dev/sde"]
    assert attrs(root, "source/format", "type") == ["gpt"]
    assert root.findtext("target/path") == "/dev"


def test_iscsi_pool_with_chap():
    root = xml_of("p", "iscsi", None, {
        "host": "san.example", "port": 3260, "iqn": "iqn.2013-06.com.example:storage.lun1",
        "initiator_iqn": "iqn.2024-01.org.jvp:node1",
        "auth": {"username": "jvp", "secret_usage": "libvirtiscsi"}})
    host = root.find("source/host")
    assert (host.get("name"), host.get("port")) == ("san.example", "3260")
    assert attrs(root, "source/device", "path") == ["iqn.2013-06.com.example:storage.lun1"]
    assert attrs(root, "source/initiator/iqn", "name") == ["iqn.2024-01.org.jvp:node1"]
    auth = root.find("source/auth")
    assert (auth.get("type"), auth.get("username")) == ("chap", "jvp")
    assert auth.find("secret").get("usage") == "libvirtiscsi" and auth.find("secret").get("uuid") is None
    assert root.findtext("target/path") == "/dev/disk/by-path"


def test_rbd_pool_has_monitors_and_no_target():
    root = xml_of("p", "rbd", None, {
        "hosts": ["mon1.example", "mon2.example:6789", "[2001:db8::1]:3300"], "name": "rbd",
        "auth": {"username": "libvirt", "secret_uuid": "2a5b08e4-3dbc-4a6d-9ea3-6c1c0e0f1b5e"}})
    assert [(h.get("name"), h.get("port")) for h in root.findall("source/host")] == [
        ("mon1.example", None), ("mon2.example", "6789"), ("2001:db8::1", "3300")]
    assert root.findtext("source/name") == "rbd"
    assert root.find("source/auth").get("type") == "ceph"
    assert root.find("target") is None


@pytest.mark.parametrize("ptype,path,source", [
    ("dir", "/srv/x", None),
    ("fs", "/srv/fs", {"device": "/dev/sdb1", "format": "xfs"}),
    ("netfs", "/srv/nfs", {"host": "nfs", "dir": "/export"}),
    ("logical", None, {"devices": ["/dev/sdc"]}),
    ("disk", None, {"device": "/dev/sdd", "format": "dos"}),
    ("iscsi", None, {"host": "san", "iqn": "iqn.2013-06.com.example:t1"}),
    ("rbd", None, {"hosts": ["mon1"], "name": "rbd"}),
])
def test_libvirt_itself_accepts_every_pool_type_and_reads_it_back(ptype, path, source):
    """libvirt's own parser (the test driver) takes each definition; reading it back gives the same facts."""
    xml = build_pool_xml(pool_spec("jvpx", ptype, path, source, None))
    conn = libvirt.open("test:///default")
    try:
        pool = conn.storagePoolDefineXML(xml, 0)
        back = pool_hv.view(pool)
        assert back.type == ptype and back.name == "jvpx" and not back.active and back.capacity_bytes is None
        if path:
            assert back.path == path
        if source and "device" in source:
            assert back.source.device == source["device"]
        if ptype == "rbd":
            assert back.source.hosts == ["mon1"] and back.source.name == "rbd"
        pool.undefine()
    finally:
        conn.close()


def test_volume_xml():
    root = etree.fromstring(build_volume_xml("d1", 10 * 1024**3, "qcow2").encode())
    assert root.findtext("name") == "d1"
    assert root.find("capacity").get("unit") == "bytes" and root.findtext("capacity") == str(10 * 1024**3)
    assert root.findtext("allocation") == "0"
    assert root.find("target/format").get("type") == "qcow2"
    assert root.findtext("target/compat") == "1.1"  # qcow2 v3, not libvirt's default v2 (0.10)
    assert root.find("backingStore") is None
    assert etree.fromstring(build_volume_xml("r", 1, "raw").encode()).find("target/compat") is None


def test_overlay_and_block_volume_xml():
    overlay = etree.fromstring(build_volume_xml("o", 1024, "qcow2", backing={
        "path": "/p/base.qcow2", "format": "qcow2"}).encode())
    assert overlay.findtext("backingStore/path") == "/p/base.qcow2"
    assert overlay.find("backingStore/format").get("type") == "qcow2"
    block = etree.fromstring(build_volume_xml("lv", 4096, None, sparse=False).encode())
    assert block.find("target") is None and block.findtext("allocation") == "4096"


def test_names_are_escaped_not_formatted():
    root = etree.fromstring(build_volume_xml("a&b<c>", 1, "raw").encode())
    assert root.findtext("name") == "a&b<c>"


def test_read_volume():
    vol = read_volume("""<volume type='file'><name>v</name><key>/p/v</key>
      <capacity unit='bytes'>100</capacity><allocation unit='bytes'>10</allocation>
      <physical unit='bytes'>20</physical>
      <target><path>/p/v</path><format type='qcow2'/></target>
      <backingStore><path>/p/base</path><format type='raw'/></backingStore></volume>""", "p")
    assert vol == VolumeView(name="v", pool="p", key="/p/v", type="file", path="/p/v", format="qcow2",
                             capacity_bytes=100, allocation_bytes=10, physical_bytes=20,
                             backing=BackingView("/p/base", "raw"))


def test_domain_disks_with_files_volumes_and_chains():
    disks = domain_disks("""<domain><name>vm</name><devices>
      <disk type='file' device='disk'><source file='/p/top.qcow2'/>
        <backingStore type='file'><source file='/p/mid.qcow2'/>
          <backingStore type='file'><source file='/t/base.qcow2'/><backingStore/></backingStore>
        </backingStore><target dev='vda'/></disk>
      <disk type='volume' device='disk'><source pool='data' volume='d2'/><target dev='vdb'/></disk>
      <disk type='block' device='disk'><source dev='/dev/vg/lv'/><target dev='vdc'/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
    </devices></domain>""")
    assert [(d.target, d.path, d.pool, d.volume) for d in disks] == [
        ("vda", "/p/top.qcow2", None, None), ("vdb", None, "data", "d2"), ("vdc", "/dev/vg/lv", None, None),
        ("sda", None, None, None)]
    assert disks[0].backing_paths == ("/p/mid.qcow2", "/t/base.qcow2")
