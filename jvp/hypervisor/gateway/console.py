"""Console operations of the node gateway (see base.py for the rules every operation follows): where a VM's
consoles are, the route from this host to its VNC display (and whether a remote node is this very host),
and the byte channels to a display or a serial console."""
from __future__ import annotations

from typing import Callable

from jvp.domain.console import LiveConsoles, VncRoute
from jvp.domain.node import LOCAL
from jvp.errors import JvpError
from jvp.hypervisor import console
from jvp.hypervisor.connection import NodeConnection
from jvp.hypervisor.console_stream import SerialStream
from jvp.hypervisor.gateway.base import GatewayBase
from jvp.hypervisor.ssh_tunnel import SshTunnelChannel, open_tunnel


class ConsoleOps(GatewayBase):
    # How a libvirtd says which host it is; an attribute so that tests can make two test drivers one host.
    host_identity: Callable[..., console.HostIdentity] = staticmethod(console.host_identity)

    def live_consoles(self, node: str, name: str) -> LiveConsoles:
        """The VM's state and console devices, from one read of its live XML."""
        return self._read(node, lambda c: console.live_consoles(c, name), kind="vm", obj=name)

    def console_vm_state(self, node: str, name: str) -> str:
        """The VM's state, 'undefined' once it is gone (a transient domain destroyed)."""
        return self._read(node, lambda c: console.domain_state(c, name), kind="vm", obj=name)

    def vnc_route(self, node: str, live: LiveConsoles, name: str) -> VncRoute:
        """How this host reaches the VM's VNC display (ConsoleNotAvailable when it cannot)."""
        assert live.vnc is not None
        _, uri = self._locate(node)
        return console.vnc_route(live.vnc, console.node_transport(uri), name, node,
                                 this_host=lambda: self._not_this_host(node, uri, live))

    def _not_this_host(self, node: str, uri: str, live: LiveConsoles) -> str | None:
        """None when the (remote-transport) node is shown to be this very host; else why not."""
        here_uri = console.local_twin_uri(uri)
        if here_uri is None:
            return "only the qemu driver's /system and /session have a host to compare"
        if live.uuid is None or live.vnc is None:
            return "the domain's UUID is unknown"
        uuid, ep = live.uuid, live.vnc
        try:
            here = self.this_host_connection(here_uri)
            return self._read(node, lambda c: here.call(
                lambda lc: console.this_host_mismatch(c, lc, uuid, ep, identity=self.host_identity), retry=True),
                kind="node", obj=node)
        except JvpError as exc:
            return f"could not compare it with this host's libvirtd ({here_uri}): {exc.message}"

    def this_host_connection(self, uri: str) -> NodeConnection:
        """A connection to this host's own libvirtd: the local node's when it is that URI, else a pooled one."""
        if self._locate(LOCAL)[1] == uri:
            return self.connection(LOCAL)
        return self._connections.get(f"this host ({uri})", uri)

    def open_serial(self, node: str, name: str) -> SerialStream:
        """A stream to the VM's serial console (libvirt's virDomainOpenConsole)."""
        return self._write(node, lambda c: SerialStream(c, name), kind="vm", obj=name)

    def connect_vnc(self, node: str, route: VncRoute, name: str, timeout_s: float
                    ) -> console.SocketChannel | SshTunnelChannel:
        """A byte channel to the VNC display along `route`: TCP, the unix socket, or an SSH tunnel through
        the node (ConsoleUnreachable 502 when it does not answer; SSH host key and credential errors)."""
        target = route.path if route.via == "unix" else f"{route.host}:{route.port}"
        if route.via == "ssh":
            _, uri = self._locate(node)
            return open_tunnel(console.node_transport(uri), node, route.host or "127.0.0.1", route.port or 0,
                               timeout_s)
        try:
            if route.via == "unix":
                return console.connect_unix(route.path or "", timeout_s)
            return console.connect_tcp(route.host or "127.0.0.1", route.port or 0, timeout_s)
        except OSError as exc:
            raise JvpError(f"cannot connect to the VNC display of vm '{name}' on node '{node}' at {target}: "
                           f"{exc.strerror or exc}", code="ConsoleUnreachable", status=502,
                           details={"vm": name, "node": node, "endpoint": target}) from exc
