"""stop-vm's graceful path without libvirt: the answer says the state actually reached, including a guest that
ignores the shutdown request (`stopped: false`)."""
from __future__ import annotations

import pytest

from jvp.errors import Conflict
from jvp.service.vm.service import VmService
from tests.unit.fakes.vm import FakeGuest, FakeVmGateway, FakeVmNodes, vm_view


def service(*guests: FakeGuest) -> tuple[VmService, FakeVmGateway]:
    gw = FakeVmGateway(list(guests))
    return VmService(FakeVmNodes(), gw), gw


def test_a_guest_that_does_not_shut_down_in_time_is_reported_running():
    guest = FakeGuest(vm_view("stubborn", "running"), stops_after=None)
    svc, gw = service(guest)
    res = svc.stop("local", "stubborn", timeout_s=1)
    assert guest.shutdown_asked and ("power_vm", "stubborn", "destroy") not in gw.calls
    assert res["stopped"] is False and res["state"] == "running" and res["waited_s"] >= 1
    assert "did not shut down within 1s" in res["message"] and "force" in res["message"]


def test_a_guest_that_shuts_down_is_reported_stopped():
    svc, gw = service(FakeGuest(vm_view("polite", "running"), stops_after=2))
    res = svc.stop("local", "polite", timeout_s=30)
    assert res["stopped"] is True and res["state"] == "stopped" and 0 < res["waited_s"] < 30
    assert res["message"] == "vm 'polite' shut down after 1s"
    assert gw.calls == [("power_vm", "polite", "shutdown")]


def test_force_powers_off_at_once():
    guest = FakeGuest(vm_view("stubborn", "running"), stops_after=None)
    svc, gw = service(guest)
    res = svc.stop("local", "stubborn", force=True)
    assert gw.calls == [("power_vm", "stubborn", "destroy")] and not guest.shutdown_asked
    assert res["stopped"] is True and res["waited_s"] == 0 and res["message"] == "vm 'stubborn' powered off"


@pytest.mark.parametrize("state", ["stopped", "crashed"])
def test_stopping_a_vm_that_is_off_is_a_409(state):
    svc, gw = service(FakeGuest(vm_view("off", state)))
    with pytest.raises(Conflict) as e:
        svc.stop("local", "off")
    assert e.value.code == "InvalidState" and e.value.details["state"] == state and gw.calls == []


def test_a_paused_guest_cannot_shut_down_but_can_be_forced_off():
    svc, gw = service(FakeGuest(vm_view("p", "paused")))
    with pytest.raises(Conflict, match="resume it first"):
        svc.stop("local", "p")
    assert gw.calls == []
    assert svc.stop("local", "p", force=True)["state"] == "stopped"
