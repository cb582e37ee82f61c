"""Storage as admins have it (issue 13: references, disks, figures, formats), on tests/fixtures/hosts/storage_refs.xml.

The fixture holds what JVP never makes itself: direct kernel boot (kernel, initrd named with `//`, dtb), a UEFI
loader and NVRAM file, volume-, dir-, block- and network-type disks, a chain the domain shows and one only the
volumes show, removable media, a pool whose volumes allocate more than its capacity, and pools of eight types.
virsh on the same file is the ground truth for what libvirt has.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, build_api, make_settings

FIXTURE = REPO / "tests" / "fixtures" / "hosts" / "storage_refs.xml"

# volume of pool 'refs' -> the VMs that reference it, and how (libvirt's XML of the fixture says so)
REFERENCED = {
    "vmlinuz": ["kernel-boot"],              # <os><kernel>
    "initrd.img": ["kernel-boot"],           # <os><initrd>/srv/refs//initrd.img (the same file)
    "guest.dtb": ["kernel-boot"],            # <os><dtb>
    "OVMF_CODE.fd": ["kernel-boot"],         # <os><loader>
    "kernel-boot_VARS.fd": ["kernel-boot"],  # <os><nvram>
    "data.qcow2": ["kernel-boot"],           # <disk type='volume'>
    "install.iso": ["kernel-boot"],          # <disk type='volume' device='cdrom'>
    "tools.iso": ["odd-disks"],              # <disk type='file' device='cdrom'>
    "overlay.qcow2": ["odd-disks"],
    "child.qcow2": ["chain-by-volume"],
    "plain.img": ["chain-by-volume"],
    # under odd-disks' overlay (the domain shows the chain) and under chain-by-volume's child.qcow2 (only the
    # volume's own backing file says so: the VM is stopped)
    "base.qcow2": ["chain-by-volume", "odd-disks"],
}


@pytest.fixture
def refs(tmp_path: Path):
    client = build_api(make_settings(tmp_path, local_uri=f"test://{FIXTURE}"))
    yield client
    client.services.close()


def volumes(api, pool: str) -> dict[str, dict]:
    return {v["name"]: v for v in api.ok("list-volumes", {"pool": pool}, role="viewer")["volumes"]}


def test_used_by_covers_disks_cdroms_boot_files_and_both_kinds_of_chain(refs):
    listed = volumes(refs, "refs")
    assert {n: v["used_by"] for n, v in listed.items() if v["used_by"]} == REFERENCED
    assert listed["free.qcow2"]["used_by"] == []
    for name, vms in REFERENCED.items():  # describe-volume gives the same answer as the listing
        assert refs.ok("describe-volume", {"pool": "refs", "name": name}, role="viewer")["volume"]["used_by"] == vms
    # block and network disks reference volumes of logical and rbd pools
    assert volumes(refs, "vg")["lv1"]["used_by"] == ["odd-disks"]
    assert volumes(refs, "vg")["lv2"]["used_by"] == []
    assert volumes(refs, "ceph")["img1"]["used_by"] == ["odd-disks"]


@pytest.mark.parametrize("name", sorted(REFERENCED))
def test_deleting_a_referenced_volume_is_refused_with_the_vms(refs, name):
    before = sorted(volumes(refs, "refs"))
    err = refs.error("delete-volume", {"pool": "refs", "name": name}, status=409, code="VolumeInUse",
                     role="operator")
    assert err["details"]["vms"] == REFERENCED[name]
    assert {u["vm"] for u in err["details"]["uses"]} == set(REFERENCED[name])
    assert sorted(volumes(refs, "refs")) == before


def test_the_refusal_says_how_each_vm_uses_the_file(refs):
    uses = {n: {u["as"] for u in refs.error("delete-volume", {"pool": "refs", "name": n}, status=409,
                                           code="VolumeInUse", role="operator")["details"]["uses"]}
            for n in ("vmlinuz", "initrd.img", "guest.dtb", "OVMF_CODE.fd", "kernel-boot_VARS.fd", "install.iso",
                      "base.qcow2")}
    assert uses == {"vmlinuz": {"kernel"}, "initrd.img": {"initrd"}, "guest.dtb": {"dtb"},
                    "OVMF_CODE.fd": {"loader"}, "kernel-boot_VARS.fd": {"nvram"}, "install.iso": {"cdrom"},
                    "base.qcow2": {"backing"}}


def test_a_free_volume_is_deleted(refs):
    refs.ok("delete-volume", {"pool": "refs", "name": "free.qcow2"}, role="operator")
    assert "free.qcow2" not in volumes(refs, "refs")


def test_pools_holding_referenced_volumes_are_not_deleted(refs):
    for pool, vms in (("refs", {"kernel-boot", "odd-disks", "chain-by-volume"}), ("vg", {"odd-disks"}),
                      ("ceph", {"odd-disks"})):
        err = refs.error("delete-storage-pool", {"name": pool, "delete_volumes": True}, status=409,
                         code="StoragePoolInUse", role="admin")
        assert set(err["details"]["vms"]) == vms
    assert {"refs", "vg", "ceph"} <= {p["name"] for p in refs.ok("list-storage-pools", {})["pools"]}


def test_resizing_the_nvram_of_a_running_vm_is_refused(refs):
    err = refs.error("resize-volume", {"pool": "refs", "name": "kernel-boot_VARS.fd", "size_gib": 1},
                     status=409, code="VolumeInUse", role="operator")
    assert err["details"]["vms"] == ["kernel-boot"]


def test_attaching_a_kernel_image_of_another_vm_is_refused(refs):
    err = refs.error("attach-volume", {"name": "odd-disks", "pool": "refs", "volume": "vmlinuz"}, status=409,
                     code="VolumeInUse", role="operator")
    assert err["details"]["vms"] == ["kernel-boot"]


def disks(api, vm: str) -> dict[str, dict]:
    return {d["target"]: d for d in api.ok("describe-vm", {"name": vm}, role="viewer")["vm"]["disks"]}


def test_disks_show_what_libvirt_has(refs):
    kb = disks(refs, "kernel-boot")
    # a volume-type disk: the volume's real path through its pool, never the bare volume name
    assert {k: kb["vda"][k] for k in ("type", "path", "pool", "volume", "format", "capacity_bytes")} == {
        "type": "volume", "path": "/srv/refs/data.qcow2", "pool": "refs", "volume": "data.qcow2", "format": "qcow2",
        "capacity_bytes": 10 * 2**30}
    # removable media: the size libvirt has for the volume
    assert (kb["sdb"]["device"], kb["sdb"]["path"], kb["sdb"]["capacity_bytes"]) == (
        "cdrom", "/srv/refs/install.iso", 734003200)
    odd = disks(refs, "odd-disks")
    assert (odd["hdb"]["type"], odd["hdb"]["path"], odd["hdb"]["pool"]) == ("dir", "/srv/shared-dir", None)
    assert (odd["vdc"]["type"], odd["vdc"]["path"], odd["vdc"]["pool"], odd["vdc"]["volume"]) == (
        "block", "/dev/refs-vg/lv1", "vg", "lv1")
    assert (odd["vdd"]["type"], odd["vdd"]["path"], odd["vdd"]["source"], odd["vdd"]["pool"], odd["vdd"]["volume"]) \
        == ("network", None, "rbd://mon1.example:6789/rbdpool/img1", "ceph", "img1")
    assert (odd["vda"]["pool"], odd["vda"]["volume"], odd["vda"]["backing"]) == (
        "refs", "overlay.qcow2", "/srv/refs/base.qcow2")
    assert (odd["sda"]["path"], odd["sda"]["capacity_bytes"]) == ("/srv/refs/tools.iso", 52428800)
    # a cdrom no pool holds: the size libvirt reports for the drive (virsh domblkinfo)
    drive = refs.services.gateway.run_raw("local", lambda c: c.lookupByName("odd-disks").blockInfo("sdc", 0)[0])
    assert (odd["sdc"]["pool"], odd["sdc"]["capacity_bytes"]) == (None, drive)
    # a disk whose definition names no format: the volume's
    assert disks(refs, "chain-by-volume")["vda"]["format"] == "qcow2"


def test_figures_are_libvirts_and_a_wrapped_one_is_unknown_with_a_problem(refs):
    pools = {p["name"]: p for p in refs.ok("list-storage-pools", {}, role="viewer")["pools"]}
    assert set(pools) == {"refs", "overfull", "vg", "ceph", "nfs", "san", "sdz", "fs"}
    over = pools["overfull"]
    # libvirt (virsh pool-info) reports capacity 100 GiB, allocation 300 GiB, available 2**64 - 200 GiB
    assert (over["capacity_bytes"], over["allocation_bytes"], over["available_bytes"]) == (
        100 * 2**30, 300 * 2**30, None)
    assert {p["code"] for p in over["problems"]} == {"FigureUnknown", "FiguresInconsistent"}
    assert str(2**64 - 200 * 2**30) in next(p["message"] for p in over["problems"] if p["code"] == "FigureUnknown")
    described = refs.ok("describe-storage-pool", {"name": "overfull"}, role="viewer")["pool"]
    assert described["available_bytes"] is None and described["problems"] == over["problems"]
    for name, p in pools.items():
        if name == "overfull":
            continue
        assert p["problems"] == [] and p["capacity_bytes"] == p["allocation_bytes"] + p["available_bytes"], p
        assert refs.ok("describe-storage-pool", {"name": name}, role="viewer")["pool"] == p
    assert {p["type"] for p in pools.values()} == {"dir", "logical", "rbd", "netfs", "iscsi", "disk", "fs"}
    assert (pools["vg"]["allocation_bytes"], pools["ceph"]["allocation_bytes"]) == (7 * 2**30, 5 * 2**30)


def test_create_snapshot_names_a_disk_format_as_the_volume_does(refs):
    err = refs.error("create-snapshot", {"vm": "chain-by-volume"}, status=422, code="DiskNotSnapshottable",
                     role="operator")
    by_target = {d["target"]: d for d in err["details"]["disks"]}
    assert by_target["vdb"]["format"] == "raw" and "raw format" in by_target["vdb"]["reason"]
    assert "unknown" not in err["message"]
    assert by_target["vda"]["format"] == "qcow2" and "driver type='qcow2'" in by_target["vda"]["reason"]


def test_a_base_takes_any_number_of_linked_clones_but_is_never_written_by_a_vm(api):
    """Through the chains a base is `used_by` its clones' VMs; that refuses writing to it, not another clone."""
    from tests.api.test_vm_create import add_volume, create
    add_volume(api, "default", "shared-base.qcow2", 2**30, "qcow2")
    create(api, {"name": "clone-a", "volume": "shared-base.qcow2", "clone": "linked", "start": False})
    create(api, {"name": "clone-b", "volume": "shared-base.qcow2", "clone": "linked", "start": False})
    base = api.ok("describe-volume", {"pool": "default", "name": "shared-base.qcow2"}, role="viewer")["volume"]
    assert base["used_by"] == ["clone-a", "clone-b"]
    err = api.error("create-vm", {"name": "writer", "volume": "shared-base.qcow2"}, status=409, code="VolumeInUse",
                    role="operator")
    assert err["details"]["vms"] == ["clone-a", "clone-b"]
    err = api.error("delete-volume", {"pool": "default", "name": "shared-base.qcow2"}, status=409,
                    code="VolumeInUse", role="operator")
    assert {u["as"] for u in err["details"]["uses"]} == {"backing"}


def test_unknown_free_space_is_not_read_as_zero(refs):
    """JVP's own space check skips a pool whose free space is unknown: libvirt judges, and says why."""
    err = refs.error("create-volume", {"pool": "overfull", "name": "x.qcow2", "size_gib": 1}, status=422,
                     role="operator")
    assert err["code"] != "InsufficientSpace" and "free space" in err["message"]
    assert refs.ok("create-volume", {"pool": "refs", "name": "x.qcow2", "size_gib": 1},
                   role="operator")["volume"]["used_by"] == []
