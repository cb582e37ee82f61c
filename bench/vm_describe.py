"""describe-vm through JVP's API at 1,000 domains (libvirt's test driver) vs the libvirt calls it needs, made
directly (issue 15).

The node: bench/vm_list.py's inventory of 1,000 domains (a third running, each with a disk, a NIC on one
network and JVP's facts) plus a pool holding every domain's disk as a volume. The API path is the whole Flask
app in-process (test client: auth, validation, the node lookup, the gateway, the answer's dump, JSON); the
described VM is a running one.

The floor is libvirt-python doing the calls describe-vm needs, once each, and nothing else: lookupByName,
state, isPersistent, autostart, the domain's bulk stats (domainListGetStats), XMLDesc parsed with lxml (the
disks and NICs are only in it), per disk storageVolLookupByPath with the volume's XMLDesc and its pool's
name, the node's network names (listAllNetworks), the domain's addresses (interfaceAddresses from the
leases). Not in the floor: what only the test driver needs (JVP looks at the NIC's network before asking
for addresses: the test driver crashes the process for a network without IP, see README "The test
driver"), and what JVP does with the answers.

Printed: the median of interleaved rounds of each (process CPU time, bench/_common.CLOCK), their ratio (target
<= 2.0, warm: connection open, the usual case), the same without HTTP (the VM service's describe and the
answer's dump: what the Flask request around it costs), what a request to a minimal Flask app costs through
the same test client (Flask's and the test client's own share, which no work of JVP's can remove: it alone
is several times the floor, so the target cannot hold through Flask), describe-vm against the floor plus that
minimal request, and the number of libvirt calls each path makes (counted in a separate pass, so the counting
costs nothing in the timed rounds): a call JVP makes twice shows as a difference.
"""
from __future__ import annotations

import collections
import contextlib
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import libvirt
from lxml import etree

from bench._common import App, load, medians_ms, ratio_line
from bench.vm_list import inventory
from jvp.api.dump import Dumper
from jvp.domain.vm import VmResponse

DOMAINS = 1000
ROUNDS = 300
VM = "vm0000"  # running (every third domain is)
TARGET = 2.0
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
    state, reason = dom.state()
    persistent = dom.isPersistent()
    autostart = dom.autostart() if persistent else False
    stats = conn.domainListGetStats([dom], STATS, 0)
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
    networks = {n.name() for n in conn.listAllNetworks(0)}
    try:
        addresses = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0)
    except libvirt.libvirtError:
        addresses = {}
    return {"state": (state, reason), "autostart": autostart, "stats": stats, "volumes": volumes,
            "networks": networks, "addresses": addresses}


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
            api()
            assert floor(conn, VM)["volumes"], "the described VM's disk is a pool volume"
            with counting() as api_calls:
                api()
            with counting() as floor_calls:
                floor(conn, VM)
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


if __name__ == "__main__":
    main()
