"""`jvp vm console NAME`: the VM's serial console in this terminal, over the server's console websocket (the
one-time ticket of get-vm-console, then /ws/serial). The terminal is put in raw mode (every key goes to the
guest, Ctrl-C included); Ctrl-] leaves. `--print-url` only prints the websocket URL (a one-time ticket, for
websocat and the like)."""
from __future__ import annotations

import os
import select
import sys
import threading
from typing import Any, Callable
from urllib.parse import urlsplit

import click

from jvp.cli.client import EXIT_UNEXPECTED, EXIT_UNREACHABLE, CliError, client_of

ESCAPE = b"\x1d"  # Ctrl-]


def websocket_url(server_url: str, ws_path: str) -> str:
    """ws:// for an http server, wss:// for https; `ws_path` is the ticket's path and query."""
    parts = urlsplit(server_url)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}{ws_path}"


def console_command(complete: Callable) -> click.Command:
    @click.command("console")
    @click.argument("name", shell_complete=complete)
    @click.option("--node", help="node name (default: local)")
    @click.option("--print-url", is_flag=True, help="print the websocket URL (valid once, for a minute) and exit")
    @click.pass_context
    def console(ctx: click.Context, name: str, node: str | None, print_url: bool) -> None:
        """The VM's serial console in this terminal (Ctrl-] leaves).

        \b
        Action: get-vm-console (type serial), then the /ws/serial websocket."""
        client = client_of(ctx)
        body = {"name": name, "type": "serial", **({"node": node} if node else {})}
        _, ticket = client.call("get-vm-console", body)
        url = websocket_url(client.url, ticket["ws_url"])
        if print_url:
            click.echo(url)
            return
        attach(url, name, insecure=client.insecure)
    return console


def attach(url: str, name: str, *, insecure: bool = False, stdin: Any = None, stdout: Any = None) -> str:
    """Relay the terminal and the websocket until Ctrl-] or the server closes; why it ended."""
    import websocket  # websocket-client
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    sslopt = {"cert_reqs": 0} if insecure else None
    try:
        ws = websocket.create_connection(url, timeout=20, suppress_origin=True, sslopt=sslopt)
    except websocket.WebSocketBadStatusException as exc:
        raise _refusal(exc) from exc
    except (OSError, websocket.WebSocketException) as exc:
        raise CliError(f"cannot open the console websocket: {exc}", exit_code=EXIT_UNREACHABLE) from exc
    ws.settimeout(None)
    click.echo(f"Connected to {name} (serial console). Escape: Ctrl-]", err=True)
    ended: dict[str, str] = {}
    out_fd = stdout.fileno()

    def pump_out() -> None:
        while True:
            try:
                opcode, data = ws.recv_data()
            except Exception as exc:  # noqa: BLE001 - the socket closed under us
                ended.setdefault("why", f"connection closed ({exc.__class__.__name__})")
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                reason = data[2:].decode("utf-8", "replace") if len(data) > 2 else ""
                ended.setdefault("why", f"closed by the server{': ' + reason if reason else ''}")
                return
            if opcode in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
                os.write(out_fd, data if isinstance(data, bytes) else data.encode())

    reader = threading.Thread(target=pump_out, daemon=True)
    reader.start()
    with raw_terminal(stdin):
        in_fd = stdin.fileno()
        while reader.is_alive():
            ready, _, _ = select.select([in_fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(in_fd, 4096)
            if not data:  # stdin closed (a pipe)
                ended.setdefault("why", "end of input")
                break
            if ESCAPE in data:
                before = data.split(ESCAPE, 1)[0]
                if before:
                    ws.send_binary(before)
                ended.setdefault("why", "left with Ctrl-]")
                break
            ws.send_binary(data)
    try:
        ws.close()
    except Exception:  # noqa: BLE001
        pass
    click.echo(f"\r\n[{ended.get('why', 'closed')}]", err=True)
    return ended.get("why", "closed")


class raw_terminal:  # noqa: N801 - used as a context manager
    """Raw mode on a terminal for the duration (nothing on a pipe); the old mode is back on the way out."""

    def __init__(self, stream: Any):
        self.fd = stream.fileno()
        self.saved = None

    def __enter__(self) -> "raw_terminal":
        if os.isatty(self.fd):
            import termios
            import tty
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def _refusal(exc: Any) -> CliError:
    import json
    from jvp.cli.client import exit_code_for
    try:
        err = json.loads(exc.resp_body or b"{}")["error"]
        return CliError(err["message"], exit_code=exit_code_for(exc.status_code), code=err["code"])
    except (ValueError, KeyError, TypeError):
        return CliError(f"the console websocket was refused: HTTP {exc.status_code}", exit_code=EXIT_UNEXPECTED)
