"""list-vms through JVP's API over 1,000 domains (libvirt's test driver) vs direct libvirt listing.

The API path is the whole Flask app in-process (auth, validation, the per-node worker, response schema,
JSON). The direct path is what a libvirt-python script does to print the same table (name, uuid, state,
vCPUs, memory, labels, IPs): listAllDomains, one getAllDomainStats, and one XMLDesc per domain (labels and
MACs live only in the XML). The bulk-only figure (listAllDomains + getAllDomainStats, no XML) is printed
too, for scale. Median of a few rounds each, from one run; target: API / direct <= 2.0.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import libvirt
from lxml import etree

from jvp.hypervisor.domain_xml import NS
from jvp.settings import load_settings

DOMAINS = 1000
ROUNDS = 7
STATS = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON


def inventory(path: Path) -> None:
    """A test-driver node with DOMAINS domains (a third running), each with a disk, a NIC and JVP facts."""
    node = etree.Element("node")
    cpu = etree.SubElement(node, "cpu")
    for tag, value in (("nodes", 1), ("sockets", 2), ("cores", 16), ("threads", 2), ("active", 64),
                       ("mhz", 2400), ("model", "x86_64")):
        etree.SubElement(cpu, tag).text = str(value)
    etree.SubElement(node, "memory").text = str(512 * 2**20)
    for i in range(DOMAINS):
        dom = etree.SubElement(node, "domain", type="test",
                               nsmap={"test": "http://libvirt.org/schemas/domain/test/1.0"})
        etree.SubElement(dom, "name").text = f"vm{i:04d}"
        meta = etree.SubElement(etree.SubElement(dom, "metadata"), f"{{{NS}}}vm", nsmap={"jvp": NS})
        etree.SubElement(meta, f"{{{NS}}}created-at").text = "2026-01-01T00:00:00Z"
        labels = etree.SubElement(meta, f"{{{NS}}}labels")
        etree.SubElement(labels, f"{{{NS}}}label", key="env").text = "prod" if i % 2 else "dev"
        etree.SubElement(dom, "memory", unit="MiB").text = "1024"
        etree.SubElement(dom, "vcpu").text = "2"
        etree.SubElement(etree.SubElement(dom, "os"), "type", arch="x86_64").text = "hvm"
        devices = etree.SubElement(dom, "devices")
        disk = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(disk, "source", file=f"/var/lib/bench/vm{i:04d}.qcow2")
        etree.SubElement(disk, "target", dev="vda", bus="virtio")
        nic = etree.SubElement(devices, "interface", type="network")
        etree.SubElement(nic, "mac", address=f"52:54:00:00:{i // 256:02x}:{i % 256:02x}")
        etree.SubElement(nic, "source", network="benchnet")
        etree.SubElement(dom, "{http://libvirt.org/schemas/domain/test/1.0}runstate").text = "1" if i % 3 == 0 else "5"
    net = etree.SubElement(node, "network")
    etree.SubElement(net, "name").text = "benchnet"
    etree.SubElement(net, "bridge", name="benchbr0")
    ip = etree.SubElement(net, "ip", address="198.18.64.1", netmask="255.255.192.0")
    etree.SubElement(etree.SubElement(ip, "dhcp"), "range", start="198.18.64.10", end="198.18.127.250")
    path.write_bytes(etree.tostring(node, xml_declaration=True))


def _median_ms(fn) -> float:
    fn()
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def direct_table(conn: libvirt.virConnect) -> list[tuple]:
    rows = []
    for dom, st in conn.getAllDomainStats(STATS, 0):
        root = etree.fromstring(dom.XMLDesc(0).encode())
        labels = {lb.get("key"): lb.text for lb in root.iter(f"{{{NS}}}label")}
        macs = [m.get("address") for m in root.iter("mac")]
        rows.append((dom.name(), dom.UUIDString(), st.get("state.state"), root.findtext("vcpu"),
                     root.findtext("memory"), labels, macs))
    return rows


def main() -> None:
    from jvp.app import create_app
    libvirt.registerErrorHandler(lambda *_: None, None)
    with tempfile.TemporaryDirectory(prefix="jvp-bench-vms-") as tmp:
        inv = Path(tmp) / "inventory.xml"
        inventory(inv)
        uri = f"test://{inv}"
        settings = load_settings(config_path=os.devnull, env={}, overrides={
            "data_dir": str(Path(tmp) / "data"), "local_uri": uri, "listen": "127.0.0.1:7777",
            "node_timeout_s": 30.0})
        app = create_app(settings)
        services = app.extensions["jvp"]
        token = services.tokens.create("bench", "viewer")[0]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def api_list() -> None:
            resp = client.post("/api/list-vms", json={"node": "local"}, headers=headers)
            assert resp.status_code == 200 and len(resp.get_json()["vms"]) == DOMAINS, resp.get_json()

        # The test driver keeps a separate state per connection: the direct path gets its own copy.
        conn = libvirt.open(uri)
        try:
            assert len(direct_table(conn)) == DOMAINS
            bulk_ms = _median_ms(lambda: (conn.listAllDomains(0), conn.getAllDomainStats(STATS, 0)))
            direct_ms = _median_ms(lambda: (conn.listAllDomains(0), direct_table(conn)))
            api_ms = _median_ms(api_list)
        finally:
            conn.close()
            services.close()
    print(f"   {DOMAINS} domains, test driver, median of {ROUNDS}")
    print(f"   list-vms through the API:                    {api_ms:8.1f} ms")
    print(f"   direct libvirt, same table (stats + XML):    {direct_ms:8.1f} ms")
    print(f"   direct libvirt, bulk calls only (no XML):    {bulk_ms:8.1f} ms")
    print(f"   ratio API / direct: {api_ms / direct_ms:.2f} (target <= 2.0); API / bulk-only: "
          f"{api_ms / bulk_ms:.2f}")


if __name__ == "__main__":
    main()
