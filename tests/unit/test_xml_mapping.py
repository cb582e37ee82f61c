"""The XML mapping core (jvp/hypervisor/xml/base.py): a field declared once reads, writes and removes, and
everything the mapping does not name is left as it was."""
from __future__ import annotations

from jvp.hypervisor.xml import parse, to_string
from jvp.hypervisor.xml.base import INT, PRESENT, YESNO, Size, XmlChild, XmlChildren, XmlNode, XmlProperty
from jvp.hypervisor.xml.domain import NS, Disk, Domain

DOC = """<domain type='kvm'>
  <name>web</name>
  <memory unit='GiB'>2</memory>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/p/web.qcow2' startupPolicy='optional'/>
      <target dev='vda' bus='virtio'/>
      <iotune><total_bytes_sec>1000</total_bytes_sec></iotune>
    </disk>
    <hostdev mode='subsystem' type='pci'/>
  </devices>
  <seclabel type='dynamic'/>
</domain>"""


class Item(XmlNode):
    TAG = "item"
    name = XmlProperty("./@name")


class Thing(XmlNode):
    TAG = "thing"
    NSMAP = {"x": "urn:x"}
    ORDER = ("a", "b", "c")
    a = XmlProperty("./a/@v")
    b_text = XmlProperty("./b")
    c_deep = XmlProperty("./c/d/@e", INT)
    flag = XmlProperty("./flag", PRESENT)
    on = XmlProperty("./@on", YESNO)
    size_mib = XmlProperty("./size", Size(2**20))
    tagged = XmlProperty("./x:meta/@k")
    items = XmlChildren(Item, "./list/item")
    c = XmlChild(XmlNode, "./c")


def test_reading_typed_values_and_defaults():
    dom = Domain(parse(DOC))
    assert dom.name == "web" and dom.type == "kvm" and dom.memory_mib == 2048 and dom.vcpus == 1  # default
    disk = dom.disks[0]
    assert (disk.target, disk.bus, disk.format, disk.path, disk.readonly) == ("vda", "virtio", "qcow2",
                                                                               "/p/web.qcow2", False)
    assert dom.os.firmware is None and not dom.os.exists() and dom.facts.created_at is None


def test_writing_creates_parents_in_order_and_none_removes_and_prunes():
    t = Thing.new(on=True)
    t.c_deep = 7
    t.a = "1"
    t.b_text = "hello"
    assert [c.tag for c in t.el] == ["a", "b", "c"] and t.c_deep == 7 and t.on is True
    assert t.el.get("on") == "yes"
    t.c_deep = None  # <d> and then <c> were left empty: both go
    assert t.el.find("c") is None and not t.c.exists()
    t.b_text = None
    assert t.el.find("b") is None
    t.flag = True
    assert t.el.find("flag") is not None and t.flag
    t.flag = False
    assert t.el.find("flag") is None
    t.size_mib = 3
    assert t.el.find("size").attrib == {"unit": "KiB"} and t.el.find("size").text == str(3 * 1024)
    t.tagged = "v"
    assert t.el.find("{urn:x}meta").get("k") == "v" and "xmlns:x" in to_string(t.el)


def test_children_add_after_their_kind_and_drop():
    t = Thing.new()
    first = t.items.add(Item.new(name="one"))
    t.items.add(Item.new(name="two"))
    assert [i.name for i in t.items] == ["one", "two"]
    items = t.items
    items.drop(first)
    assert [i.name for i in t.items] == ["two"] and len(items) == 1


def test_a_lazy_child_is_made_only_when_written():
    dom = Domain(parse("<domain><name>x</name><devices/></domain>"))
    assert not dom.cpu.exists() and dom.el.find("cpu") is None  # reading made nothing
    dom.cpu.mode = "host-model"
    assert [c.tag for c in dom.el] == ["name", "cpu", "devices"]  # libvirt's order (Domain.ORDER)
    facts = dom.ensure_facts()
    facts.created_by = "ops"
    assert dom.el.find(f"metadata/{{{NS}}}vm/{{{NS}}}created-by").text == "ops"
    assert to_string(dom.el).count("xmlns:jvp") == 1


def test_what_the_mapping_does_not_name_is_left_alone():
    root = parse(DOC)
    dom = Domain(root)
    disk = dom.disks[0]
    disk.format = "raw"
    disk.source.file = "/p/other.raw"
    disk.readonly = True
    dom.memory_mib = 4096
    assert root.find("devices/disk/driver").attrib == {"name": "qemu", "type": "raw", "cache": "none"}
    assert root.find("devices/disk/source").get("startupPolicy") == "optional"
    assert root.find("devices/disk/iotune/total_bytes_sec").text == "1000"
    assert root.find("devices/hostdev") is not None and root.find("seclabel") is not None
    assert root.find("memory").attrib == {"unit": "KiB"} and dom.memory_mib == 4096
    assert [c.tag for c in root.find("devices/disk")] == ["driver", "source", "target", "iotune", "readonly"]


def test_a_device_built_from_the_mapping():
    disk = Disk.new(type="file", device="cdrom", driver_name="qemu", format="raw", target="hdc", bus="ide",
                    readonly=True)
    disk.source.file = "/p/seed.iso"  # placed before <target> by Disk.ORDER
    assert [c.tag for c in disk.el] == ["driver", "source", "target", "readonly"]
    assert disk.el.attrib == {"type": "file", "device": "cdrom"}


def test_plain_paths_are_found_as_elementpath_finds_them():
    """first()/every() (the mapping's lookups, without ElementPath's per-call cost) answer what find()/findall()
    answer, also when the first candidate of a step lacks the next one and a later sibling has it."""
    from jvp.hypervisor.xml.base import every, first
    root = parse("<r><a><c>1</c></a><a><b><c>2</c></b></a><a><b><c>3</c><c>4</c></b></a><x:n xmlns:x='urn:x'/>"
                 "<!-- a comment --><b/></r>")
    for path in ("a", "a/b", "a/b/c", "b", "z", "a/z", "a/b/z", "{urn:x}n", "b/c"):
        tags = path.split("/")
        assert first(root, tags, path) is root.find(path), path
        assert every(root, tags) == root.findall(path), path
    assert first(root, ["a", "b", "c"], "a/b/c").text == "2"  # under the second <a>: the first has no <b>
