"""hypervisor/events.py: one libvirt registration per connection, fanned out to every subscriber."""
from __future__ import annotations

import threading

import libvirt

from jvp.hypervisor.connection import start_event_loop
from jvp.hypervisor.events import DomainEvents


class Recorder:
    def __init__(self) -> None:
        self.events = []
        self.seen = threading.Event()

    def __call__(self, event) -> None:
        self.events.append(event)
        self.seen.set()


def test_every_subscriber_sees_a_domain_change_once_and_libvirt_is_asked_once():
    start_event_loop()
    conn = libvirt.open("test:///default")
    try:
        calls = []
        real = conn.domainEventRegisterAny

        def counting(*args):
            calls.append(args[1])
            return real(*args)
        conn.domainEventRegisterAny = counting
        events = DomainEvents()
        first, second = Recorder(), Recorder()

        def broken(_event):
            raise RuntimeError("a subscriber that fails")
        assert events.subscribe(conn, first) is True
        assert events.subscribe(conn, broken) is True
        assert events.subscribe(conn, second) is True
        assert len(calls) == 4  # lifecycle, metadata, device added/removed: once, not once per subscriber
        dom = conn.lookupByName("test")
        dom.suspend()
        assert first.seen.wait(5) and second.seen.wait(5)
        ev = first.events[0]
        assert (ev.name, ev.kind, ev.change, ev.uuid) == ("test", "lifecycle", "suspended", dom.UUIDString())
        assert second.events[0] == ev  # the failing subscriber did not stop the one after it
        dom.resume()
    finally:
        conn.close()


def test_a_driver_without_events_says_so():
    class NoEvents:
        def domainEventRegisterAny(self, *args):
            raise libvirt.libvirtError("this function is not supported by the connection driver")
    events = DomainEvents()
    conn = NoEvents()
    assert events.subscribe(conn, Recorder()) is False
    assert events.subscribe(conn, Recorder()) is False
