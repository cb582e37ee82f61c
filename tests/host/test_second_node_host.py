"""The test bed itself (tests/host/second_node.py): the second node is another libvirt host (its own host
UUID, hostname, objects), reachable over TCP from the host, sees the shared directory, and `stop` leaves
nothing behind (no process, no veth, no directory)."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import libvirt
from lxml import etree

from tests.host import second_node as bed
from tests.host import vmutil


def _host_uuid(conn: libvirt.virConnect) -> str:
    return etree.fromstring(conn.getCapabilities().encode()).findtext("host/uuid")


def test_second_node_is_another_host(second_node, real_libvirt):
    first = vmutil.open_conn(real_libvirt)
    twin = vmutil.open_conn(second_node.uri)
    try:
        assert _host_uuid(twin) == second_node.host_uuid
        assert _host_uuid(twin) != _host_uuid(first)
        assert twin.getHostname() == "jvp-twin" != first.getHostname()
        # none of the host's objects: its own (empty) inventory, whatever the first daemon holds
        first_pools = {p.name() for p in first.listAllStoragePools(0)}
        assert not first_pools & {p.name() for p in twin.listAllStoragePools(0)}
        assert twin.listAllDomains(0) == []
        # the shared directory is the same directory for both (a file made on the host is seen there)
        probe = Path(second_node.shared) / f"jvptest-H-{uuid.uuid4().hex[:8]}"
        probe.write_text("x")
        try:
            pool = vmutil.make_pool(twin, probe.name, Path(second_node.shared))
            try:
                assert probe.name in pool.listVolumes()
            finally:
                pool.destroy()
                pool.undefine()
        finally:
            probe.unlink()
    finally:
        twin.close()
        first.close()


def _nothing_left() -> None:
    assert bed.status() is None
    assert not bed.BASE.exists()
    assert subprocess.run(["ip", "link", "show", bed.HOST_IF], capture_output=True).returncode != 0


def test_crashed_run_is_cleaned_and_stop_leaves_nothing(second_node):
    """A run that died without `stop` (here: the CLI's `start`, whose process is gone, leaving its namespace
    running) is cleaned by the next `start`; `stop` leaves no process, veth or directory. The session's node
    is restarted at the end (same addresses) and the fixture's object updated."""
    out = subprocess.run([sys.executable, "-m", "tests.host.second_node", "start"], check=True,
                         capture_output=True, text=True).stdout
    orphan = bed.Twin(**json.loads(out))
    assert bed._start_time(second_node.pid) is None     # `start` cleaned the one running before
    assert bed.status().pid == orphan.pid
    fresh = bed.start()
    assert bed._start_time(orphan.pid) is None           # the orphaned namespace (and its daemons) is gone
    assert fresh.host_uuid != orphan.host_uuid
    conn = vmutil.open_conn(fresh.uri)
    assert _host_uuid(conn) == fresh.host_uuid
    conn.close()
    bed.stop()
    _nothing_left()
    assert bed._start_time(fresh.pid) is None
    assert subprocess.run([sys.executable, "-m", "tests.host.second_node", "status"]).returncode == 1
    vars(second_node).update(vars(bed.start()))
