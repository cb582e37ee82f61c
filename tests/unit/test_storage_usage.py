"""'Who uses this image' is one scan (hypervisor/volume.py scan_domains -> references): the volume listing's
users, the VM module's checks and the template usage are views of it, so they cannot disagree."""
from __future__ import annotations

import libvirt

from jvp.hypervisor import template_usage
from jvp.hypervisor import volume as vol_hv


def domain_xml(name: str, disks: list[tuple[str, str, list[str]]], template: str | None = None) -> str:
    """disks: (target, file, backing chain files)."""
    devs = ""
    for target, path, chain in disks:
        backing = "".join(f"<backingStore type='file'><source file='{b}'/>" for b in chain) + \
            "</backingStore>" * len(chain)
        devs += (f"<disk type='file' device='disk'><source file='{path}'/>{backing}"
                 f"<target dev='{target}' bus='virtio'/></disk>")
    meta = (f"<metadata><jvp:vm xmlns:jvp='urn:jvp:vm:1'><jvp:template>{template}</jvp:template>"
            "</jvp:vm></metadata>") if template else ""
    return f"<domain type='kvm'><name>{name}</name>{meta}<devices>{devs}</devices></domain>"


class Dom:
    def __init__(self, name, live, config=None, gone=False):
        self._name, self.live, self.config, self.gone = name, live, config, gone

    def _check(self):
        if self.gone:
            err = libvirt.libvirtError("domain not found")
            err.err = (libvirt.VIR_ERR_NO_DOMAIN,)
            raise err

    def name(self):
        return self._name

    def isActive(self):
        self._check()
        return self.config is not None

    def isPersistent(self):
        return True

    def XMLDesc(self, flags=0):
        self._check()
        return self.config if flags & libvirt.VIR_DOMAIN_XML_INACTIVE else self.live


class Conn:
    def __init__(self, doms):
        self.doms = doms

    def listAllDomains(self, flags):
        return self.doms

    def listAllStoragePools(self, flags):
        return []

    def getURI(self):
        return "test:///default"


def conn() -> Conn:
    running_live = domain_xml("web1", [("vda", "/p/web1.qcow2", ["/p/base.qcow2"]), ("vdb", "/p/hot.raw", [])])
    running_config = domain_xml("web1", [("vda", "/p/web1.qcow2", []), ("vdc", "/p/next-boot.raw", [])])
    return Conn([Dom("web1", running_live, running_config),
                 Dom("db1", domain_xml("db1", [("vda", "/p/db1.qcow2", [])], template="deb")),
                 Dom("gone", "", gone=True)])


def test_one_scan_reads_live_and_next_boot_disks_once_each():
    doms = {d.name: d for d in vol_hv.scan_domains(conn())}
    assert set(doms) == {"web1", "db1"}  # a domain undefined while we look is skipped
    web1 = {d.target: d for d in doms["web1"].disks}
    assert set(web1) == {"vda", "vdb", "vdc"} and doms["web1"].running
    assert web1["vda"].live and web1["vda"].backing_paths == ("/p/base.qcow2",)
    assert not web1["vdc"].live  # attached for the next boot only


def test_the_three_answers_are_views_of_the_scan():
    c = conn()
    users = vol_hv.disk_users(c)
    assert {(u.vm, u.disk.path, u.running) for u in users} == {
        ("web1", "/p/web1.qcow2", True), ("web1", "/p/hot.raw", True), ("web1", "/p/next-boot.raw", True),
        ("db1", "/p/db1.qcow2", False)}
    refs = vol_hv.references(c)
    assert {p: refs.vm_names(None, None, p) for p in ("/p/web1.qcow2", "/p/hot.raw", "/p/next-boot.raw",
                                                       "/p/db1.qcow2", "/p/base.qcow2")} == {
        "/p/web1.qcow2": ["web1"], "/p/hot.raw": ["web1"], "/p/next-boot.raw": ["web1"], "/p/db1.qcow2": ["db1"],
        "/p/base.qcow2": ["web1"]}
    usage = template_usage.scan(c)
    assert {d.name: d.paths for d in usage.domains} == {
        "web1": {"/p/web1.qcow2", "/p/base.qcow2", "/p/hot.raw", "/p/next-boot.raw"}, "db1": {"/p/db1.qcow2"}}
    assert {d.name: (d.template or {}).get("name") for d in usage.domains} == {"web1": None, "db1": "deb"}
