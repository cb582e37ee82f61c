"""Fakes for the console service: the node gateway's console operations (no libvirt, no sockets) and the
node service's record."""
from __future__ import annotations

from jvp.domain.console import ConsoleGrant, LiveConsoles, SerialDevice, VncEndpoint, VncRoute
from jvp.domain.node import NodeRecord


class FakeChannel:
    def __init__(self, what: str):
        self.what = what
        self.closed = False

    def recv(self) -> bytes:
        return b""

    def send(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeConsoleNodes:
    def record(self, name: str) -> NodeRecord:
        return NodeRecord(name=name, uri="qemu:///system")


class FakeConsoleGateway:
    """The console operations of NodeGateway for one VM whose consoles and states the test sets."""

    def __init__(self, live: LiveConsoles, route: VncRoute | None = None, states: list[str] = ()):
        self.live = live
        self.route = route or VncRoute(via="tcp", host="127.0.0.1", port=5900)
        self.states = list(states)  # what console_vm_state answers, one per call (the last one repeats)
        self.channels: list[FakeChannel] = []

    def live_consoles(self, node: str, name: str) -> LiveConsoles:
        return self.live

    def console_vm_state(self, node: str, name: str) -> str:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def vnc_route(self, node: str, live: LiveConsoles, name: str) -> VncRoute:
        return self.route

    def open_serial(self, node: str, name: str) -> FakeChannel:
        self.channels.append(FakeChannel("serial"))
        return self.channels[-1]

    def connect_vnc(self, node: str, route: VncRoute, name: str, timeout_s: float) -> FakeChannel:
        self.channels.append(FakeChannel(f"vnc {route.via} {route.host}:{route.port}"))
        return self.channels[-1]


class FakeConsoleTokens:
    def __init__(self):
        self.issued: list[ConsoleGrant] = []

    def issue(self, node: str, vm: str, type_: str, role: str, token_name: str | None):
        grant = ConsoleGrant(node=node, vm=vm, type=type_, role=role, token_name=token_name,
                             expires_at="2030-01-01T00:00:00Z")
        self.issued.append(grant)
        return f"ct-{len(self.issued)}", grant


def running(vnc: VncEndpoint | None = VncEndpoint(kind="tcp", address="127.0.0.1", port=5900),
            serial: SerialDevice | None = SerialDevice(element="serial", type="pty", path="/dev/pts/3"),
            state: str = "running") -> LiveConsoles:
    return LiveConsoles(state=state, active=state in ("running", "paused"), vnc=vnc, serial=serial, uuid="u-1")
