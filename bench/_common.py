"""What the benchmark modules share: test-driver inventories, JVP's app in-process, interleaved medians, the
printed lines, and the real-host helpers (root check, removing a benchmark's pools).

Not a benchmark itself (`python -m bench` skips modules whose name starts with `_`)."""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import libvirt
from lxml import etree

# The CPU time of this process (every thread: the API's fan-out worker, and libvirt's test driver, which runs
# in the process), not the wall time: on a shared host the wall time of a round mostly says how long it waited
# for a core. Both paths of a comparison run here, so both are measured alike.
CLOCK = time.process_time
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


# -- libvirt test-driver inventories ----------------------------------------------------------------------
def node_element() -> etree._Element:
    """The <node> of a test-driver inventory file: a 64-thread, 512 GiB host with nothing on it yet."""
    node = etree.Element("node")
    cpu = etree.SubElement(node, "cpu")
    for tag, value in (("nodes", 1), ("sockets", 2), ("cores", 16), ("threads", 2), ("active", 64),
                       ("mhz", 2400), ("model", "x86_64")):
        etree.SubElement(cpu, tag).text = str(value)
    etree.SubElement(node, "memory").text = str(512 * 2**20)
    return node


def add_domain(node: etree._Element, i: int, *, disk: str, mac: str, network: str,
               metadata: Callable[[etree._Element], None] | None = None, driver: str | None = None) -> None:
    """Domain `vm{i:04d}` (running when i % 3 == 0, else stopped): 1 GiB, 2 vCPUs, one file disk (`driver`:
    its format, when the driver element is wanted) and one NIC on `network`; `metadata(metadata_element)`
    adds JVP's facts."""
    dom = etree.SubElement(node, "domain", type="test", nsmap={"test": TEST_NS})
    etree.SubElement(dom, "name").text = f"vm{i:04d}"
    if metadata is not None:
        metadata(etree.SubElement(dom, "metadata"))
    etree.SubElement(dom, "memory", unit="MiB").text = "1024"
    etree.SubElement(dom, "vcpu").text = "2"
    etree.SubElement(etree.SubElement(dom, "os"), "type", arch="x86_64").text = "hvm"
    devices = etree.SubElement(dom, "devices")
    d = etree.SubElement(devices, "disk", type="file", device="disk")
    if driver:
        etree.SubElement(d, "driver", name="qemu", type=driver)
    etree.SubElement(d, "source", file=disk)
    etree.SubElement(d, "target", dev="vda", bus="virtio")
    nic = etree.SubElement(devices, "interface", type="network")
    etree.SubElement(nic, "mac", address=mac)
    etree.SubElement(nic, "source", network=network)
    etree.SubElement(dom, f"{{{TEST_NS}}}runstate").text = "1" if i % 3 == 0 else "5"


def add_network(node: etree._Element, name: str, bridge: str, address: str, netmask: str, start: str,
                end: str) -> None:
    net = etree.SubElement(node, "network")
    etree.SubElement(net, "name").text = name
    etree.SubElement(net, "bridge", name=bridge)
    ip = etree.SubElement(net, "ip", address=address, netmask=netmask)
    etree.SubElement(etree.SubElement(ip, "dhcp"), "range", start=start, end=end)


def add_pool(node: etree._Element, name: str, path: str, volumes: list[tuple[str, str]],
             sizes_gib: tuple[int, int, int] | None = None) -> None:
    """A dir pool of qcow2 volumes ((name, path) each: 20 GiB, 2 GiB allocated when `sizes_gib` is given as
    the pool's (capacity, allocation, available))."""
    pool = etree.SubElement(node, "pool", type="dir")
    etree.SubElement(pool, "name").text = name
    if sizes_gib is not None:
        for tag, value in zip(("capacity", "allocation", "available"), sizes_gib):
            etree.SubElement(pool, tag, unit="GiB").text = str(value)
    etree.SubElement(etree.SubElement(pool, "target"), "path").text = path
    for vol_name, vol_path in volumes:
        vol = etree.SubElement(pool, "volume", type="file")
        etree.SubElement(vol, "name").text = vol_name
        etree.SubElement(vol, "capacity", unit="GiB").text = "20"
        if sizes_gib is not None:
            etree.SubElement(vol, "allocation", unit="GiB").text = "2"
        target = etree.SubElement(vol, "target")
        etree.SubElement(target, "path").text = vol_path
        etree.SubElement(target, "format", type="qcow2")


def write_inventory(node: etree._Element, path: Path) -> None:
    path.write_bytes(etree.tostring(node, xml_declaration=True))


# -- JVP in-process ----------------------------------------------------------------------------------------
class App:
    """JVP's whole Flask app in-process (test client: auth, validation, the gateway, the answer's dump) on
    `uri`, its data under `data_dir`, called with a token of `role`."""

    def __init__(self, uri: str, data_dir: Path, role: str = "viewer", **overrides: Any):
        from jvp.app import create_app
        from jvp.settings import load_settings
        settings = load_settings(config_path=os.devnull, env={}, overrides={
            "data_dir": str(data_dir), "local_uri": uri, "listen": "127.0.0.1:7777", **overrides})
        self.uri = uri
        self.app = create_app(settings)
        self.services = self.app.extensions["jvp"]
        self.token = self.services.tokens.create("bench", role)[0]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.client = self.app.test_client()

    def post(self, action: str, body: dict[str, Any]) -> Any:
        """The raw test-client response."""
        return self.client.post(f"/api/{action}", json=body, headers=self.headers)

    def call(self, action: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        resp = self.post(action, body)
        if resp.status_code != status:
            raise RuntimeError(f"{action}: {resp.status_code} {resp.get_data(as_text=True)}")
        return resp.get_json()

    def connection(self) -> libvirt.virConnect:
        """The gateway's own connection to the local node (the one JVP's caches are kept for)."""
        return self.services.gateway.run_raw("local", lambda c: c)

    def close(self) -> None:
        self.services.close()


# -- timing and printing -----------------------------------------------------------------------------------
def medians_ms(fns: dict[str, Callable[[], Any]], rounds: int, clock: Callable[[], float] = CLOCK,
               warm_up: bool = True) -> dict[str, float]:
    """Each fn once unmeasured (unless warm_up is False), then `rounds` rounds of all of them in turn
    (interleaved, so a load spike on a shared host hits every path alike); the median of each, in ms."""
    if warm_up:
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            t0 = clock()
            fn()
            samples[key].append(clock() - t0)
    return {k: statistics.median(v) * 1000 for k, v in samples.items()}


def load() -> str:
    """`load average X (N CPUs)`: what the host was doing, printed beside every figure."""
    return f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)"


def ratio_line(name: str, measured: float, floor: float, target: float | None, *, width: int = 44,
               digits: int = 1, above: str = "ABOVE") -> str:
    """`name measured floor ratio target`, the line every bench prints (target None: for scale only)."""
    ratio = measured / floor if floor else float("nan")
    verdict = f"<= {target:.1f} {'OK' if ratio <= target else above}" if target else "(scale)"
    return f"   {name:<{width}} {measured:9.{digits}f} {floor:9.{digits}f} {ratio:7.2f}  {verdict}"


# -- the real host -----------------------------------------------------------------------------------------
def needs_root() -> bool:
    """True (and says so) when this is not root: the real-host benchmarks need root and the local libvirtd."""
    if os.geteuid() != 0:
        print("   skipped: needs root and the local libvirtd")
        return True
    return False


def drop_pools(conn: libvirt.virConnect, names: list[str]) -> None:
    """Remove the named pools and every volume in them, whatever state they are in (a benchmark's cleanup)."""
    for name in names:
        try:
            p = conn.storagePoolLookupByName(name)
            if p.isActive():
                for v in p.listAllVolumes(0):
                    v.delete(0)
                p.destroy()
            p.undefine()
        except libvirt.libvirtError:
            pass
