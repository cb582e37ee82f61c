"""The reference index's plain-lxml readers (storage_xml.disks_of, domain_refs.refs_of's NICs) give what the
mapping classes (xml.domain.Domain, Disk, DiskSource, Interface) give, on the demo inventory and on
definitions with every kind of disk source, backing chains, boot files and odd NICs."""
from __future__ import annotations

from lxml import etree

from jvp.demo import INVENTORY
from jvp.domain.volume import BOOT_FILES, VmDisk
from jvp.hypervisor.domain_refs import refs_of
from jvp.hypervisor.storage_xml import disks_of
from jvp.hypervisor.xml import parse, parse_to_read
from jvp.hypervisor.xml.domain import DiskSource, Domain


def _source_path(source):
    if source is None or not source.exists():
        return None
    return source.file or source.dev or source.dir or (source.name if source.protocol else None)


def disks_by_mapping(root, live=False):
    """disks_of as it read the definition through the mapping classes."""
    out = []
    dom = Domain(root)
    for disk in dom.disks:
        found = disk.source.el
        source = DiskSource(found) if found is not None else None
        chain = [p for p in (_source_path(DiskSource(bs.find("source"))) for bs in disk.el.iter("backingStore"))
                 if p]
        out.append(VmDisk(target=disk.target, device=disk.device, path=_source_path(source),
                          pool=source.pool if source else None, volume=source.volume if source else None,
                          backing_paths=tuple(chain), live=live))
    os_ = dom.os
    if os_.exists():
        named = {child.tag for child in os_.el}
        for role in BOOT_FILES:
            if role in named:
                path = (getattr(os_, "nvram_file" if role == "nvram" else role) or "").strip()
                if path.startswith("/"):
                    out.append(VmDisk(target=None, device=role, path=path, pool=None, volume=None, live=live))
    return out


def nics_by_mapping(docs):
    networks, bridges, macs = set(), set(), []
    for root in docs:
        for nic in Domain(root).interfaces:
            if nic.type == "network":
                networks.add(nic.source_network)
            elif nic.type == "bridge":
                bridges.add(nic.source_bridge)
            if nic.mac:
                macs.append(nic.mac)
    networks.discard(None)
    bridges.discard(None)
    return frozenset(networks), frozenset(bridges), tuple(macs)


ODD = """<domain type='kvm'><name>odd</name><uuid>00000000-0000-0000-0000-0000000000aa</uuid>
  <os><type>hvm</type><loader readonly='yes'> /usr/share/OVMF/OVMF_CODE.fd </loader>
    <nvram template='/t.fd'>/var/lib/libvirt/qemu/nvram/odd_VARS.fd</nvram><kernel>relative/vmlinuz</kernel>
    <initrd>/boot/initrd.img</initrd></os>
  <devices>
    <disk type='file'><source file='/img/a.qcow2'/><backingStore type='file'><source file='/img/base.qcow2'/>
      <backingStore type='file'><source file='/img/base0.raw'/><backingStore/></backingStore></backingStore>
      <target dev='vda' bus='virtio'/></disk>
    <disk type='block' device='lun'><source dev='/dev/sdb'/><target dev='sda'/></disk>
    <disk type='volume' device='disk'><source pool='p1' volume='v1'/><target dev='vdb'/></disk>
    <disk type='network' device='disk'><source protocol='rbd' name='rbdpool/img'><host name='mon'/></source>
      <target dev='vdc'/></disk>
    <disk type='network' device='disk'><source name='no-protocol'/><target dev='vdd'/></disk>
    <disk type='dir' device='floppy'><source dir='/srv/floppy'/></disk>
    <disk type='file' device='cdrom'><target dev='hdc'/><readonly/></disk>
    <disk type='file' device=''><source file=''/><target/></disk>
    <!-- a comment among the devices -->
    <interface type='network'><mac address='52:54:00:AA:BB:CC'/><source network='lan'/></interface>
    <interface type='network'><mac address=''/></interface>
    <interface type='bridge'><source bridge='br0'/><source bridge='br1'/></interface>
    <interface type='direct'><mac address='52:54:00:00:00:01'/><source dev='eth0' mode='bridge'/></interface>
    <interface><source network='untyped'/></interface>
  </devices>
  <devices><disk type='file'><source file='/img/second-devices.raw'/><target dev='vdz'/></disk>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br9'/></interface></devices>
</domain>"""


def demo_roots():
    node = etree.parse(str(INVENTORY)).getroot()
    return [etree.fromstring(etree.tostring(d)) for d in node.iter("domain")]


def test_disks_of_reads_what_the_mapping_classes_read():
    roots = [*demo_roots(), parse(ODD), parse_to_read(ODD)]
    assert any(disks_of(r) for r in roots)
    for root in roots:
        for live in (False, True):
            assert disks_of(root, live) == disks_by_mapping(root, live)
    odd = disks_of(parse(ODD))
    assert [d.path for d in odd if d.device in BOOT_FILES] == ["/boot/initrd.img", "/usr/share/OVMF/OVMF_CODE.fd",
                                                               "/var/lib/libvirt/qemu/nvram/odd_VARS.fd"]


def test_refs_of_reads_the_nics_the_mapping_classes_read():
    roots = [*demo_roots(), parse_to_read(ODD)]
    for root in roots:
        refs = refs_of([root], running=False)
        assert (refs.networks, refs.bridges, refs.macs) == nics_by_mapping([root])
    both = refs_of([parse_to_read(ODD), roots[0]], running=True)
    assert (both.networks, both.bridges, both.macs) == nics_by_mapping([parse_to_read(ODD), roots[0]])
    assert both.macs[0] == "52:54:00:aa:bb:cc"  # lower-cased, as Interface.mac


def static_facts_by_mapping(root):
    """domain_summary.static_facts as it read the definition through the mapping classes."""
    dom = Domain(root)
    f = dom.facts
    if f.exists():
        template = f.template
        labels, created_at = f.labels, f.created_at or None
        description = f.description or (dom.description or "").strip()
    else:
        template, labels, created_at, description = None, {}, None, (dom.description or "").strip()
    vcpus, current_vcpus = dom.vcpus, dom.vcpu_current
    memory_mib = dom.memory_mib
    macs_, networks, nics = [], set(), []
    for n in dom.interfaces:
        mac = n.mac
        if mac:
            macs_.append(mac)
        if n.type == "network":
            net = n.source_network
            if net:
                networks.add(net)
                nics.append((mac or "", net))
    return {
        "name": dom.name, "uuid": dom.uuid,
        "vcpus": int(current_vcpus) if current_vcpus and str(current_vcpus).isdigit() else vcpus,
        "max_vcpus": vcpus, "memory_mib": dom.current_memory_mib or memory_mib, "max_memory_mib": memory_mib,
        "template": template.get("name") if template else None, "labels": labels,
        "description": description or None, "created_at": created_at, "macs": macs_,
        "networks": sorted(networks), "nics": nics,
    }


SIZES = [
    "<domain><name>a</name><uuid>u</uuid><memory unit='GiB'>2</memory><currentMemory>524288</currentMemory>"
    "<vcpu current='2'>4</vcpu><description> text </description></domain>",
    "<domain><name/><vcpu>0x8</vcpu><memory unit='bytes'>1073741824</memory><memory>1</memory></domain>",
    "<domain><vcpu current='x'> </vcpu><memory unit='MB'>1000</memory><currentMemory unit='KiB'/></domain>",
    "<domain><vcpu>bad</vcpu><name>b</name><name>second</name><description/></domain>",
    "<domain><!-- only a comment --></domain>",
]


def test_static_facts_reads_what_the_mapping_classes_read():
    from jvp.hypervisor.domain_summary import static_facts
    with_facts = parse(SIZES[0])
    facts = Domain(with_facts).ensure_facts()
    facts.labels, facts.template, facts.created_at = {"env": "prod"}, {"name": "debian-12"}, "2026-01-01T00:00:00Z"
    roots = [*demo_roots(), parse(ODD), parse_to_read(ODD), *(parse(x) for x in SIZES), with_facts,
             parse_to_read(etree.tostring(with_facts))]
    for root in roots:
        assert static_facts(root) == static_facts_by_mapping(root)
    assert static_facts(parse(SIZES[0]))["memory_mib"] == 512 and static_facts(parse(SIZES[0]))["vcpus"] == 2
    got = static_facts(with_facts)
    assert (got["labels"], got["template"], got["description"]) == ({"env": "prod"}, "debian-12", "text")
