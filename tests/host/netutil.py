"""Helpers for the real-host network tests: free test subnets, cleanup, veth pairs, dnsmasq's files.

Test networks live in 198.19.0.0/16 (the upper half of 198.18.0.0/15, which HOST-NOTES reserves for tests;
other sessions tend to use 198.18.x), are isolated or NAT only, and are removed in `finally` blocks.
"""
from __future__ import annotations

import ipaddress
import os
import random
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import libvirt
from pyroute2 import IPRoute

from jvp.hostnet import HostNetwork
from jvp.hostnet.netlink import run_netlink
from jvp.hypervisor import network as hv

DNSMASQ = Path("/var/lib/libvirt/dnsmasq")
TEST_SPACE = ipaddress.ip_network("198.19.0.0/16")


def conn() -> libvirt.virConnect:
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt.open("qemu:///system")


def _taken() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    c = conn()
    try:
        taken = [ipaddress.ip_network(s) for n in hv.list_networks(c) for s in n.subnets]
    finally:
        c.close()
    return taken + [ipaddress.ip_interface(a).network for _, a in HostNetwork().addresses()]


def subnet_is_free(subnet: str) -> bool:
    """No libvirt network and no host address touches the subnet."""
    net = ipaddress.ip_network(subnet)
    return not any(net.version == t.version and net.overlaps(t) for t in _taken())


def free_subnets(count: int = 1) -> list[ipaddress.IPv4Network]:
    """Free /24s in the test space, picked at random so that two sessions running at once rarely reach for
    the same one."""
    taken = _taken()
    candidates = list(TEST_SPACE.subnets(new_prefix=24))
    random.shuffle(candidates)
    free = [s for s in candidates if not any(s.version == t.version and s.overlaps(t) for t in taken)]
    return free[:count]


def host(subnet: ipaddress.IPv4Network, n: int) -> str:
    return str(subnet.network_address + n)


def drop_network(name: str) -> None:
    c = conn()
    try:
        net = c.networkLookupByName(name)
        if net.isActive():
            net.destroy()
        if net.isPersistent():
            net.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
            raise
    finally:
        c.close()


def drop_domain(name: str) -> None:
    c = conn()
    try:
        dom = c.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    finally:
        c.close()


def network_exists(name: str) -> bool:
    c = conn()
    try:
        return name in [n.name() for n in c.listAllNetworks(0)]
    finally:
        c.close()


def short_name(prefix: str = "jvpt") -> str:
    """Interface names are at most 15 characters: jvpt + 6 hex digits (+ one suffix letter for peers)."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"


# IPRoute calls go through JVP's netlink thread: pyroute2 cannot run where an asyncio loop already runs
# (the browser tier's Playwright thread).
def link_exists(name: str) -> bool:
    def run() -> bool:
        with IPRoute() as ipr:
            return bool(ipr.link_lookup(ifname=name))
    return run_netlink(run)


def link_master(name: str) -> int | None:
    def run() -> int | None:
        with IPRoute() as ipr:
            (msg,) = ipr.get_links(ipr.link_lookup(ifname=name)[0])
            return msg.get("IFLA_MASTER")
    return run_netlink(run)


def delete_link(name: str) -> None:
    def run() -> None:
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=name):
                ipr.link("del", index=index)
    run_netlink(run)


@contextmanager
def veth(address: str | None = None) -> Iterator[str]:
    """A veth pair of this test's own (never a real NIC); its peer goes with it when it is deleted."""
    name = short_name()

    def make() -> None:
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="veth", peer=f"{name}p")
            index = ipr.link_lookup(ifname=name)[0]
            if address:
                ip, prefix = address.split("/")
                ipr.addr("add", index=index, address=ip, prefixlen=int(prefix))
    run_netlink(make)
    try:
        yield name
    finally:
        delete_link(name)


def dnsmasq_conf(name: str) -> str:
    return (DNSMASQ / f"{name}.conf").read_text()


def dnsmasq_hosts(name: str) -> str:
    path = DNSMASQ / f"{name}.hostsfile"
    return path.read_text() if path.exists() else ""


def dnsmasq_running(name: str) -> bool:
    """The pid libvirt recorded belongs to a live dnsmasq reading this network's config file."""
    pidfile = Path(f"/run/libvirt/network/{name}.pid")
    if not pidfile.exists():
        return False
    pid = pidfile.read_text().strip()
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.path.basename(cmdline[0]) == b"dnsmasq" and f"--conf-file={DNSMASQ}/{name}.conf".encode() in cmdline
