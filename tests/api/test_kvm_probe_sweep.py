"""The KVM probe removes what a killed probe left behind (a paused probe domain on a broken KVM would
otherwise stay forever), and only that: a fresh probe's objects and other domains and volumes stay.

On libvirt's test driver, from a private copy of a fixture host (nothing shared with other tests)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import libvirt
import pytest

from jvp.hypervisor import kvm_probe
from jvp.hypervisor.xml import element, sub, to_string

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "foreign.xml"


@pytest.fixture
def conn(tmp_path):
    copy = tmp_path / "probe-host.xml"   # a private copy: nothing another test did to the fixture shows here
    shutil.copyfile(FIXTURE, copy)
    c = libvirt.open(f"test://{copy}")
    yield c
    c.close()


def _domain(conn, name: str, persistent: bool) -> None:
    dom = element("domain", {"type": "test"})
    sub(dom, "name", text_=name)
    sub(dom, "memory", {"unit": "MiB"}, 32)
    sub(sub(dom, "os"), "type", text_="hvm")
    xml = to_string(dom)
    if persistent:
        conn.defineXML(xml).create()
    else:
        conn.createXML(xml, 0)


def _volume(pool, name: str) -> None:
    vol = element("volume")
    sub(vol, "name", text_=name)
    sub(vol, "capacity", {"unit": "bytes"}, 4096)
    pool.createXML(to_string(vol), 0)


def test_is_stale_reads_the_start_time_in_the_name():
    now = 1_800_000_000
    assert kvm_probe.is_stale(f"jvp-kvm-probe-{now - kvm_probe.STALE_AFTER_S - 1}-0123abcd", now)
    assert not kvm_probe.is_stale(f"jvp-kvm-probe-{now - 5}-0123abcd", now)
    assert kvm_probe.is_stale(f".jvp-kvm-probe-{now - 3600}-0123abcd.img", now)
    assert kvm_probe.is_stale("jvp-kvm-probe-0123abcd", now)          # the earlier form: always a leftover
    assert not kvm_probe.is_stale("jvp-kvm-probe-web", now)             # somebody's own domain
    assert not kvm_probe.is_stale("my-jvp-kvm-probe-0123abcd", now)


def test_sweep_removes_stale_probe_objects_only(conn):
    now = time.time()
    old, fresh = int(now) - 3600, int(now) - 2
    pool_xml = element("pool", {"type": "dir"})
    sub(pool_xml, "name", text_="jvptest-probe-pool")
    sub(sub(pool_xml, "target"), "path", text_="/var/lib/jvptest-probe-pool")
    pool = conn.storagePoolCreateXML(to_string(pool_xml), 0)  # the test driver's own, in memory
    _domain(conn, f"jvp-kvm-probe-{old}-0000aaaa", persistent=False)
    _domain(conn, "jvp-kvm-probe-0000bbbb", persistent=True)
    _domain(conn, f"jvp-kvm-probe-{fresh}-0000cccc", persistent=False)
    _domain(conn, "jvptest-probe-neighbour", persistent=False)
    _volume(pool, f".jvp-kvm-probe-{old}-0000aaaa.img")
    _volume(pool, f".jvp-kvm-probe-{fresh}-0000cccc.img")
    _volume(pool, "jvptest-probe-neighbour.img")

    removed = kvm_probe.sweep_leftovers(conn, pool, now)

    assert sorted(removed) == sorted([f"jvp-kvm-probe-{old}-0000aaaa", "jvp-kvm-probe-0000bbbb",
                                      f".jvp-kvm-probe-{old}-0000aaaa.img"])
    domains = {d.name() for d in conn.listAllDomains(0)}
    assert f"jvp-kvm-probe-{fresh}-0000cccc" in domains and "jvptest-probe-neighbour" in domains
    assert not domains & {f"jvp-kvm-probe-{old}-0000aaaa", "jvp-kvm-probe-0000bbbb"}
    volumes = {v.name() for v in pool.listAllVolumes(0)}
    assert {f".jvp-kvm-probe-{fresh}-0000cccc.img", "jvptest-probe-neighbour.img"} <= volumes
    assert f".jvp-kvm-probe-{old}-0000aaaa.img" not in volumes
