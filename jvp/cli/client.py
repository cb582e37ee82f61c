"""The HTTP side of the resource commands: where the server is, its token, one action call, and the exit code
of every error class (the table `jvp --help` and README "The resource commands" show)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from jvp.settings import ConfigError, load_settings

CLIENT_CONFIG = Path.home() / ".config" / "jvp" / "client.yaml"
DEFAULT_URL = "http://127.0.0.1:7777"

# Exit codes by error class. Click's own usage errors (an unknown option, a bad value) exit 2 as well.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_UNREACHABLE = 6
EXIT_TASK_FAILED = 7
EXIT_CODES = (
    (EXIT_OK, "success"),
    (EXIT_UNEXPECTED, "unexpected error (a 500, an answer that is not JVP's JSON)"),
    (EXIT_USAGE, "usage or validation error (bad option; the server's 400/413/415)"),
    (EXIT_AUTH, "authentication or permission (401, 403)"),
    (EXIT_NOT_FOUND, "not found (404)"),
    (EXIT_CONFLICT, "conflict or wrong state (409, 422)"),
    (EXIT_UNREACHABLE, "server or node unreachable, busy or timed out (502, 503, 504, 408; no connection)"),
    (EXIT_TASK_FAILED, "the task failed or was cancelled (--wait)"),
)
_BY_STATUS = {400: EXIT_USAGE, 411: EXIT_USAGE, 413: EXIT_USAGE, 414: EXIT_USAGE, 415: EXIT_USAGE,
              417: EXIT_USAGE, 431: EXIT_USAGE, 401: EXIT_AUTH, 403: EXIT_AUTH, 404: EXIT_NOT_FOUND,
              409: EXIT_CONFLICT, 422: EXIT_CONFLICT, 408: EXIT_UNREACHABLE, 502: EXIT_UNREACHABLE,
              503: EXIT_UNREACHABLE, 504: EXIT_UNREACHABLE}


def exit_code_for(status: int | None) -> int:
    """The exit code of an error answer's HTTP status (None: no answer at all, the server unreachable)."""
    if status is None:
        return EXIT_UNREACHABLE
    if status < 400:
        return EXIT_OK
    return _BY_STATUS.get(status, EXIT_UNEXPECTED)


def exit_codes_help() -> str:
    return "\n".join(f"  {code}  {what}" for code, what in EXIT_CODES)


class CliError(click.ClickException):
    """An error the CLI ends with: `code: message` on stderr, the exit code of its class."""

    def __init__(self, message: str, *, exit_code: int = EXIT_UNEXPECTED, code: str | None = None,
                 details: dict[str, Any] | None = None, status: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.code = code
        self.details = details or {}
        self.status = status

    def format_message(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


def client_config() -> dict[str, Any]:
    """~/.config/jvp/client.yaml (`url:`, `token:`), or nothing."""
    if CLIENT_CONFIG.exists():
        try:
            return yaml.safe_load(CLIENT_CONFIG.read_text()) or {}
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{CLIENT_CONFIG}: invalid YAML: {exc}") from exc
    return {}


def local_admin_token() -> str | None:
    """On the JVP host itself, root can use the admin token file written at first start."""
    try:
        settings = load_settings()
    except ConfigError:
        return None
    path = Path(settings.data_dir) / "auth" / "admin-token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass
class Client:
    url: str
    token: str | None
    insecure: bool = False
    timeout: float | None = None

    @classmethod
    def resolve(cls, url: str | None = None, token: str | None = None, insecure: bool = False,
                timeout: float | None = None) -> "Client":
        """The same order as `jvp call`: the option (or JVP_URL/JVP_TOKEN), client.yaml, then (token only)
        the local admin token file."""
        conf = client_config()
        url = url or os.environ.get("JVP_URL") or conf.get("url") or DEFAULT_URL
        token = token or os.environ.get("JVP_TOKEN") or conf.get("token") or local_admin_token()
        return cls(url=url.rstrip("/"), token=token, insecure=insecure, timeout=timeout)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def raw(self, action: str, body: dict[str, Any], **kwargs: Any):
        import requests
        try:
            return requests.post(f"{self.url}/api/{action}", json=body, headers=self.headers(),
                                 verify=not self.insecure, timeout=kwargs.pop("timeout", self.timeout), **kwargs)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach JVP at {self.url}: {exc}", exit_code=EXIT_UNREACHABLE) from exc

    def call(self, action: str, body: dict[str, Any] | None = None, **kwargs: Any) -> tuple[int, Any]:
        """POST the action; its status and JSON answer. An error answer raises CliError."""
        resp = self.raw(action, body or {}, **kwargs)
        return resp.status_code, answer_of(resp)


def answer_of(resp: Any) -> Any:
    """The JSON of a successful answer, or CliError with the server's `code: message` and the status's class."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code >= 400:
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            raise CliError(str(err.get("message", "")), exit_code=exit_code_for(resp.status_code),
                           code=err.get("code"), details=err.get("details") or {}, status=resp.status_code)
        raise CliError(f"HTTP {resp.status_code}: {resp.text[:500]}", exit_code=exit_code_for(resp.status_code),
                       status=resp.status_code)
    if data is None:
        raise CliError(f"the server's answer is not JSON (HTTP {resp.status_code}): {resp.text[:200]}")
    return data


def client_of(ctx: click.Context, timeout: float | None = None) -> "Client":
    """The client of a command: `jvp --url/--token/--insecure` (or their sources, see Client.resolve); a test
    hands its own in the root context's object (`client`)."""
    root = ctx.find_root()
    obj = root.obj or {}
    if obj.get("client") is not None:
        return obj["client"]
    # During shell completion the root's callback does not run: its parsed options are in `params`.
    given = {k: obj.get(k, root.params.get(k)) for k in ("url", "token", "insecure")}
    return Client.resolve(given["url"], given["token"], bool(given["insecure"]), timeout=timeout)


def waiting_options(ctx: click.Context) -> dict[str, Any]:
    obj = ctx.find_root().obj or {}
    return {k: obj[k] for k in ("poll_s", "tty") if k in obj}
