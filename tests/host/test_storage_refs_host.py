"""References JVP did not make, on the real libvirtd (tier 3): a VM defined straight through libvirt boots a
kernel and initrd from a JVP pool, named through a symlink to the pool's directory. list-volumes shows the
VM in `used_by` (the symlink resolved on this machine's node) and delete-volume refuses with the VM."""
from __future__ import annotations

import os

import libvirt

from tests.api.test_ref_index import eventually
from tests.conftest import unique
from tests.host.storage_util import remove_domain, remove_pool


def test_a_kernel_and_initrd_named_through_a_symlink_are_in_use(host_api, tmp_path):
    conn = libvirt.open("qemu:///system")
    pool, vm = unique("b-kpool-"), unique("b-kvm-")
    base = tmp_path / pool
    link = tmp_path / "through-a-link"
    try:
        host_api.ok("create-storage-pool", {"name": pool, "type": "dir", "path": str(base)})
        (base / "vmlinuz").write_bytes(b"\0" * 4096)
        (base / "initrd.img").write_bytes(b"\0" * 4096)
        (base / "spare.img").write_bytes(b"\0" * 4096)
        host_api.ok("refresh-storage-pool", {"name": pool})
        os.symlink(base, link)
        conn.defineXML(f"""<domain type='qemu'>
          <name>{vm}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
          <os><type arch='x86_64'>hvm</type><kernel>{link}/vmlinuz</kernel><initrd>{link}//initrd.img</initrd>
            <cmdline>console=ttyS0</cmdline></os>
          <devices><graphics type='vnc' listen='127.0.0.1' autoport='yes'/></devices></domain>""")
        # another client's define reaches the reference index with its lifecycle event (milliseconds, on
        # libvirt's loop thread; README "The reference index"): a plain read waits for it, as a user would
        listed = eventually(lambda: {v["name"]: v["used_by"]
                                     for v in host_api.ok("list-volumes", {"pool": pool})["volumes"]},
                            {"vmlinuz": [vm], "initrd.img": [vm], "spare.img": []})
        assert listed == {"vmlinuz": [vm], "initrd.img": [vm], "spare.img": []}
        for name in ("vmlinuz", "initrd.img"):
            err = host_api.error("delete-volume", {"pool": pool, "name": name}, status=409, code="VolumeInUse")
            assert err["details"]["vms"] == [vm]
            assert (base / name).exists()
        host_api.error("delete-storage-pool", {"name": pool, "delete_volumes": True}, status=409,
                       code="StoragePoolInUse")
        host_api.ok("delete-volume", {"pool": pool, "name": "spare.img"})
        assert not (base / "spare.img").exists()
    finally:
        remove_domain(conn, vm)
        remove_pool(conn, pool)
        conn.close()
