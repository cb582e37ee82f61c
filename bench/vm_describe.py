"""describe-vm through JVP's API at 1,000 domains (libvirt's test driver) vs the libvirt calls it needs, made
directly (issue 15).

The node: bench/vm_list.py's inventory of 1,000 domains (a third running, each with a disk, a NIC on one
network and JVP's facts) plus a pool holding every domain's disk as a volume. The API path is the whole Flask
app in-process (test client: auth, validation, the node lookup, the gateway, the answer's dump, JSON); the
described VM is a running one.

The floor is libvirt-python doing the calls describe-vm needs, once each, and nothing else: lookupByName,
the domain's bulk stats (domainListGetStats, which carry its state), isPersistent, autostart, XMLDesc parsed
with lxml (the disks and NICs are only in it), per disk storageVolLookupByPath with the volume's XMLDesc and
its pool's name, a lookup of each network its NICs name (does it exist: the dangling-NIC check), the domain's
addresses (interfaceAddresses from the leases). (Before issue 15's throughput round both sides read the
state with a call of its own and listed every network of the node instead.) Not in the floor: what only the test driver needs (JVP looks at the NIC's network before asking
for addresses: the test driver crashes the process for a network without IP, see README "The test
driver"), and what JVP does with the answers.

Printed: the median of interleaved rounds of each (process CPU time, bench/_common.CLOCK), their ratio (target
<= 2.0, warm: connection open, the usual case), the same without HTTP (the VM service's describe and the
answer's dump: what the Flask request around it costs), what a request to a minimal Flask app costs through
the same test client (Flask's and the test client's own share, which no work of JVP's can remove: it alone
is several times the floor, so the target cannot hold through Flask), describe-vm against the floor plus that
minimal request, and the number of libvirt calls each path makes (counted in a separate pass, so the counting
costs nothing in the timed rounds): a call JVP makes twice shows as a difference.

The real-libvirtd variant (needs root and the local libvirtd, qemu:///system; skipped otherwise): the same
describe-vm and the same floor on the host's libvirtd, where every libvirt call is a real RPC to the daemon (a
message over the UNIX socket, the daemon's work, the answer), which is what a call costs on a real host; the
test driver's calls run in this process and cost next to nothing, so the test-driver row mostly measures
JVP's and Flask's own Python. The node: REAL_DOMAINS defined-but-stopped domains (`jvptest-bench-describe-*`,
JVP_BENCH_PREFIX), each with a qcow2 volume of a dir pool made for the run and a NIC on a network defined for
the run (never started), all removed at the end. Timed in wall time (the floor's calls wait for the daemon,
which process CPU time does not see), medians of interleaved rounds, same target. The floor's connection is
opened before JVP's app starts libvirt's event loop in this process: a plain script's connection. JVP's own
connection is tied to that loop (domain events, keepalive), and libvirt then wakes the loop's thread around
every RPC call; the floor's calls on such a connection are printed too, for scale (how much of the gap that is).
"""
from __future__ import annotations

import collections
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import libvirt
from lxml import etree

from bench._common import App, drop_pools, load, medians_ms, needs_root, ratio_line
from bench.vm_list import inventory
from jvp.api.dump import Dumper
from jvp.domain.vm import VmResponse

DOMAINS = 1000
ROUNDS = 300
VM = "vm0000"  # running (every third domain is)
TARGET = 2.0
REAL_URI = "qemu:///system"
REAL_DOMAINS = 4
REAL_ROUNDS = 200
PREFIX = os.environ.get("JVP_BENCH_PREFIX", "jvptest-bench-")
STATS = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON


def _minimal_flask() -> Callable[[], None]:
    """One request to the least a Flask app does (bench/_minimal_app.py's shape: parse the JSON body, answer a
    JSON document), through the same test client: what any Flask request costs before JVP does anything."""
    from flask import Flask, jsonify, request
    app = Flask("minimal")
    answer = {"vm": {"name": VM}}

    @app.post("/api/<action>")
    def action(action: str):
        request.get_json(force=True, silent=True)
        return jsonify(answer)
    client = app.test_client()

    def call() -> None:
        resp = client.post("/api/describe-vm", json={"name": VM}, headers={"Authorization": "Bearer x"})
        assert resp.status_code == 200
    return call


def floor(conn: libvirt.virConnect, name: str) -> dict[str, Any]:
    """The libvirt calls describe-vm needs, once each."""
    dom = conn.lookupByName(name)
    stats = conn.domainListGetStats([dom], STATS, 0)
    state, reason = stats[0][1]["state.state"], stats[0][1]["state.reason"]  # the stats carry the state
    persistent = dom.isPersistent()
    autostart = dom.autostart() if persistent else False
    root = etree.fromstring(dom.XMLDesc(0).encode())
    volumes = []
    for source in root.findall("devices/disk/source"):
        path = source.get("file")
        if not path:
            continue
        try:
            vol = conn.storageVolLookupByPath(path)
        except libvirt.libvirtError:
            continue
        volumes.append((vol.storagePoolLookupByVolume().name(), etree.fromstring(vol.XMLDesc(0).encode())))
    networks = set()  # which of the networks its NICs name exist
    for net in {s.get("network") for s in root.findall("devices/interface[@type='network']/source")} - {None}:
        try:
            conn.networkLookupByName(net)
            networks.add(net)
        except libvirt.libvirtError:
            pass
    try:
        addresses = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0)
    except libvirt.libvirtError:
        addresses = {}
    return {"state": (state, reason), "autostart": autostart, "stats": stats, "volumes": volumes,
            "networks": networks, "addresses": addresses}


def checked_calls(api: Callable[[], None], floor_fn: Callable[[], dict]
                  ) -> tuple[collections.Counter, collections.Counter]:
    """Both sides run once (warm, the floor's answer checked), then once more each with their libvirt calls
    counted: (the API's calls, the floor's)."""
    api()
    assert floor_fn()["volumes"], "the described VM's disk is a pool volume"
    with counting() as api_calls:
        api()
    with counting() as floor_calls:
        floor_fn()
    return api_calls, floor_calls


@contextlib.contextmanager
def counting() -> Iterator[collections.Counter]:
    """Every libvirt-python method call made inside the block, by class and name."""
    counts: collections.Counter = collections.Counter()
    saved = []
    for cls in (libvirt.virConnect, libvirt.virDomain, libvirt.virNetwork, libvirt.virStoragePool,
                libvirt.virStorageVol):
        for name, fn in list(vars(cls).items()):
            if name.startswith("_") or not callable(fn):
                continue

            def counted(*args: Any, _fn: Callable = fn, _key: str = f"{cls.__name__}.{name}", **kwargs: Any) -> Any:
                counts[_key] += 1
                return _fn(*args, **kwargs)
            saved.append((cls, name, fn))
            setattr(cls, name, counted)
    try:
        yield counts
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def main() -> None:
    libvirt.registerErrorHandler(lambda *_: None, None)
    # the real-host floor's connection, opened before JVP's app starts libvirt's event loop in this process:
    # a plain script's connection (one opened later is tied to the event loop, as JVP's own connection is)
    plain = _open_real()
    with tempfile.TemporaryDirectory(prefix="jvp-bench-describe-") as tmp:
        inv = Path(tmp) / "inventory.xml"
        inventory(inv, DOMAINS, pool=True)
        uri = f"test://{inv}"
        app = App(uri, Path(tmp) / "data", node_timeout_s=30.0)
        services = app.services

        def api() -> None:
            resp = app.post("describe-vm", {"name": VM})
            assert resp.status_code == 200, resp.get_json()

        dumper = Dumper(VmResponse)

        def service() -> None:  # for scale: the same without HTTP (no Flask, auth, request parsing, JSON)
            dumper({"vm": services.vms.describe("local", VM)})

        minimal = _minimal_flask()

        conn = libvirt.open(uri)  # the test driver keeps a state per connection: the floor gets its own copy
        try:
            api_calls, floor_calls = checked_calls(api, lambda: floor(conn, VM))
            ms = medians_ms({"api": api, "service": service, "floor": lambda: floor(conn, VM),
                             "minimal": minimal}, ROUNDS, warm_up=False)
        finally:
            conn.close()
            app.close()
    api_ms, service_ms, floor_ms, minimal_ms = (ms[k] for k in ("api", "service", "floor", "minimal"))
    print(f"   {DOMAINS} domains, test driver, median of {ROUNDS} interleaved rounds (ms of process CPU time); "
          f"{load()}")
    print(f"   {'name':<40} {'measured':>9} {'floor':>9} {'ratio':>7}  target")
    print(ratio_line("describe-vm (warm)", api_ms, floor_ms, TARGET, width=40, digits=3))
    print(ratio_line("describe-vm without HTTP", service_ms, floor_ms, None, width=40, digits=3))
    print(ratio_line("a minimal Flask request (test client)", minimal_ms, floor_ms, None, width=40, digits=3))
    print(ratio_line("describe-vm vs floor + minimal request", api_ms, floor_ms + minimal_ms, None, width=40,
                     digits=3))
    print(f"   libvirt calls: describe-vm {sum(api_calls.values())}, floor {sum(floor_calls.values())}")
    extra = api_calls - floor_calls
    if extra:
        print("   calls describe-vm makes beyond the floor: "
              + ", ".join(f"{k} x{v}" for k, v in sorted(extra.items())))
    real_host(plain)


# -- the real libvirtd ------------------------------------------------------------------------------------
def _real_node(conn: libvirt.virConnect, tag: str, pool_dir: Path) -> list[str]:
    """A dir pool `tag` in pool_dir, a network `tag` (defined, never started) and REAL_DOMAINS stopped
    domains `tag-N`, each with a 1 GiB qcow2 volume of the pool (sparse) and a NIC on the network; JVP's
    facts in their metadata as create-vm writes them (bench/vm_list.py's). Returns the domains' names."""
    from jvp.hypervisor.domain_xml import NS
    pool_el = etree.Element("pool", type="dir")
    etree.SubElement(pool_el, "name").text = tag
    etree.SubElement(etree.SubElement(pool_el, "target"), "path").text = str(pool_dir)
    pool = conn.storagePoolDefineXML(etree.tostring(pool_el, encoding="unicode"), 0)
    pool.create(0)
    net_el = etree.Element("network")
    etree.SubElement(net_el, "name").text = tag
    conn.networkDefineXML(etree.tostring(net_el, encoding="unicode"))
    names = []
    for i in range(REAL_DOMAINS):
        name = f"{tag}-{i}"
        vol_el = etree.Element("volume", type="file")
        etree.SubElement(vol_el, "name").text = f"{name}.qcow2"
        etree.SubElement(vol_el, "capacity", unit="GiB").text = "1"
        etree.SubElement(etree.SubElement(vol_el, "target"), "format", type="qcow2")
        vol = pool.createXML(etree.tostring(vol_el, encoding="unicode"), 0)
        dom = etree.Element("domain", type="qemu")
        etree.SubElement(dom, "name").text = name
        meta = etree.SubElement(etree.SubElement(dom, "metadata"), f"{{{NS}}}vm", nsmap={"jvp": NS})
        etree.SubElement(meta, f"{{{NS}}}created-at").text = "2026-01-01T00:00:00Z"
        etree.SubElement(etree.SubElement(meta, f"{{{NS}}}labels"), f"{{{NS}}}label", key="env").text = "dev"
        etree.SubElement(dom, "memory", unit="MiB").text = "256"
        etree.SubElement(dom, "vcpu").text = "1"
        etree.SubElement(etree.SubElement(dom, "os"), "type", arch="x86_64").text = "hvm"
        devices = etree.SubElement(dom, "devices")
        disk = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(disk, "driver", name="qemu", type="qcow2")
        etree.SubElement(disk, "source", file=vol.path())
        etree.SubElement(disk, "target", dev="vda", bus="virtio")
        nic = etree.SubElement(devices, "interface", type="network")
        etree.SubElement(nic, "mac", address=f"52:54:00:fe:00:{i:02x}")
        etree.SubElement(nic, "source", network=tag)
        etree.SubElement(nic, "model", type="virtio")
        conn.defineXML(etree.tostring(dom, encoding="unicode"))
        names.append(name)
    return names


def real_bed(kind: str) -> tuple[str, Path, Path]:
    """A run's tag (`jvptest-bench-KIND-xxxxxx`), its temporary directory and the pool directory in it (libvirt
    reads it: mode 755), for _real_node; the caller removes the directory."""
    tag = f"{PREFIX}{kind}-{uuid.uuid4().hex[:6]}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    pool_dir = tmp / "pool"
    pool_dir.mkdir()
    pool_dir.chmod(0o755)
    return tag, tmp, pool_dir


def _drop_real(conn: libvirt.virConnect, tag: str) -> None:
    """Every domain, the network and the pool (with its volumes) of the run, whatever was made."""
    for dom in conn.listAllDomains(0):
        if dom.name().startswith(f"{tag}-"):
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            except libvirt.libvirtError:
                pass
    try:
        conn.networkLookupByName(tag).undefine()
    except libvirt.libvirtError:
        pass
    drop_pools(conn, [tag])


def _open_real() -> libvirt.virConnect | None:
    """A connection to the local libvirtd, None (and why, later) when not root or it does not answer."""
    if os.geteuid() != 0:
        return None
    try:
        return libvirt.open(REAL_URI)
    except libvirt.libvirtError:
        return None


def real_host(conn: libvirt.virConnect | None) -> None:
    """describe-vm vs the same libvirt calls on qemu:///system (wall time: RPC calls wait on the daemon).
    `conn`: the floor's plain connection (opened before any event loop ran in this process)."""
    print(f"   real libvirtd ({REAL_URI}), {REAL_DOMAINS} stopped domains:")
    if needs_root():
        return
    if conn is None:
        print(f"   skipped: {REAL_URI} does not answer")
        return
    tag, tmp, pool_dir = real_bed("describe")
    looped = libvirt.open(REAL_URI)  # tied to libvirt's event loop, which JVP's app started: as JVP's is
    app = None
    try:
        vm = _real_node(conn, tag, pool_dir)[0]
        app = App(REAL_URI, tmp / "data", node_timeout_s=30.0)
        services = app.services
        dumper = Dumper(VmResponse)

        def api() -> None:
            resp = app.post("describe-vm", {"name": vm})
            assert resp.status_code == 200, resp.get_json()

        def service() -> None:
            dumper({"vm": services.vms.describe("local", vm)})

        api_calls, floor_calls = checked_calls(api, lambda: floor(conn, vm))
        ms = medians_ms({"api": api, "service": service, "floor": lambda: floor(conn, vm),
                         "looped": lambda: floor(looped, vm)}, REAL_ROUNDS, clock=time.perf_counter)
    finally:
        if app is not None:
            app.close()
        _drop_real(conn, tag)
        conn.close()
        looped.close()
        shutil.rmtree(tmp, ignore_errors=True)
    api_ms, service_ms, floor_ms, looped_ms = (ms[k] for k in ("api", "service", "floor", "looped"))
    print(f"   median of {REAL_ROUNDS} interleaved rounds (ms of wall time); {load()}")
    print(f"   {'name':<40} {'measured':>9} {'floor':>9} {'ratio':>7}  target")
    print(ratio_line("describe-vm, real libvirtd (warm)", api_ms, floor_ms, TARGET, width=40, digits=3))
    print(ratio_line("describe-vm without HTTP, real libvirtd", service_ms, floor_ms, None, width=40, digits=3))
    print(ratio_line("the floor's calls with the event loop", looped_ms, floor_ms, None, width=40, digits=3))
    print(ratio_line("describe-vm vs that floor", api_ms, looped_ms, None, width=40, digits=3))
    print(f"   libvirt calls: describe-vm {sum(api_calls.values())}, floor {sum(floor_calls.values())}")
    extra = api_calls - floor_calls
    if extra:
        print("   calls describe-vm makes beyond the floor: "
              + ", ".join(f"{k} x{v}" for k, v in sorted(extra.items())))


if __name__ == "__main__":
    main()
