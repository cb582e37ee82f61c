"""libvirt's event loop with its pause (connection.LOOP_PAUSE_S), on the real qemu:///system (tier 3): calls on
a connection tied to the loop finish without waking it (libvirt switches the socket's watch off and on around
each call, which woke the loop twice per call before the pause), and events still arrive while it pauses."""
from __future__ import annotations

import threading
import time
import uuid

import libvirt
import pytest
from lxml import etree

from jvp.hypervisor import connection

pytestmark = pytest.mark.host
CALLS = 200


def test_calls_do_not_wake_the_paused_loop_and_events_still_arrive(real_libvirt, monkeypatch):
    # A long pause makes the property visible without timing the calls: with the loop asleep LOOP_PAUSE_S
    # after every iteration, it runs at most once per pause however many calls are made meanwhile; without
    # it, each call's two watch switches would have woken it (2 * CALLS iterations).
    monkeypatch.setattr(connection, "LOOP_PAUSE_S", 0.2)
    conn = connection.open_libvirt("qemu:///system")
    try:
        conn.setKeepAlive(connection.KEEPALIVE_INTERVAL_S, connection.KEEPALIVE_COUNT)  # as JVP's connections
        seen = threading.Event()
        name = f"jvptest-loop-{uuid.uuid4().hex[:8]}"

        def on_event(_conn, dom, _event, _detail, _opaque) -> None:
            if dom.name() == name:
                seen.set()

        cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None)
        try:
            start, before = time.monotonic(), connection._iterations
            for _ in range(CALLS):
                conn.getLibVersion()
            iterations, elapsed = connection._iterations - before, time.monotonic() - start
            assert iterations <= elapsed / 0.2 + 2 < CALLS, (iterations, elapsed)
            # an event another client causes is still delivered by the paused loop
            other = libvirt.open("qemu:///system")
            try:
                root = etree.Element("domain", type="qemu")
                etree.SubElement(root, "name").text = name
                etree.SubElement(root, "memory", unit="MiB").text = "64"
                os_el = etree.SubElement(root, "os")
                etree.SubElement(os_el, "type").text = "hvm"
                dom = other.defineXML(etree.tostring(root, encoding="unicode"))
                try:
                    assert seen.wait(30), "the define's event never arrived"
                finally:
                    dom.undefine()
            finally:
                other.close()
        finally:
            conn.domainEventDeregisterAny(cb)
    finally:
        conn.close()
