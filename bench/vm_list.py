"""list-vms through JVP's API over 1,000 domains (libvirt's test driver) vs direct libvirt-python (issue 15).

The API path is the whole Flask app in-process (auth, validation, the per-node worker, the answer's dump,
JSON). Two floors, both libvirt-python without JVP, measured in the same interleaved rounds:

- the bulk listing: the libvirt calls the API makes and nothing else (listAllDomains, one getAllDomainStats
  with state, vCPUs and balloon, the transient-domain list, the DHCP leases of the domains' network; on a
  driver without a lease listing, as the test driver here, each running domain's lease addresses, which the
  API then asks per domain: about 1.8 ms of 1,000 domains' 9 ms here);
- the direct table: what a libvirt-python script does to print the same table without a cache, i.e. the bulk
  listing plus one XMLDesc per domain, parsed with lxml, its labels, MACs, vCPUs and memory read (labels and
  MACs live only in the XML, so a first listing cannot do with less).

The API is measured warm (each domain's XML facts in JVP's event-invalidated cache, the usual case) and cold
(that cache emptied before every call, so every domain's XML is read again, as after a restart or when every
domain changed). Targets: warm / bulk listing <= 2.0; cold / direct table <= 3.0 (cold / bulk listing is
printed too, for scale: it cannot reach 3 while one XMLDesc and its parse cost about what the bulk listing
costs per domain). The scaling curve repeats the four paths at 100, 500, 1,000 and 2,000 domains (fewer
rounds). Extra line: the very first call of a fresh app (connection opened, cache empty). Times are the
CPU time of this process (CLOCK), medians of interleaved rounds, from one run. Until 2026-12-02 the bulk
listing left out the per-domain lease lookups the API has to make on the test driver (its ratio then read
about 0.25 higher for work both sides must do).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import libvirt
from lxml import etree

from bench._common import (CLOCK, App, add_domain, add_network, add_pool, load, medians_ms, node_element,
                           ratio_line, write_inventory)
from jvp.hypervisor.domain_cache import FACTS
from jvp.hypervisor.listing_memo import LISTING
from jvp.hypervisor.domain_xml import NS

DOMAINS = 1000
ROUNDS = 7
SCALE = (100, 500, 1000, 2000)
SCALE_ROUNDS = 3
WARM_TARGET, COLD_TARGET = 2.0, 3.0
STATS = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON


def inventory(path: Path, domains: int = DOMAINS, pool: bool = False) -> None:
    """A test-driver node with `domains` domains (a third running), each with a disk, a NIC and JVP facts;
    with `pool`, a storage pool `bench` holding every domain's disk as a volume."""
    node = node_element()

    def facts(metadata: etree._Element, i: int) -> None:
        meta = etree.SubElement(metadata, f"{{{NS}}}vm", nsmap={"jvp": NS})
        etree.SubElement(meta, f"{{{NS}}}created-at").text = "2026-01-01T00:00:00Z"
        labels = etree.SubElement(meta, f"{{{NS}}}labels")
        etree.SubElement(labels, f"{{{NS}}}label", key="env").text = "prod" if i % 2 else "dev"
    for i in range(domains):
        add_domain(node, i, disk=f"/var/lib/bench/vm{i:04d}.qcow2", mac=f"52:54:00:00:{i // 256:02x}:{i % 256:02x}",
                   network="benchnet", metadata=lambda m, i=i: facts(m, i))
    add_network(node, "benchnet", "benchbr0", "198.18.64.1", "255.255.192.0", "198.18.64.10", "198.18.127.250")
    if pool:
        add_pool(node, "bench", "/var/lib/bench",
                 [(f"vm{i:04d}.qcow2", f"/var/lib/bench/vm{i:04d}.qcow2") for i in range(domains)])
    write_inventory(node, path)


def bulk_listing(conn: libvirt.virConnect) -> list[tuple]:
    """The bulk calls list-vms makes (jvp/hypervisor/domain_describe.py summaries), without JVP around them."""
    doms = conn.listAllDomains(0)
    stats = conn.getAllDomainStats(STATS, 0)
    transient = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}
    try:
        conn.networkLookupByName("benchnet").DHCPLeases()
    except libvirt.libvirtError:  # the test driver has no lease listing: each running domain's leases instead
        for dom, st in stats:
            if st.get("state.state") in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED):
                dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0)
    assert len(doms) == len(stats)
    return [(dom.name(), dom.UUIDString() in transient, st.get("state.state")) for dom, st in stats]


def direct_table(conn: libvirt.virConnect) -> list[tuple]:
    rows = []
    for dom, st in conn.getAllDomainStats(STATS, 0):
        root = etree.fromstring(dom.XMLDesc(0).encode())
        labels = {lb.get("key"): lb.text for lb in root.iter(f"{{{NS}}}label")}
        macs = [m.get("address") for m in root.iter("mac")]
        rows.append((dom.name(), dom.UUIDString(), st.get("state.state"), root.findtext("vcpu"),
                     root.findtext("memory"), labels, macs))
    return rows


def _empty_facts_cache() -> None:
    """Every connection's cached XML facts dropped, as if every domain had changed (and with them what the
    listing keeps per connection: the transient domains, the network names)."""
    with FACTS._lock:
        for cc in FACTS._conns.values():
            cc.entries.clear()
    LISTING.clear()


def measure(domains: int, rounds: int) -> dict[str, float]:
    """Medians (ms) of the four paths over `domains` domains, plus the first call of a fresh app."""
    with tempfile.TemporaryDirectory(prefix="jvp-bench-vms-") as tmp:
        inv = Path(tmp) / "inventory.xml"
        inventory(inv, domains)
        uri = f"test://{inv}"
        app = App(uri, Path(tmp) / "data", node_timeout_s=30.0)

        def api_list() -> None:
            resp = app.post("list-vms", {"node": "local"})
            assert resp.status_code == 200 and len(resp.get_json()["vms"]) == domains, resp.get_json()

        def api_cold() -> None:
            _empty_facts_cache()
            api_list()

        # The test driver keeps a separate state per connection: the direct path gets its own copy.
        conn = libvirt.open(uri)
        try:
            t0 = CLOCK()
            api_list()
            first_ms = (CLOCK() - t0) * 1000
            assert len(bulk_listing(conn)) == len(direct_table(conn)) == domains
            ms = medians_ms({"bulk": lambda: bulk_listing(conn), "warm": api_list, "cold": api_cold,
                             "table": lambda: (conn.listAllDomains(0), direct_table(conn))}, rounds)
        finally:
            conn.close()
            app.close()
    return {**ms, "first": first_ms}


def _line(name: str, measured: float, floor: float, target: float | None) -> str:
    return ratio_line(name, measured, floor, target)


def main() -> None:
    libvirt.registerErrorHandler(lambda *_: None, None)
    head = measure(DOMAINS, ROUNDS)
    print(f"   {DOMAINS} domains, test driver, median of {ROUNDS} interleaved rounds (ms of process CPU time); "
          f"{load()}")
    print(f"   {'name':<44} {'measured':>9} {'floor':>9} {'ratio':>7}  target")
    print(_line("list-vms warm / bulk listing", head["warm"], head["bulk"], WARM_TARGET))
    print(_line("list-vms cold / direct table", head["cold"], head["table"], COLD_TARGET))
    print(_line("list-vms cold / bulk listing", head["cold"], head["bulk"], None))
    print(_line("first list-vms of a fresh app / direct table", head["first"], head["table"], None))
    print(f"   scaling ({SCALE_ROUNDS} rounds each): domains, warm, cold, bulk listing, direct table (ms); "
          "warm/bulk, cold/table")
    for n in SCALE:
        ms = head if n == DOMAINS else measure(n, SCALE_ROUNDS)
        print(f"   {n:6d} {ms['warm']:9.1f} {ms['cold']:9.1f} {ms['bulk']:9.1f} {ms['table']:9.1f}   "
              f"{ms['warm'] / ms['bulk']:5.2f} {ms['cold'] / ms['table']:5.2f}")


if __name__ == "__main__":
    main()
