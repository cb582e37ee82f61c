"""The domain XML builder, the in-place editors and the VM view, on plain lxml documents."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from jvp.domain.vm import DiskDevice, DomainSpec, NicDevice, NicView, VmFacts
from jvp.hypervisor import domain_edit as edit
from jvp.hypervisor import domain_view
from jvp.hypervisor.host_caps import cpu_mode_supported, cpu_mode_usable, efi_supported
from jvp.hypervisor.domain_devices import _unqualified
from jvp.hypervisor.domain_xml import (NS, RUNTIME_NS, build_domain, build_domain_xml, ensure_facts, read_facts,
                                       runtime_element, update_facts)
from jvp.hypervisor.xml import parse

Q = f"{{{NS}}}"


def spec(**kw) -> DomainSpec:
    base = dict(name="web", uuid="0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00aaaa", vcpus=2, memory_mib=1024,
                domain_type="qemu", arch="x86_64", cpu_mode=None,
                disks=[DiskDevice("vda", "/p/web-root.qcow2", "qcow2"),
                       DiskDevice("hda", "/p/.jvp-cidata-web.iso", "iso", bus="ide", device="cdrom")],
                nics=[NicDevice("network", "default", "52:54:00:00:00:01"),
                      NicDevice("bridge", "br0", "52:54:00:00:00:02", "e1000"),
                      NicDevice("direct", "eno1", "52:54:00:00:00:03")],
                facts=VmFacts(created_at="2026-01-01T00:00:00Z", created_by="ops", description="front",
                              keypairs=["ops"], labels={"env": "prod"}, system_disk="vda", instance_id="i-1",
                              seed_pool="default", seed_volume=".jvp-cidata-web.iso",
                              template={"name": "debian12", "pool": "default_templates_", "volume": "d.qcow2"}))
    base.update(kw)
    return DomainSpec(**base)


def test_new_domain_has_the_devices_every_vm_gets():
    root = parse(build_domain_xml(spec()))
    assert root.get("type") == "qemu" and root.findtext("name") == "web"
    assert root.find("memory").text == str(1024 * 1024) and root.find("memory").get("unit") == "KiB"
    assert root.findtext("vcpu") == "2" and root.find("cpu") is None  # no <cpu>: libvirt's default model
    vnc = root.find("devices/graphics")
    assert vnc.get("type") == "vnc" and vnc.get("autoport") == "yes" and vnc.get("listen") == "127.0.0.1"
    assert [lst.get("address") for lst in vnc.findall("listen")] == ["127.0.0.1"]
    assert root.find("devices/channel/target").attrib == {"type": "virtio", "name": "org.qemu.guest_agent.0"}
    assert root.find("devices/serial").get("type") == "pty"
    assert root.find("devices/console/target").get("type") == "serial"
    assert root.find("devices/video/model").get("type") == "virtio"
    assert root.find("devices/input").attrib == {"type": "tablet", "bus": "usb"}
    assert root.find("devices/rng/backend").text == "/dev/urandom"
    assert root.find("devices/memballoon").get("model") == "virtio"
    assert [b.get("dev") for b in root.findall("os/boot")] == ["hd", "cdrom"]
    assert root.find("os").get("firmware") is None


def test_disks_and_nics():
    root = build_domain(spec())
    disk, cdrom = root.findall("devices/disk")
    assert disk.find("source").get("file") == "/p/web-root.qcow2" and disk.find("driver").get("type") == "qcow2"
    assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}
    # libvirt reports an ISO volume's format as `iso`: QEMU reads it as raw
    assert cdrom.get("device") == "cdrom" and cdrom.find("driver").get("type") == "raw"
    assert cdrom.find("readonly") is not None and cdrom.find("target").get("bus") == "ide"
    net, br, direct = root.findall("devices/interface")
    assert net.get("type") == "network" and net.find("source").get("network") == "default"
    assert br.find("source").get("bridge") == "br0" and br.find("model").get("type") == "e1000"
    assert direct.find("source").attrib == {"dev": "eno1", "mode": "bridge"}
    assert direct.find("mac").get("address") == "52:54:00:00:00:03"


def test_uefi_and_cpu_mode():
    root = build_domain(spec(firmware="uefi", cpu_mode="host-model", domain_type="kvm"))
    assert root.find("os").get("firmware") == "efi"
    assert root.find("cpu").get("mode") == "host-model"


def test_metadata_lives_under_jvps_namespace():
    root = parse(build_domain_xml(spec()))
    vm = root.find(f"metadata/{Q}vm")
    assert vm is not None and vm.nsmap["jvp"] == NS
    assert vm.findtext(f"{Q}created-by") == "ops" and vm.findtext(f"{Q}description") == "front"
    assert vm.find(f"{Q}cloud-init").attrib == {"instance-id": "i-1", "pool": "default",
                                                 "volume": ".jvp-cidata-web.iso"}
    facts = read_facts(root)
    assert facts.keypairs == ["ops"] and facts.labels == {"env": "prod"} and facts.system_disk == "vda"
    assert facts.template == {"name": "debian12", "pool": "default_templates_", "volume": "d.qcow2"}
    assert (facts.instance_id, facts.seed_volume) == ("i-1", ".jvp-cidata-web.iso")


FOREIGN = """<domain type='kvm'>
  <name>old</name><uuid>0b6ee2a4-4e39-4c6a-8d5b-6b3a1a00bbbb</uuid>
  <description>libvirt's own</description>
  <metadata>
    <other:thing xmlns:other="http://example.com/other"><other:keep>1</other:keep></other:thing>
    <jvp:vm xmlns:jvp="urn:jvp:vm:1"><jvp:future-field x="1"/><jvp:description>old</jvp:description></jvp:vm>
  </metadata>
  <memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <vcpus><vcpu id='0' enabled='yes'/><vcpu id='1' enabled='yes'/><vcpu id='2' enabled='no'/>
    <vcpu id='3' enabled='no'/></vcpus>
  <cputune><shares>2048</shares></cputune>
  <os><type arch='x86_64'>hvm</type></os>
  <cpu mode='custom'><model>Skylake</model><topology sockets='2' dies='1' cores='2' threads='1'/></cpu>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
      <source file='/p/old.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:AA:00:01'/><source network='default'/>
      <model type='virtio'/><bandwidth><inbound average='1000'/></bandwidth></interface>
    <hostdev mode='subsystem' type='pci'><source><address bus='0x03'/></source></hostdev>
  </devices>
</domain>"""


def test_edits_change_only_what_they_are_about():
    root = parse(FOREIGN)
    edit.set_vcpus(root, 6)
    edit.set_memory(root, 4096)
    edit.add_disk(root, DiskDevice("vdb", "/p/data.raw", "raw"))
    edit.add_nic(root, NicDevice("bridge", "br0", "52:54:00:aa:00:02"))
    edit.set_media(root, "hdc", "/p/install.iso", "iso")
    assert root.find("vcpu").text == "6" and root.find("vcpu").get("current") is None
    assert root.find("vcpus") is None  # the per-vCPU list described the old maximum
    assert root.find("cpu/topology").attrib["sockets"] == "3"
    assert root.find("memory").text == root.find("currentMemory").text == str(4096 * 1024)
    # everything JVP does not model is still there
    assert root.findtext("cputune/shares") == "2048" and root.findtext("cpu/model") == "Skylake"
    assert root.find("devices/hostdev") is not None
    assert root.find("devices/interface/bandwidth/inbound").get("average") == "1000"
    assert root.find("devices/disk/driver").get("cache") == "none"
    assert root.find("metadata/{http://example.com/other}thing") is not None
    assert [d.find("target").get("dev") for d in root.findall("devices/disk")] == ["vda", "hdc", "vdb"]
    cd = edit.find_disk(root, "hdc")
    assert cd.find("source").get("file") == "/p/install.iso" and cd.find("driver").get("type") == "raw"
    edit.set_media(root, "hdc", None)
    assert cd.find("source") is None and cd.find("readonly") is not None
    edit.remove_disk(root, "vdb")
    edit.remove_nic(root, "52:54:00:AA:00:01")
    assert edit.find_disk(root, "vdb") is None and len(edit.nics(root)) == 1


def test_metadata_edit_keeps_unknown_children_and_other_namespaces():
    root = parse(FOREIGN)
    el = update_facts(ensure_facts(root), description="new", labels={"tier": "db"})
    assert el.find(f"{Q}future-field").get("x") == "1"
    assert el.findtext(f"{Q}description") == "new"
    assert read_facts(root).labels == {"tier": "db"}
    payload = parse(_unqualified(el))
    assert payload.tag == "vm" and payload.find("future-field") is not None  # what virDomainSetMetadata takes
    assert root.find("metadata/{http://example.com/other}thing/{http://example.com/other}keep").text == "1"
    update_facts(el, labels={}, description="")
    assert el.find(f"{Q}labels") is None and el.find(f"{Q}description") is None


def test_metadata_is_created_in_a_domain_without_any():
    root = parse("<domain type='qemu'><name>x</name><uuid>u</uuid><memory>1</memory></domain>")
    update_facts(ensure_facts(root), created_by="me")
    assert [c.tag for c in root][:3] == ["name", "uuid", "metadata"]
    assert read_facts(root).created_by == "me"


def test_edit_errors():
    root = parse(FOREIGN)
    with pytest.raises(edit.EditError):
        edit.add_disk(root, DiskDevice("vda", "/p/x", "raw"))
    with pytest.raises(edit.EditError):
        edit.add_nic(root, NicDevice("network", "default", "52:54:00:aa:00:01"))
    with pytest.raises(edit.EditError):
        edit.set_media(root, "vda", "/p/x.iso")  # a disk, not a cdrom
    with pytest.raises(edit.EditError):
        edit.remove_disk(root, "vdz")
    numa = parse(FOREIGN.replace("<topology", "<numa><cell id='0' cpus='0-3' memory='2097152'/></numa><topology"))
    with pytest.raises(edit.EditError, match="NUMA"):
        edit.set_memory(numa, 1024)


def test_next_target():
    assert edit.next_target({"vda", "vdb"}, "virtio") == "vdc"
    assert edit.next_target({f"vd{c}" for c in "abcdefghijklmnopqrstuvwxyz"}, "virtio") == "vdaa"
    assert edit.next_target({"hda", "hdc"}, "ide") == "hdb"
    with pytest.raises(edit.EditError):
        edit.next_target({"hda", "hdb", "hdc", "hdd"}, "ide")
    assert edit.next_target(set(), "scsi") == "sda"


def test_view_of_a_foreign_domain():
    root = parse(FOREIGN)
    vm = domain_view.describe(root, node="n1", state="running", persistent=True, autostart=True,
                              volumes={"/p/old.qcow2": {"pool": "default", "volume": "old.qcow2",
                                                        "capacity_bytes": 10}},
                              ips={"52:54:00:aa:00:01": ["198.18.10.5"]}, agent=None)
    assert vm.name == "old" and vm.node == "n1" and vm.memory_mib == 1024
    # current and maximum, each with one meaning (issue 13): <vcpu current='2'>4</vcpu>, <currentMemory> 1 GiB
    # of <memory> 2 GiB
    assert (vm.vcpus, vm.max_vcpus, vm.memory_mib, vm.max_memory_mib) == (2, 4, 1024, 2048)
    assert vm.description == "old" and vm.cpu_mode == "custom" and vm.firmware == "bios"
    sys_disk, cdrom = vm.disks
    assert sys_disk.system is True and sys_disk.volume == "old.qcow2" and sys_disk.capacity_bytes == 10
    assert cdrom.device == "cdrom" and cdrom.path is None and cdrom.system is False
    assert vm.nics == [NicView(mac="52:54:00:aa:00:01", type="network", network="default", bridge=None,
                               device=None, model="virtio", ips=["198.18.10.5"])]
    assert vm.ips == ["198.18.10.5"] and vm.uptime is None and vm.cloud_init is None


def test_uptime_counts_from_jvps_start():
    root = parse(build_domain_xml(spec()))
    runtime = etree.SubElement(root.find("metadata"), f"{{{RUNTIME_NS}}}runtime",
                               {"started-at": "2026-01-01T00:00:00Z"})
    assert runtime is not None and parse(runtime_element("x")).tag == "runtime"
    now = dt.datetime(2026, 1, 1, 0, 2, 5, tzinfo=dt.timezone.utc)
    vm = domain_view.describe(root, node="n", state="running", persistent=True, autostart=False, volumes={},
                              ips={}, agent=True, now=now)
    assert vm.uptime == 125 and vm.started_at == "2026-01-01T00:00:00Z"
    stopped = domain_view.describe(root, node="n", state="stopped", persistent=True, autostart=False,
                                   volumes={}, ips={}, agent=None, now=now)
    assert stopped.uptime is None


DOMCAPS = """<domainCapabilities><os supported='yes'><enum name='firmware'><value>efi</value></enum></os><cpu>
  <mode name='host-passthrough' supported='no'/>
  <mode name='maximum' supported='yes'/>
  <mode name='host-model' supported='yes'><model fallback='forbid'>EPYC-IBPB</model></mode>
  <mode name='custom' supported='yes'><model usable='no'>EPYC-IBPB</model><model usable='yes'>qemu64</model></mode>
</cpu></domainCapabilities>"""


def test_cpu_mode_and_firmware_from_domain_capabilities():
    caps = parse(DOMCAPS)
    assert cpu_mode_usable(caps, "host-model") is False  # supported, but its model is not usable here
    assert cpu_mode_usable(parse(DOMCAPS.replace("usable='no'>EPYC", "usable='yes'>EPYC")), "host-model")
    assert cpu_mode_usable(caps, "maximum") and not cpu_mode_usable(caps, "host-passthrough")
    assert cpu_mode_supported(caps, "host-model") and not cpu_mode_supported(caps, "host-passthrough")
    assert cpu_mode_usable(None, "host-model") is False and cpu_mode_supported(None, "maximum") is True
    assert efi_supported(caps) is True and efi_supported(None) is None
    assert efi_supported(parse("<domainCapabilities><os supported='yes'/></domainCapabilities>")) is False


def test_describe_parts_are_kept_only_for_the_same_document():
    from jvp.hypervisor.domain_describe import _DescribeParts

    class Conn:  # any weakly referenceable object stands for a connection
        pass

    parts, conn, other = _DescribeParts(), Conn(), Conn()
    parts.put(conn, "vm1", "<domain>a</domain>", "looked", "part")
    assert parts.get(conn, "vm1", "<domain>a</domain>") == ("looked", "part")
    assert parts.get(conn, "vm1", "<domain>b</domain>") is None      # the domain changed: read afresh
    assert parts.get(other, "vm1", "<domain>a</domain>") is None     # per connection
    parts.MAX = 2
    parts.put(conn, "vm2", "x", 1, 1)
    parts.put(conn, "vm3", "y", 2, 2)
    assert parts.get(conn, "vm1", "<domain>a</domain>") is None      # the oldest went first
    assert parts.get(conn, "vm3", "y") == (2, 2)
