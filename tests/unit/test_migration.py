"""Pure parts of migrate-vm (tier 1): the migration URI derived from a node's URI, the libvirt flags and
parameters built from the options, and the machine types read from capabilities (libvirt's test driver)."""
from __future__ import annotations

import libvirt
import pytest

from jvp.domain.migration import MigrationOptions
from jvp.hypervisor import migration
from jvp.service.vm.migrate_checks import migration_uri


@pytest.mark.parametrize("uri, expected", [
    ("qemu+tcp://198.19.254.2/system", "tcp://198.19.254.2"),
    ("qemu+ssh://root@kvm2.example/system?keyfile=/k", "tcp://kvm2.example"),
    ("qemu+tls://[fd00::5]:16514/system", "tcp://[fd00::5]"),
    ("qemu:///system", None),
    ("test:///default", None),
])
def test_the_migration_uri_is_the_target_nodes_host(uri, expected):
    assert migration_uri(uri) == expected


def test_a_live_move_with_copied_disks_and_limits():
    flags, params = migration.flags_and_params(MigrationOptions(
        live=True, offline=False, uri="tcp://h", copy_disks=("vda",), unsafe=True, bandwidth_mib_s=5,
        auto_converge=True, post_copy=True))
    for flag in (libvirt.VIR_MIGRATE_LIVE, libvirt.VIR_MIGRATE_PERSIST_DEST, libvirt.VIR_MIGRATE_UNDEFINE_SOURCE,
                 libvirt.VIR_MIGRATE_NON_SHARED_INC, libvirt.VIR_MIGRATE_UNSAFE, libvirt.VIR_MIGRATE_AUTO_CONVERGE,
                 libvirt.VIR_MIGRATE_POSTCOPY):
        assert flags & flag, flag
    assert not flags & libvirt.VIR_MIGRATE_OFFLINE and not flags & libvirt.VIR_MIGRATE_NON_SHARED_DISK
    assert params == {libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["vda"], libvirt.VIR_MIGRATE_PARAM_URI: "tcp://h",
                      libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 5}


def test_a_shared_storage_move_copies_nothing_and_an_offline_one_only_defines():
    flags, params = migration.flags_and_params(MigrationOptions(live=True, offline=False, uri=None, unsafe=True))
    assert not flags & libvirt.VIR_MIGRATE_NON_SHARED_INC and params == {}
    flags, params = migration.flags_and_params(MigrationOptions(live=True, offline=True, uri="tcp://h",
                                                                bandwidth_mib_s=5))
    assert flags == (libvirt.VIR_MIGRATE_OFFLINE | libvirt.VIR_MIGRATE_PERSIST_DEST |
                     libvirt.VIR_MIGRATE_UNDEFINE_SOURCE) and params == {}


def test_machine_types_follow_the_capabilities():
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open("test:///default")
    try:
        # the test driver describes an i686 host that runs x86_64 guests: any hvm guest's types count
        assert migration.machines(conn, "x86_64", "test") == set()
        assert migration.machines(conn, "x86_64", "kvm") is None
        assert migration.free_memory_mib(conn) is None  # the driver keeps no memory statistics
        assert migration.host_uuid(conn) is None
    finally:
        conn.close()
