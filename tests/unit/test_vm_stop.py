"""stop-vm's graceful path without libvirt: the answer says the state actually reached, including a guest that
ignores the shutdown request (`stopped: false`)."""
from __future__ import annotations

from types import SimpleNamespace

import libvirt

from jvp.service.vm.service import VmService


class Guest:
    """A domain that stays running for `stops_after` state polls after shutdown() (None: never stops)."""

    def __init__(self, stops_after: int | None):
        self.stops_after = stops_after
        self.shutdown_asked = False
        self.destroyed = False
        self.polls = 0

    def UUIDString(self):  # noqa: N802 - libvirt's name
        return "00000000-0000-4000-8000-000000000001"

    def shutdown(self):
        self.shutdown_asked = True

    def destroy(self):
        self.destroyed = True

    def state(self):
        if self.shutdown_asked:
            self.polls += 1
        off = self.destroyed or (self.shutdown_asked and self.stops_after is not None
                                 and self.polls > self.stops_after)
        return [libvirt.VIR_DOMAIN_SHUTOFF if off else libvirt.VIR_DOMAIN_RUNNING, 0]


class Nodes:
    def __init__(self, guest: Guest):
        self.conn = type("Conn", (), {"lookupByName": lambda _self, name: guest})()

    def call(self, node, fn, **_kw):
        return fn(self.conn)


def service(mocker, guest: Guest) -> VmService:
    mocker.patch("jvp.service.vm.service.domain.describe",
                 side_effect=lambda conn, node, name: SimpleNamespace(name=name, state=None))
    return VmService(Nodes(guest))


def test_a_guest_that_does_not_shut_down_in_time_is_reported_running(mocker):
    guest = Guest(stops_after=None)
    res = service(mocker, guest).stop("local", "stubborn", timeout_s=1)
    assert guest.shutdown_asked and not guest.destroyed
    assert res["stopped"] is False and res["state"] == "running" and res["waited_s"] >= 1
    assert "did not shut down within 1s" in res["message"] and "force" in res["message"]


def test_a_guest_that_shuts_down_is_reported_stopped(mocker):
    guest = Guest(stops_after=2)
    res = service(mocker, guest).stop("local", "polite", timeout_s=30)
    assert res["stopped"] is True and res["state"] == "stopped" and 0 < res["waited_s"] < 30
    assert not guest.destroyed


def test_force_powers_off_at_once(mocker):
    guest = Guest(stops_after=None)
    res = service(mocker, guest).stop("local", "stubborn", force=True)
    assert guest.destroyed and not guest.shutdown_asked
    assert res["stopped"] is True and res["waited_s"] == 0
