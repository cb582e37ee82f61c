"""A second real libvirt host on this machine, for migration and remote-node tests.

    python -m tests.host.second_node start|stop|status

`start` runs a second libvirtd (with its own virtlogd) in new mount, network, UTS and PID namespaces
(`unshare -m -n -u -p --fork --mount-proc`): a tmpfs on /run, private directories bind-mounted over
/var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and /etc/libvirt (a copy of the host's with its own
host_uuid and listen_addr and none of the host's domains, pools, networks or secrets), its own hostname and
/etc/hosts, and a veth pair to the host (198.19.254.1 on the host side, 198.19.254.2 inside; outside the
198.18.0.0/15 blocks the other tests draw their networks from). It answers on
`qemu+tcp://198.19.254.2/system`. Everything else of the file system is the host's, so a directory outside
those paths (SHARED, below) is the same directory for both daemons: a dir pool on it on both nodes is shared
storage for live migration. Inside, the host's hostname resolves to the host side of the veth, so a
migration back to the first daemon (whose migration URI libvirt builds from its hostname) reaches it.

`stop` kills the namespace's PID 1 with SIGKILL (the kernel then kills every process of the PID namespace:
libvirtd, virtlogd, QEMU), which also takes the network namespace (and the veth's inside end) and the mount
namespace (and its mounts) along; then it deletes the host end of the veth and the directories. `start` first
does the same for the leftovers of a run that crashed (the state file names the PIDs it started, checked
against their start time, so a reused PID is never killed). No process is ever matched by name.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

BASE = Path(os.environ.get("JVP_TWIN_DIR", "/var/lib/jvp-test-twin"))
STATE = BASE / "state.json"
SHARED = BASE / "shared"          # the same path, the same files, on both daemons
HOST_IF, TWIN_IF = "jvptwin0", "jvptwin1"
HOST_ADDR, TWIN_ADDR, PREFIX = "198.19.254.1", "198.19.254.2", 30
HOSTNAME = "jvp-twin"
URI = f"qemu+tcp://{TWIN_ADDR}/system"
# host paths replaced inside the namespace by private directories under BASE/private
PRIVATE = ("/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt", "/etc/libvirt")
# what of the host's /etc/libvirt the copy leaves out: its domains, networks, pools, secrets
HOST_OBJECTS = ("qemu", "storage", "secrets", "nodedev")


@dataclass
class Twin:
    pid: int              # the namespace's PID 1 (seen from the host)
    pid_start: str        # its start time (/proc/<pid>/stat field 22): a reused PID is not ours
    unshare_pid: int
    uri: str = URI
    host_addr: str = HOST_ADDR
    addr: str = TWIN_ADDR
    hostname: str = HOSTNAME
    host_uuid: str = ""
    shared: str = str(SHARED)


def host_path(path: str | Path) -> Path:
    """Where a path as the second daemon sees it lies on the host's file system: under BASE/private for its
    private directories (PRIVATE), the very same path for anything else (SHARED among them)."""
    path = Path(path)
    for private in PRIVATE:
        if path == Path(private) or Path(private) in path.parents:
            return BASE / "private" / private.strip("/").replace("/", "_") / path.relative_to(private)
    return path


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def _link_exists(name: str) -> bool:
    return _run("ip", "link", "show", name, check=False).returncode == 0


def _read_state() -> Twin | None:
    try:
        return Twin(**json.loads(STATE.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def status() -> Twin | None:
    """The running twin, or None (no state, or its PID 1 is gone or is not the process we started)."""
    twin = _read_state()
    if twin is None or _start_time(twin.pid) != twin.pid_start:
        return None
    return twin


def stop() -> None:
    """Kill the namespace (SIGKILL to its PID 1), delete the veth and the directories. Safe to repeat."""
    twin = _read_state()
    if twin is not None:
        if _start_time(twin.pid) == twin.pid_start:
            os.kill(twin.pid, signal.SIGKILL)
            for _ in range(100):
                if _start_time(twin.pid) != twin.pid_start:
                    break
                time.sleep(0.1)
        try:
            os.waitpid(twin.unshare_pid, 0)  # only when this process started it
        except ChildProcessError:
            pass
    if _link_exists(HOST_IF):
        _run("ip", "link", "del", HOST_IF, check=False)
    if BASE.exists():
        shutil.rmtree(BASE, ignore_errors=True)


def _copy_etc(dest: Path, host_uuid: str) -> None:
    shutil.copytree("/etc/libvirt", dest, symlinks=True,
                    ignore=lambda d, names: [n for n in names if d == "/etc/libvirt" and n in HOST_OBJECTS])
    for sub_dir in ("qemu/networks/autostart", "storage/autostart", "secrets"):
        (dest / sub_dir).mkdir(parents=True, exist_ok=True)
    conf = dest / "libvirtd.conf"
    kept = [ln for ln in conf.read_text().splitlines()
            if not ln.strip().startswith(("host_uuid", "listen_addr", "listen_tcp", "listen_tls", "auth_tcp"))]
    kept += [f'host_uuid = "{host_uuid}"', f'listen_addr = "{TWIN_ADDR}"', "listen_tls = 0", "listen_tcp = 1",
             'auth_tcp = "none"']
    conf.write_text("\n".join(kept) + "\n")


def _inside_script(private: Path, hosts: Path) -> str:
    mounts = "\n".join(f"mount --bind {private / p.strip('/').replace('/', '_')} {p}" for p in PRIVATE)
    return f"""set -e
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -m 1777 /run/lock  # /var/lock: libvirt locks a console's pty there (openConsole fails without it)
{mounts}
mount --bind {hosts} /etc/hosts
hostname {HOSTNAME}
for i in $(seq 200); do ip link show {TWIN_IF} >/dev/null 2>&1 && break; sleep 0.05; done
ip link set lo up
ip addr add {TWIN_ADDR}/{PREFIX} dev {TWIN_IF}
ip link set {TWIN_IF} up
ip route add default via {HOST_ADDR}
virtlogd -d
libvirtd -d --listen
set +e
# PID 1 reaps the orphans (libvirtd's QEMU probes are reparented here)
while :; do sleep 1; done
"""


def _answers(uri: str) -> bool:
    import libvirt
    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        libvirt.open(uri).close()
        return True
    except libvirt.libvirtError:
        return False


def start(timeout_s: float = 120) -> Twin:
    """Clean the leftovers of an earlier run, then start the twin and wait until it answers on URI."""
    stop()
    taken = _run("ip", "-4", "-o", "addr").stdout
    if f" {HOST_ADDR}/" in taken or f" {TWIN_ADDR}/" in taken:
        raise RuntimeError(f"{HOST_ADDR} or {TWIN_ADDR} is already in use on this host")
    private = BASE / "private"
    for p in PRIVATE:
        d = private / p.strip("/").replace("/", "_")
        if p == "/etc/libvirt":
            continue
        d.mkdir(parents=True)
        if p == "/var/lib/libvirt":  # the directory layout the daemon expects (no content)
            for child in Path(p).iterdir():
                if child.is_dir():
                    (d / child.name).mkdir()
    host_uuid = str(uuid.uuid4())
    _copy_etc(private / "etc_libvirt", host_uuid)
    SHARED.mkdir(parents=True)
    hosts = BASE / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {HOSTNAME}\n{HOST_ADDR} {socket.gethostname()}\n")
    log = open(BASE / "namespace.log", "wb")
    proc = subprocess.Popen(["unshare", "-m", "-n", "-u", "-p", "--fork", "--mount-proc",
                             "bash", "-c", _inside_script(private, hosts)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    pid = None
    for _ in range(200):
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        text = kids.read_text().split() if kids.exists() else []
        if text:
            pid = int(text[0])
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if pid is None:
        raise RuntimeError(f"unshare did not start: {(BASE / 'namespace.log').read_text()}")
    twin = Twin(pid=pid, pid_start=_start_time(pid) or "", unshare_pid=proc.pid, host_uuid=host_uuid)
    STATE.write_text(json.dumps(asdict(twin)))
    try:
        _run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", TWIN_IF, "netns", str(pid))
        _run("ip", "addr", "add", f"{HOST_ADDR}/{PREFIX}", "dev", HOST_IF)
        _run("ip", "link", "set", HOST_IF, "up")
        deadline = time.monotonic() + timeout_s
        while not _answers(URI):
            if status() is None or time.monotonic() > deadline:
                raise RuntimeError(f"the second libvirtd does not answer on {URI}:\n"
                                   f"{(BASE / 'namespace.log').read_text()}")
            time.sleep(0.2)
    except BaseException:
        stop()
        raise
    return twin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.host.second_node", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    if args.command == "start":
        print(json.dumps(asdict(start())))
    elif args.command == "stop":
        stop()
    else:
        twin = status()
        print(json.dumps(asdict(twin)) if twin else "not running")
        return 0 if twin else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
