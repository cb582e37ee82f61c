"""`jvp vm console NAME` on a REAL booted guest (tier 3, issue 19): the CLI in a pseudo-terminal gets the serial
console's login prompt, logs in and runs a command, Ctrl-] leaves with exit 0 and the terminal's mode is back."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import termios
import time

import pytest

from tests.conftest import jvp_script, start_server, stop_server
from tests.host import vmutil
from tests.host.console_guest import booted_guest


@pytest.fixture(scope="module")
def env(real_libvirt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-console")
    server = start_server(tmp, real_libvirt)
    conn = vmutil.open_conn()
    try:
        with booted_guest(server, conn, tmp) as guest:
            yield server, guest, tmp
    finally:
        stop_server(server)
        conn.close()


class Terminal:
    """The pty's main side: what the CLI printed, and keys typed into it."""

    def __init__(self, fd: int):
        self.fd = fd
        self.out = bytearray()

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def read_until(self, needle: bytes, timeout: float, since: int = 0, poke: bytes | None = None) -> int:
        deadline = time.monotonic() + timeout
        next_poke = time.monotonic()
        while needle not in self.out[since:]:
            now = time.monotonic()
            assert now < deadline, f"{needle!r} not seen within {timeout}s: {bytes(self.out[-600:])!r}"
            if poke is not None and now >= next_poke:
                self.type(poke)
                next_poke = now + 5
            if select.select([self.fd], [], [], 0.5)[0]:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:  # the CLI closed the terminal
                    break
        return len(self.out)


def test_the_console_command_logs_in_runs_a_command_and_leaves_with_ctrl_close_bracket(env):
    server, guest, tmp = env
    main, secondary = pty.openpty()
    before = termios.tcgetattr(secondary)
    env_vars = {**{k: v for k, v in os.environ.items() if not k.startswith("JVP_")}, "HOME": str(tmp),
                "JVP_URL": server.url, "JVP_TOKEN": server.token, "JVP_CONFIG": os.devnull, "TERM": "xterm"}
    proc = subprocess.Popen([jvp_script(), "vm", "console", guest.name], stdin=secondary, stdout=secondary,
                            stderr=secondary, env=env_vars, start_new_session=True)
    term = Terminal(main)
    try:
        mark = term.read_until(b"Escape: Ctrl-]", timeout=60)
        mark = term.read_until(b"login: ", timeout=180, since=mark, poke=b"\r")
        # raw mode: the CLI turned the terminal's echo and line editing off while attached
        assert not termios.tcgetattr(secondary)[3] & (termios.ECHO | termios.ICANON)
        term.type(guest.user.encode() + b"\r")
        mark = term.read_until(b"Password: ", timeout=30, since=mark)
        term.type(guest.password.encode() + b"\r")
        mark = term.read_until(b"$ ", timeout=60, since=mark)
        term.type(b"echo jvp-$((6*7))\r")
        mark = term.read_until(b"jvp-42", timeout=30, since=mark)
        term.type(b"exit\r")  # leave the console's session as it was found
        mark = term.read_until(b"login: ", timeout=30, since=mark)
        term.type(b"\x1d")  # Ctrl-]
        assert proc.wait(timeout=30) == 0
        term.read_until(b"[left with Ctrl-]]", timeout=10, since=mark)
        assert termios.tcgetattr(secondary)[3] == before[3]  # the terminal's mode is back
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(main)
        os.close(secondary)
