"""Volume and network reads with their users (the reference index, hypervisor/ref_index.py) against direct
libvirt-python on libvirt's test driver.

Inventory: 10 dir pools of 100 volumes (1,000 volumes), 50 networks, and N domains (a third running), each
with one disk on volume i % 1,000 and one NIC on network i % 50.

- list-volumes (1,000 volumes) and list-networks (50 networks) at 1,000 VMs, through the whole Flask app,
  against their bulk libvirt floor: the same listing done directly (listAllStoragePools, listAllVolumes and
  one XMLDesc per volume; listAllNetworks and one XMLDesc per network; each parsed with lxml) with the users
  found the cheapest direct way libvirt offers: no call returns a domain's disks or NICs in bulk, so one
  XMLDesc(0) per domain (live XML only, parsed for disk sources or interface sources), joined in a dict.
  Warm: the index current (the usual case). Cold: the index emptied before every call (every domain's XML
  read again, as after a reconnect; definitions whose text did not change keep their entry, domain_refs.KEPT).
  First build: KEPT emptied too, as in a fresh process (every definition parsed and mapped). Targets: warm
  <= 2x the floor, cold and first build <= 3x.
- describe-volume and describe-network at 2,000 VMs against the same call at 100 VMs (two apps, same pools
  and networks): their cost must not follow the number of VMs. Target: <= 1.2x.
- for scale (target "-"): list-volumes / list-networks warm against the listing alone (no users at all).

Medians of ROUNDS interleaved rounds (API path and floor alternate within each round), from one run, in CPU
time of this process (bench/_common.CLOCK: the test driver runs in-process, so both sides are measured alike;
a shared host's wall time mostly says how long a round waited for a core).
`BENCH_SCALE=0.1 python -m bench usage_reads` runs a reduced inventory (a check that it works, not a figure).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import libvirt
from lxml import etree

from bench._common import (App, add_domain, add_network, add_pool, load, medians_ms, node_element,
                           write_inventory)
from jvp.hypervisor.domain_refs import KEPT
from jvp.hypervisor.ref_index import INDEX

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
POOLS, VOLUMES_PER_POOL, NETWORKS = 10, max(1, int(100 * SCALE)), 50
LIST_VMS, FEW_VMS, MANY_VMS = max(10, int(1000 * SCALE)), max(5, int(100 * SCALE)), max(20, int(2000 * SCALE))
ROUNDS = 7
VOLUMES = POOLS * VOLUMES_PER_POOL


def vol_path(i: int) -> str:
    return f"/var/lib/bench/p{i // VOLUMES_PER_POOL}/v{i:04d}.qcow2"


def inventory(path: Path, domains: int) -> None:
    node = node_element()
    for i in range(domains):
        add_domain(node, i, disk=vol_path(i % VOLUMES), mac=f"52:54:00:01:{i // 256:02x}:{i % 256:02x}",
                   network=f"net{i % NETWORKS:02d}", driver="qcow2")
    for n in range(NETWORKS):
        add_network(node, f"net{n:02d}", f"benchbr{n}", f"198.18.{100 + n}.1", "255.255.255.0",
                    f"198.18.{100 + n}.10", f"198.18.{100 + n}.250")
    for p in range(POOLS):
        add_pool(node, f"p{p}", f"/var/lib/bench/p{p}",
                 [(f"v{v:04d}.qcow2", vol_path(v)) for v in range(p * VOLUMES_PER_POOL, (p + 1) * VOLUMES_PER_POOL)],
                 sizes_gib=(5000, 100, 4900))
    write_inventory(node, path)


# -- the floors: libvirt-python directly ---------------------------------------------------------------
def volume_listing(conn: libvirt.virConnect) -> list[tuple]:
    out = []
    for pool in conn.listAllStoragePools(0):
        for vol in pool.listAllVolumes(0):
            root = etree.fromstring(vol.XMLDesc(0).encode())
            out.append((pool.name(), vol.name(), root.findtext("target/path"), root.findtext("capacity"),
                        root.findtext("backingStore/path")))
    return out


def network_listing(conn: libvirt.virConnect) -> list[tuple]:
    out = []
    for net in conn.listAllNetworks(0):
        root = etree.fromstring(net.XMLDesc(0).encode())
        out.append((net.name(), net.isActive(), root.find("bridge").get("name"), root.find("ip").get("address")))
    return out


def domain_roots(conn: libvirt.virConnect) -> list[etree._Element]:
    return [etree.fromstring(d.XMLDesc(0).encode()) for d in conn.listAllDomains(0)]


def volumes_floor(conn: libvirt.virConnect) -> int:
    users: dict[str, set[str]] = {}
    for root in domain_roots(conn):
        for src in root.xpath("devices/disk/source/@file"):
            users.setdefault(src, set()).add(root.findtext("name"))
    return len([(v, sorted(users.get(v[2], ()))) for v in volume_listing(conn)])


def networks_floor(conn: libvirt.virConnect) -> int:
    users: dict[str, set[str]] = {}
    for root in domain_roots(conn):
        for net in root.xpath("devices/interface[@type='network']/source/@network"):
            users.setdefault(net, set()).add(root.findtext("name"))
    return len([(n, sorted(users.get(n[0], ()))) for n in network_listing(conn)])


# -- the API -------------------------------------------------------------------------------------------
class Api(App):
    def __init__(self, tmp: Path, domains: int):
        inv = tmp / f"inventory-{domains}.xml"
        inventory(inv, domains)
        super().__init__(f"test://{inv}", tmp / f"data-{domains}", node_timeout_s=60.0)

    def list_volumes(self) -> None:
        assert len(self.call("list-volumes", {"node": "local"})["volumes"]) == VOLUMES

    def list_networks(self) -> None:
        assert len(self.call("list-networks", {"node": "local"})["networks"]) == NETWORKS

    def describe_volume(self) -> None:
        assert self.call("describe-volume", {"node": "local", "pool": "p0", "name": "v0007.qcow2"}
                         )["volume"]["used_by"][0] == "vm0007"

    def describe_network(self) -> None:
        assert "vm0007" in self.call("describe-network", {"node": "local", "name": "net07"})["network"]["vms"]


def cold(api: Api, fn: Callable[[], None], first: bool = False) -> Callable[[], None]:
    """fn with the app's index emptied first (every domain's XML read again, as after a reconnect: unchanged
    definitions keep their entries, domain_refs.KEPT); `first`: KEPT emptied too, as in a fresh process (every
    definition parsed and mapped)."""
    conn = api.connection()

    def run() -> None:
        INDEX.reset(conn)
        if first:
            KEPT.clear()
        fn()
    return run


def main() -> None:
    libvirt.registerErrorHandler(lambda *_: None, None)
    with tempfile.TemporaryDirectory(prefix="jvp-bench-usage-") as tmp_name:
        tmp = Path(tmp_name)
        apis = {n: Api(tmp, n) for n in sorted({LIST_VMS, FEW_VMS, MANY_VMS})}
        big, few, many = apis[LIST_VMS], apis[FEW_VMS], apis[MANY_VMS]
        conn = libvirt.open(big.uri)  # the test driver keeps a state per connection: the floor's own copy
        try:
            assert volumes_floor(conn) == VOLUMES and networks_floor(conn) == NETWORKS
            ms = medians_ms(rounds=ROUNDS, fns={
                "vol_floor": lambda: volumes_floor(conn), "vol_warm": big.list_volumes,
                "vol_cold": cold(big, big.list_volumes), "vol_first": cold(big, big.list_volumes, first=True),
                "vol_bare": lambda: volume_listing(conn),
                "net_floor": lambda: networks_floor(conn), "net_warm": big.list_networks,
                "net_cold": cold(big, big.list_networks), "net_first": cold(big, big.list_networks, first=True),
                "net_bare": lambda: network_listing(conn),
                "dv_few": few.describe_volume, "dv_many": many.describe_volume,
                "dn_few": few.describe_network, "dn_many": many.describe_network,
            })
        finally:
            conn.close()
            for api in apis.values():
                api.close()
    rows = [
        (f"list-volumes warm ({VOLUMES} vols, {LIST_VMS} VMs)", ms["vol_warm"], ms["vol_floor"], 2.0),
        (f"list-volumes cold ({VOLUMES} vols, {LIST_VMS} VMs)", ms["vol_cold"], ms["vol_floor"], 3.0),
        ("list-volumes first build (fresh process)", ms["vol_first"], ms["vol_floor"], 3.0),
        (f"list-networks warm ({NETWORKS} nets, {LIST_VMS} VMs)", ms["net_warm"], ms["net_floor"], 2.0),
        (f"list-networks cold ({NETWORKS} nets, {LIST_VMS} VMs)", ms["net_cold"], ms["net_floor"], 3.0),
        ("list-networks first build (fresh process)", ms["net_first"], ms["net_floor"], 3.0),
        (f"describe-volume {MANY_VMS} vs {FEW_VMS} VMs", ms["dv_many"], ms["dv_few"], 1.2),
        (f"describe-network {MANY_VMS} vs {FEW_VMS} VMs", ms["dn_many"], ms["dn_few"], 1.2),
        ("list-volumes warm vs listing without users", ms["vol_warm"], ms["vol_bare"], None),
        ("list-networks warm vs listing without users", ms["net_warm"], ms["net_bare"], None),
    ]
    print(f"   test driver, median of {ROUNDS} interleaved rounds, ms of process CPU time"
          f"{'' if SCALE == 1 else f'; SCALE {SCALE}'}; {load()}")
    print(f"   {'name':<48} {'measured':>9} {'floor':>9} {'ratio':>6}  target")
    for name, measured, floor, target in rows:
        ratio = measured / floor
        verdict = "-" if target is None else f"<= {target}" + ("" if ratio <= target else " ABOVE")
        print(f"   {name:<48} {measured:9.1f} {floor:9.1f} {ratio:6.2f}  {verdict}")


if __name__ == "__main__":
    main()
