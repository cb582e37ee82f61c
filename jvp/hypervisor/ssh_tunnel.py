"""An SSH tunnel (paramiko `direct-tcpip` channel) to a VNC listener on a node reached over qemu+ssh.

The only way JVP talks to a node other than through libvirt (SPEC 2.1): VNC listens on the node's loopback,
and libvirt has no API that carries a remote display. One SSH connection per console session, closed with it.

Host keys are checked, never learned (paramiko's RejectPolicy): the node must already be in a known_hosts
file. Which files: the URI's `known_hosts` parameter when it has one (libvirt's own parameter for its libssh
transports), else the ones OpenSSH reads for the user JVP runs as, which libvirt's qemu+ssh transport used
to reach the node in the first place: /etc/ssh/ssh_known_hosts and ~/.ssh/known_hosts (hashed entries and
`[host]:port` entries work). User, port and `keyfile` come from the URI; otherwise the user's default keys
and ssh-agent are tried. ~/.ssh/config (aliases, ProxyJump) is not read.
"""
from __future__ import annotations

import getpass
import logging
from pathlib import Path

import paramiko

from jvp.errors import JvpError, NodeUnreachable, PreconditionFailed
from jvp.hypervisor.console import NodeTransport

log = logging.getLogger(__name__)
SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


def known_hosts_files(tr: NodeTransport) -> list[Path]:
    if tr.params.get("known_hosts"):
        return [Path(tr.params["known_hosts"])]
    return [SYSTEM_KNOWN_HOSTS, Path.home() / ".ssh" / "known_hosts"]


class SshTunnelChannel:
    """A direct-tcpip channel with the SSH connection that carries it; recv() returns b'' at the end."""

    def __init__(self, client: paramiko.SSHClient, channel: paramiko.Channel):
        self.client = client
        self.channel = channel

    def recv(self) -> bytes:
        try:
            return self.channel.recv(65536)
        except (OSError, EOFError, paramiko.SSHException):
            return b""

    def send(self, data: bytes) -> None:
        self.channel.sendall(data)

    def close(self) -> None:
        try:
            self.channel.close()  # wakes a recv() blocked in the other thread
        finally:
            self.client.close()


def open_tunnel(tr: NodeTransport, node: str, dest_host: str, dest_port: int, timeout_s: float
                ) -> SshTunnelChannel:
    host, port = tr.host or "localhost", tr.port or 22
    where = f"{host}:{port}" if port != 22 else host
    files = known_hosts_files(tr)
    client = paramiko.SSHClient()
    try:
        for path in files:
            if path.is_file():
                client.load_system_host_keys(str(path))  # "system": read only, never written back
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(hostname=host, port=port, username=tr.user or getpass.getuser(),
                           key_filename=tr.params.get("keyfile") or None, timeout=timeout_s,
                           banner_timeout=timeout_s, auth_timeout=timeout_s, allow_agent=True,
                           look_for_keys=True)
        except paramiko.BadHostKeyException as exc:
            raise PreconditionFailed(
                f"the SSH host key of node '{node}' ({where}) does not match the one in known_hosts: the host "
                "was reinstalled or someone is in the middle; check the key, then fix known_hosts",
                code="SshHostKeyMismatch", details={"node": node, "known_hosts": [str(p) for p in files],
                                                    "key_type": exc.key.get_name()}) from exc
        except paramiko.SSHException as exc:
            if "known_hosts" in str(exc):  # RejectPolicy: the key is in none of the files
                raise PreconditionFailed(
                    f"the SSH host key of node '{node}' ({where}) is not in a known_hosts file JVP reads "
                    f"({', '.join(map(str, files))}); JVP never accepts an unknown key: add it (e.g. "
                    f"ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts, after checking its fingerprint)",
                    code="SshHostKeyUnknown", details={"node": node, "known_hosts": [str(p) for p in files]}
                ) from exc
            t = client.get_transport()
            # paramiko re-raises the last error it met while trying keys, not always AuthenticationException
            if isinstance(exc, paramiko.AuthenticationException) or (t is not None and t.is_active()
                                                                     and not t.is_authenticated()):
                raise JvpError(f"SSH authentication to node '{node}' ({where}) failed for the VNC tunnel "
                               f"(user {tr.user or getpass.getuser()}, key {tr.params.get('keyfile') or 'default'}"
                               f"): {exc}", code="NodeAuthFailed", status=502, details={"node": node}) from exc
            raise NodeUnreachable(f"SSH to node '{node}' ({where}) failed: {exc}", details={"node": node}) from exc
        except (OSError, EOFError) as exc:
            raise NodeUnreachable(f"cannot reach node '{node}' over SSH ({where}) for the VNC tunnel: {exc}",
                                  details={"node": node}) from exc
        transport = client.get_transport()
        transport.set_keepalive(30)
        try:
            channel = transport.open_channel("direct-tcpip", (dest_host, dest_port), ("127.0.0.1", 0),
                                             timeout=timeout_s)
        except (paramiko.ChannelException, paramiko.SSHException, OSError, EOFError) as exc:
            raise JvpError(f"node '{node}' refused to open an SSH channel to its VNC at {dest_host}:{dest_port}: "
                           f"{exc}; is the VM's display still there, and does the node's sshd allow TCP "
                           "forwarding (AllowTcpForwarding)?", code="ConsoleUnreachable", status=502,
                           details={"node": node, "destination": f"{dest_host}:{dest_port}"}) from exc
        channel.settimeout(None)
        return SshTunnelChannel(client, channel)
    except BaseException:
        client.close()
        raise

