"""The node's figures, guest types and domain capabilities are read once per connection and kept for
HOST_FACTS_TTL_S (create-vm used to ask libvirt three times and parse its capabilities XML per create)."""
from __future__ import annotations

import libvirt

from jvp.hypervisor import host_caps


class CountingConnection:
    """The three libvirt calls these facts come from, over a real test-driver connection, counted."""

    def __init__(self):
        self.conn = libvirt.open("test:///default")
        self.calls: list[str] = []

    def getInfo(self):
        self.calls.append("getInfo")
        return self.conn.getInfo()

    def getCapabilities(self):
        self.calls.append("getCapabilities")
        return self.conn.getCapabilities()

    def getDomainCapabilities(self, *args):
        self.calls.append("getDomainCapabilities")
        return self.conn.getDomainCapabilities(*args)


def test_facts_are_read_once_per_connection():
    a = CountingConnection()
    figures = host_caps.node_figures(a)
    assert figures == host_caps.node_figures(a) and figures["cpus"] > 0
    figures["cpus"] = -1  # an answer is the caller's copy: changing it does not change what is kept
    assert host_caps.node_figures(a)["cpus"] > 0
    types = host_caps.guest_types(a, figures["arch"])
    assert types and host_caps.guest_types(a, figures["arch"]) == types
    caps = host_caps.domain_caps(a, types[0], figures["arch"])
    assert host_caps.domain_caps(a, types[0], figures["arch"]) == caps
    assert a.calls.count("getInfo") == 1 and a.calls.count("getCapabilities") == 1
    assert a.calls.count("getDomainCapabilities") <= 1  # the test driver may have none (then 1 failed try)
    # another arch is another question
    host_caps.guest_types(a, "aarch64")
    assert a.calls.count("getCapabilities") == 2
    # a new connection (a reconnect) asks again
    b = CountingConnection()
    host_caps.node_figures(b)
    assert b.calls == ["getInfo"]


def test_facts_older_than_the_ttl_are_read_again(monkeypatch):
    conn = CountingConnection()
    host_caps.node_figures(conn)
    monkeypatch.setattr(host_caps, "HOST_FACTS_TTL_S", 0.0)
    host_caps.node_figures(conn)
    assert conn.calls == ["getInfo", "getInfo"]
