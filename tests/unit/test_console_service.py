"""ConsoleService rules on a fake node gateway (tests/unit/fakes/console.py): what get-vm-console checks
before a token is handed out, which channel a session opens, and why a console ended."""
from __future__ import annotations

import pytest

from jvp.domain.console import ConsoleGrant, SerialDevice, VncEndpoint, VncRoute
from jvp.domain.principal import Principal, Role
from jvp.errors import JvpError
from jvp.service.console.relay import CLOSE_CONSOLE_ENDED, CLOSE_VM_STOPPED
from jvp.service.console.service import ConsoleService, ConsoleSession
from tests.unit.fakes.console import (FakeChannel, FakeConsoleGateway, FakeConsoleNodes, FakeConsoleTokens,
                                      running)

OPERATOR = Principal(name="ops", role=Role.OPERATOR)


def service(gw: FakeConsoleGateway, tokens: FakeConsoleTokens | None = None) -> ConsoleService:
    return ConsoleService(FakeConsoleNodes(), gw, tokens or FakeConsoleTokens(), api_tokens=None, auth=False,
                          idle_timeout_s=60, max_sessions=2, connect_timeout_s=1.0, stop_settle_s=0.0)


def code_of(fn, *a):
    with pytest.raises(JvpError) as exc:
        fn(*a)
    return exc.value.code


def test_issue_checks_the_vm_and_the_display_before_a_token():
    tokens = FakeConsoleTokens()
    svc = service(FakeConsoleGateway(running(state="shutoff")), tokens)
    assert code_of(svc.issue, "local", "vm1", "vnc", OPERATOR) == "InvalidState"
    svc = service(FakeConsoleGateway(running(vnc=None, serial=None)), tokens)
    assert code_of(svc.issue, "local", "vm1", "vnc", OPERATOR) == "ConsoleNotAvailable"
    assert code_of(svc.issue, "local", "vm1", "serial", OPERATOR) == "ConsoleNotAvailable"
    svc = service(FakeConsoleGateway(running(vnc=VncEndpoint(kind="none"),
                                             serial=SerialDevice(element="serial", type="file", path="/x"))), tokens)
    assert code_of(svc.issue, "local", "vm1", "vnc", OPERATOR) == "ConsoleNotAvailable"
    assert code_of(svc.issue, "local", "vm1", "serial", OPERATOR) == "ConsoleNotAvailable"
    assert tokens.issued == []


def test_issue_opens_and_closes_the_vnc_connection_it_will_use():
    gw = FakeConsoleGateway(running(), route=VncRoute(via="ssh", host="127.0.0.1", port=5901))
    out = service(gw).issue("local", "vm1", "vnc", OPERATOR)
    assert out["ws_url"].startswith("/ws/vnc?token=ct-1") and out["type"] == "vnc"
    assert [(c.what, c.closed) for c in gw.channels] == [("vnc ssh 127.0.0.1:5901", True)]
    service(gw).issue("local", "vm1", "serial", OPERATOR)
    assert len(gw.channels) == 1  # a serial console is checked by its device, not opened


def test_open_picks_the_channel_of_the_grant():
    gw = FakeConsoleGateway(running())
    svc = service(gw)
    grant = ConsoleGrant(node="local", vm="vm1", type="serial", role="operator", token_name=None,
                         expires_at="2030-01-01T00:00:00Z")
    assert svc.open(grant).route == "serial-stream"
    vnc = svc.open(ConsoleGrant(**{**grant.to_doc(), "type": "vnc"}))
    assert vnc.route == "tcp" and vnc.channel.what == "vnc tcp 127.0.0.1:5900"


@pytest.mark.parametrize("type_,states,code,who", [
    ("vnc", ["running", "stopped"], CLOSE_VM_STOPPED, "vm"),
    ("vnc", ["running"], CLOSE_CONSOLE_ENDED, "console"),
    ("serial", ["undefined"], CLOSE_VM_STOPPED, "vm"),
    ("serial", ["paused"], CLOSE_CONSOLE_ENDED, "console"),
])
def test_why_a_console_ended(type_, states, code, who):
    gw = FakeConsoleGateway(running(), states=states)
    svc = service(gw)
    svc.stop_settle_s = 0.3 if len(states) > 1 else 0.0
    grant = ConsoleGrant(node="local", vm="vm1", type=type_, role="operator", token_name=None,
                         expires_at="2030-01-01T00:00:00Z")
    got = svc._end_reason(ConsoleSession(grant, FakeChannel(type_), "tcp"))()
    assert (got[0], got[2]) == (code, who)
