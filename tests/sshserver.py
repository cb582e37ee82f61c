"""A real SSH server (paramiko, loopback only) that accepts one client key and forwards direct-tcpip channels:
the node side of JVP's VNC tunnel, for machines without sshd. The protocol, host-key check and forwarding
are the real thing; only the daemon is a test double."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import paramiko


class _Policy(paramiko.ServerInterface):
    def __init__(self, user: str, key: paramiko.PKey, opened: list):
        self.user, self.key, self.opened = user, key, opened
        self.upstreams: dict[int, socket.socket] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == self.user and key.asbytes() == self.key.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin, destination) -> int:
        # like sshd: connect first, and refuse the channel when the destination does not answer
        try:
            self.upstreams[chanid] = socket.create_connection(destination, timeout=5)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        self.opened.append(destination)
        return paramiko.OPEN_SUCCEEDED


class SshForwarder:
    """Listens on 127.0.0.1:<port>; `known_hosts_line` is what a client must trust; the client key is in
    `key_file` (give it as the URI's keyfile)."""

    def __init__(self, tmp: Path, user: str = "root"):
        self.host_key = paramiko.ECDSAKey.generate()
        self.client_key = paramiko.ECDSAKey.generate()
        self.key_file = tmp / "client_key"
        self.client_key.write_private_key_file(str(self.key_file))
        self.user = user
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.opened: list[tuple[str, int]] = []
        self._transports: list[paramiko.Transport] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        t = paramiko.Transport(conn)
        self._transports.append(t)
        t.add_server_key(self.host_key)
        policy = _Policy(self.user, self.client_key, self.opened)
        try:
            t.start_server(server=policy)
        except (paramiko.SSHException, EOFError, OSError):
            return
        while t.is_active():
            chan = t.accept(timeout=1)
            if chan is None:
                continue
            upstream = policy.upstreams.pop(chan.get_id())
            upstream.settimeout(None)
            threading.Thread(target=self._pump, args=(chan, upstream), daemon=True).start()
            threading.Thread(target=self._pump_back, args=(upstream, chan), daemon=True).start()

    @staticmethod
    def _pump(chan: paramiko.Channel, upstream: socket.socket) -> None:
        try:
            while data := chan.recv(65536):
                upstream.sendall(data)
        except (OSError, EOFError):
            pass  # either end went away: that ends the forwarding
        finally:
            upstream.close()

    @staticmethod
    def _pump_back(upstream: socket.socket, chan: paramiko.Channel) -> None:
        try:
            while data := upstream.recv(65536):
                chan.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            try:
                chan.close()
            except (OSError, EOFError):
                pass  # the SSH connection is already gone

    def close(self) -> None:
        self.sock.close()
        for t in self._transports:
            t.close()
