"""The one "who uses this image" answer (jvp.domain.volume.References), libvirt's wrapped figures
(jvp.domain.storage_pool.checked_figures) and the isolation of unreadable pools and volumes."""
from __future__ import annotations

import os

import libvirt
import pytest

from jvp.domain.base import Problem
from jvp.domain.storage_pool import WRAPPED_FROM, checked_figures
from jvp.domain.volume import DiskUser, References, VmDisk, VolumeLink, disk_format, format_label, normal_path
from jvp.hypervisor import storage_pool as pool_hv
from jvp.hypervisor import volume as vol_hv
from jvp.hypervisor.storage_xml import domain_disks


def ref(vm: str, path: str | None, *, device: str = "disk", target: str | None = "vda", pool: str | None = None,
        volume: str | None = None, chain: tuple[str, ...] = (), running: bool = False) -> DiskUser:
    return DiskUser(vm=vm, running=running, disk=VmDisk(target=target if device in ("disk", "cdrom") else None,
                                                        device=device, path=path, pool=pool, volume=volume,
                                                        backing_paths=chain, live=running))


# -- References --------------------------------------------------------------------------------------------
def test_boot_files_and_disks_are_references_of_their_vm():
    refs = References(users_=[ref("a", "/p/vmlinuz", device="kernel"), ref("a", "/p/VARS.fd", device="nvram"),
                              ref("b", "/p/disk.qcow2")])
    assert refs.vm_names(None, None, "/p/vmlinuz") == ["a"]
    assert [u.role for u in refs.users(None, None, "/p/VARS.fd")] == ["nvram"]
    assert not refs.users(None, None, "/p/VARS.fd")[0].is_disk
    assert refs.users(None, None, "/p/disk.qcow2")[0].is_disk
    assert refs.vm_names(None, None, "/p/other") == []


def test_paths_match_canonically_and_volume_disks_by_pool_and_name():
    refs = References(users_=[ref("a", "/p//x/../img.qcow2"), ref("b", None, pool="default", volume="v.qcow2"),
                              ref("c", "/link/z.qcow2")],
                      volumes=[VolumeLink("default", "v.qcow2", "/p/v.qcow2")],
                      canonical={"/link/z.qcow2": "/real/z.qcow2", "/pool/z.qcow2": "/real/z.qcow2"})
    assert refs.vm_names("default", "img.qcow2", "/p/img.qcow2") == ["a"]
    assert refs.vm_names("default", "v.qcow2", "/p/v.qcow2") == ["b"]
    assert refs.vm_names("other", "v.qcow2", "/q/v.qcow2") == []        # same name in another pool
    assert refs.vm_names("default", "z.qcow2", "/pool/z.qcow2") == ["c"]  # a symlinked directory: one file
    assert refs.of_pool("default")[0].vm == "b"


def test_chains_from_the_domain_and_continued_by_the_volumes():
    vols = [VolumeLink("p", "base", "/p/base"), VolumeLink("p", "mid", "/p/mid", backing="/p/base"),
            VolumeLink("p", "top", "/p/top", backing="/p/mid"), VolumeLink("p", "loop1", "/p/l1", backing="/p/l2"),
            VolumeLink("p", "loop2", "/p/l2", backing="/p/l1")]
    refs = References(users_=[ref("stopped", "/p/top"), ref("running", "/p/o", chain=("/p/base",), running=True),
                              ref("looped", "/p/l1")], volumes=vols)
    base = refs.users("p", "base", "/p/base")
    assert {(u.vm, u.backing) for u in base} == {("stopped", True), ("running", True)}
    assert [u.role for u in base] == ["backing", "backing"]
    assert refs.vm_names("p", "mid", "/p/mid") == ["stopped"]
    assert refs.vm_names("p", "loop2", "/p/l2") == ["looped"]  # a loop ends the walk
    assert [v.name for v in refs.dependents(["/p/base"])] == ["mid", "top"]
    assert [v.name for v in refs.dependents(["/p/top"])] == []


def test_an_inactive_directory_is_matched_by_prefix():
    refs = References(users_=[ref("a", "/srv/cold/a.qcow2"), ref("b", "/srv/cold-other/b.qcow2")])
    assert [u.vm for u in refs.under("/srv/cold/")] == ["a"]


def test_template_paths_of_a_vm_include_the_pools_spelling():
    refs = References(users_=[ref("a", "/link/t.qcow2")], volumes=[VolumeLink("p", "t", "/pool/t.qcow2")],
                      canonical={"/link/t.qcow2": "/real/t.qcow2", "/pool/t.qcow2": "/real/t.qcow2"})
    assert {"/link/t.qcow2", "/real/t.qcow2", "/pool/t.qcow2"} <= refs.paths_of("a")


def test_the_scan_reads_boot_files_and_network_images():
    xml = """<domain><name>k</name><os><type>hvm</type><loader type='pflash'>/f/CODE.fd</loader>
      <nvram template='/f/TPL.fd'>/f/k_VARS.fd</nvram><kernel>/f/vmlinuz</kernel><initrd>/f/initrd</initrd>
      <dtb>/f/x.dtb</dtb></os><devices>
      <disk type='network' device='disk'><source protocol='rbd' name='rbd/img'/><target dev='vdb'/></disk>
      <disk type='dir' device='disk'><source dir='/f/dir'/><target dev='hdb'/></disk></devices></domain>"""
    found = {(d.device, d.path) for d in domain_disks(xml)}
    assert found == {("kernel", "/f/vmlinuz"), ("initrd", "/f/initrd"), ("dtb", "/f/x.dtb"),
                     ("loader", "/f/CODE.fd"), ("nvram", "/f/k_VARS.fd"), ("disk", "rbd/img"), ("disk", "/f/dir")}


class _Conn:
    def __init__(self, uri):
        self.uri = uri

    def getURI(self):
        return self.uri


def test_symlinks_are_resolved_on_this_machine_only(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.qcow2").write_bytes(b"")
    os.symlink(real, tmp_path / "link")
    here = vol_hv.canonicalizer(_Conn("qemu:///system"))
    assert here(str(tmp_path / "link" / "a.qcow2")) == str(real / "a.qcow2")
    remote = vol_hv.canonicalizer(_Conn("qemu+ssh://node/system"))
    assert remote(str(tmp_path / "link" / "a.qcow2")) == str(tmp_path / "link" / "a.qcow2")
    assert vol_hv.canonicalizer(_Conn("test:///x.xml"))("/a//b/../c") == "/a/c"
    assert normal_path("rbd/img") == "rbd/img"


# -- formats ------------------------------------------------------------------------------------------------
def test_a_disk_format_is_the_driver_then_the_volume_then_unknown():
    assert disk_format("qcow2", "raw") == "qcow2"
    assert disk_format(None, "raw") == "raw"
    assert disk_format(None, None) is None and format_label(None, None) == "unknown"


# -- figures ------------------------------------------------------------------------------------------------
def test_wrapped_figures_are_unknown_with_a_problem():
    wrapped = 2**64 - 200 * 2**30
    figures, problems = checked_figures("storage pool 'p'", capacity_bytes=100 * 2**30,
                                        allocation_bytes=300 * 2**30, available_bytes=wrapped)
    assert figures == {"capacity_bytes": 100 * 2**30, "allocation_bytes": 300 * 2**30, "available_bytes": None}
    assert [p.code for p in problems] == ["FigureUnknown", "FiguresInconsistent"]
    assert str(wrapped) in problems[0].message and "storage pool 'p'" in problems[0].message
    assert checked_figures("v", capacity_bytes=WRAPPED_FROM - 1)[1] == []
    assert checked_figures("v", capacity_bytes=WRAPPED_FROM)[0] == {"capacity_bytes": None}
    # a volume may allocate more than its capacity (qcow2 metadata): not a pool's inconsistency
    assert checked_figures("v", capacity_bytes=10, allocation_bytes=11)[1] == []
    assert checked_figures("p", capacity_bytes=None, allocation_bytes=None, available_bytes=None) == (
        {"capacity_bytes": None, "allocation_bytes": None, "available_bytes": None}, [])


# -- isolation: an unreadable pool or volume degrades its row ------------------------------------------------
def _error(code: int, message: str) -> libvirt.libvirtError:
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 0, "", None, None, 0, 0)
    return err


class _Vol:
    def __init__(self, name, fail=None):
        self._name, self.fail = name, fail

    def name(self):
        return self._name

    def XMLDesc(self, flags=0):
        if self.fail:
            raise self.fail
        return (f"<volume type='file'><name>{self._name}</name><capacity>{2**64 - 5}</capacity>"
                f"<allocation>1</allocation><target><path>/p/{self._name}</path></target></volume>")


class _Pool:
    def __init__(self, name, vols=(), *, active=True, fail=None):
        self._name, self.vols, self.active, self.fail = name, list(vols), active, fail

    def name(self):
        return self._name

    def UUIDString(self):
        return f"uuid-{self._name}"

    def isActive(self):
        return self.active

    def listAllVolumes(self, flags):
        if self.fail:
            raise self.fail
        return self.vols

    def info(self):
        if self.fail:
            raise self.fail
        return [2, 100, 10, 90]

    def XMLDesc(self, flags=0):
        return f"<pool type='dir'><name>{self._name}</name><uuid>u</uuid><target><path>/p</path></target></pool>"

    def autostart(self):
        return 1

    def isPersistent(self):
        return 1

    def numOfVolumes(self):
        return len(self.vols)


class _PoolConn:
    def __init__(self, pools):
        self.pools = pools

    def listAllStoragePools(self, flags):
        return self.pools

    def isAlive(self):
        return 1


def test_a_pool_that_fails_to_list_or_describe_degrades_its_row_only():
    stale = _error(libvirt.VIR_ERR_INTERNAL_ERROR, "cannot open directory '/p': Stale file handle")
    conn = _PoolConn([_Pool("nfs", fail=stale), _Pool("ok", [_Vol("a")]), _Pool("cold", active=False)])
    vols, skipped = vol_hv.list_pools(conn, None)
    assert [v.name for v in vols] == ["a"]
    assert vols[0].capacity_bytes is None and vols[0].problems[0].code == "FigureUnknown"
    assert {(s.pool, s.code) for s in skipped} == {("nfs", "StoragePoolUnreadable"), ("cold", "StoragePoolInactive")}
    assert "Stale file handle" in next(s.message for s in skipped if s.pool == "nfs")
    pools = {p.name: p for p in pool_hv.list_all(conn)}
    assert set(pools) == {"nfs", "ok", "cold"}
    assert pools["nfs"].problems == [Problem("StoragePoolUnreadable", pools["nfs"].problems[0].message)]
    assert "Stale file handle" in pools["nfs"].problems[0].message
    assert pools["ok"].problems == [] and pools["ok"].available_bytes == 90


def test_a_volume_libvirt_cannot_describe_is_listed_with_a_problem():
    gone = _error(libvirt.VIR_ERR_NO_STORAGE_VOL, "no volume")
    broken = _error(libvirt.VIR_ERR_INTERNAL_ERROR, "cannot stat file '/p/b': No such file or directory")
    listed = vol_hv.list_pool(_Pool("p", [_Vol("a"), _Vol("b", broken), _Vol("c", gone)]))
    assert [v.name for v in listed] == ["a", "b"]  # one deleted while we looked is left out
    assert listed[1].problems[0].code == "VolumeUnreadable" and "No such file" in listed[1].problems[0].message


def test_a_lost_connection_is_still_the_nodes_error():
    lost = _error(libvirt.VIR_ERR_RPC, "end of file while reading data")
    with pytest.raises(libvirt.libvirtError):
        vol_hv.list_pools(_PoolConn([_Pool("p", fail=lost)]), None)


def test_a_pool_that_fails_to_describe_describes_with_its_problem():
    stale = _error(libvirt.VIR_ERR_INTERNAL_ERROR, "cannot open directory '/p': Stale file handle")

    class Conn(_PoolConn):
        def storagePoolLookupByName(self, name):
            return next(p for p in self.pools if p.name() == name)
    conn = Conn([_Pool("nfs", fail=stale), _Pool("ok")])
    view = pool_hv.describe(conn, "nfs")
    assert view.name == "nfs" and view.problems[0].code == "StoragePoolUnreadable"
    assert pool_hv.describe(conn, "ok").problems == []
