"""`jvp serve | check | doctor | token | call | openapi`."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from jvp.settings import ConfigError, Settings, load_settings

from jvp.cli.client import CLIENT_CONFIG, exit_codes_help  # noqa: F401 - CLIENT_CONFIG re-exported
from jvp.cli.resources import MainGroup
from jvp.cli.client import client_config as _client_config
from jvp.cli.client import local_admin_token as _local_admin_token


def _settings(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, overrides={k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()),
                        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")


MAIN_EPILOG = f"""\b
Resource commands (jvp vm|node|pool|volume|network|snapshot|template|keypair|task|... VERB) are generated from
the API's actions: `jvp vm list`, `jvp vm show web1`, `jvp vm create --name web1 ... --wait`. `jvp call ACTION
key=value` calls any action by name and prints its JSON.

\b
Exit codes of the resource commands:
{exit_codes_help()}

\b
Shell completion (bash; zsh and fish alike with zsh_source/fish_source):
  eval "$(_JVP_COMPLETE=bash_source jvp)"
"""


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=MAIN_EPILOG)
@click.option("--url", envvar="JVP_URL", help="server URL of the resource commands (env JVP_URL, or url in "
                                               "~/.config/jvp/client.yaml; default http://127.0.0.1:7777)")
@click.option("--token", envvar="JVP_TOKEN", help="bearer token of the resource commands (env JVP_TOKEN, or "
                                                   "token in client.yaml, or the local admin token file)")
@click.option("--insecure", is_flag=True, help="do not verify the server's TLS certificate")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None, insecure: bool) -> None:
    """JVP: a control plane for KVM/QEMU hosts driven through libvirt."""
    ctx.ensure_object(dict).update(url=url, token=token, insecure=insecure)


# -- serve ---------------------------------------------------------------------------------------------
@main.command()
@click.option("--config", "config", help="config file (default /etc/jvp/config.yaml or $JVP_CONFIG)")
@click.option("--listen", help="HOST:PORT (overrides the `listen` setting)")
@click.option("--demo", is_flag=True, help="libvirt's test driver with a seeded inventory; no root, no libvirtd")
@click.option("--workers", type=int, help="gunicorn worker processes")
def serve(config: str | None, listen: str | None, demo: bool, workers: int | None) -> None:
    """Serve the API and the web UI with gunicorn."""
    overrides: dict[str, Any] = {"listen": listen, "workers": workers}
    if demo:
        from jvp.demo import demo_overrides
        overrides.update(demo_overrides(listen))
    settings = _settings(config, **overrides)
    _setup_logging(settings.log_level)
    from jvp.server import run
    run(settings)


# -- check ---------------------------------------------------------------------------------------------
@main.command()
@click.option("--config", "config")
def check(config: str | None) -> None:
    """Diagnose the host: libvirtd reachable, KVM usable, qemu-img present, data dir writable."""
    settings = _settings(config)
    from jvp.diagnose import diagnose
    results = diagnose(settings)
    width = max(len(r["check"]) for r in results)
    for r in results:
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[r["status"]]
        click.echo(f"{mark}  {r['check']:<{width}}  {r['detail']}")
    if any(r["status"] == "fail" for r in results):
        sys.exit(1)


# -- doctor --------------------------------------------------------------------------------------------
@main.command()
@click.option("--config", "config")
@click.option("--fix", is_flag=True, help="move unreadable metadata files aside (kept as <name>.corrupt-<time>), "
                                          "make directories 0700 and files 0600, remove crash leftovers")
@click.option("--json", "as_json", is_flag=True, help="the problems as JSON")
def doctor(config: str | None, fix: bool, as_json: bool) -> None:
    """List the problems of the data dir: metadata files JVP cannot read, wrong permissions, leftovers.

    Exit status 0 when none remain (after --fix), 1 otherwise. Safe while the server runs: a file is moved
    aside under its lock, and JVP then treats it as absent."""
    settings = _settings(config)
    from jvp.diagnose import doctor as run_doctor
    problems = run_doctor(settings, fix=fix)
    left = [p for p in problems if not p["fixed"]]
    if as_json:
        click.echo(json.dumps({"data_dir": settings.data_dir, "problems": problems}, indent=2))
    else:
        def shown(path: str) -> str:  # a name with a newline (or worse) is quoted, one problem per line
            return path if path.isprintable() else json.dumps(path)
        for p in problems:
            if p["fixed"]:
                done = f"moved to {shown(p['moved_to'])}" if p.get("moved_to") else p["fix"]
                click.echo(f"FIXED    {shown(p['path'])}: {p['problem']} -> {done}")
            else:
                how = (f"--fix failed: {p['fix_error']}" if p.get("fix_error") else
                       f"--fix: {p['fix']}" if p["fix"] else "no automatic fix")
                click.echo(f"PROBLEM  {shown(p['path'])}: {p['problem']} ({how})")
        fixed = len(problems) - len(left)
        click.echo(f"data dir {settings.data_dir}: " + (
            "no problems" if not problems else f"{len(problems)} problem(s), {fixed} fixed, {len(left)} left"
            + ("" if fix or not left else "; `jvp doctor --fix` fixes what it can")), err=not as_json)
    if left:
        sys.exit(1)


# -- token ---------------------------------------------------------------------------------------------
@main.group()
def token() -> None:
    """Manage API tokens (directly in the data dir; run on the JVP host)."""


def _token_service(config: str | None):
    settings = _settings(config)
    from jvp.service.auth import TokenService
    from jvp.store import YamlMetadataStore, private_data_dir
    private_data_dir(settings.data_dir)
    return TokenService(YamlMetadataStore(settings.data_dir, settings.schema_dir), settings.data_dir)


@token.command("create")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), required=True)
@click.option("--ttl-days", type=click.IntRange(min=1), help="expire after this many days")
@click.option("--config", "config")
def token_create(name: str, role: str, ttl_days: int | None, config: str | None) -> None:
    """Create a token and print it (alone, on stdout). Only its hash is kept."""
    from jvp.api.schemas import valid_name
    from jvp.errors import JvpError
    if not valid_name(name):  # in full: 'ops\n' is refused, not stored with its newline
        raise click.BadParameter("1-63 characters: letters, digits, '.', '_' or '-'", param_hint="--name")
    try:
        value, _ = _token_service(config).create(name, role, ttl_days)
    except JvpError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(value)


@token.command("list")
@click.option("--config", "config")
@click.option("--json", "as_json", is_flag=True)
def token_list(config: str | None, as_json: bool) -> None:
    """List tokens (names, roles, creation, expiry, last use; never the tokens themselves)."""
    tokens = _token_service(config).list()
    if as_json:
        click.echo(json.dumps(tokens, indent=2))
        return
    for t in tokens:
        click.echo(f"{t['name']:<24} {t['role']:<9} created {t['created_at']}"
                   + (f"  expires {t['expires_at']}" if t.get("expires_at") else "")
                   + f"  last used {t.get('last_used_at') or 'never'}")


@token.command("revoke")
@click.argument("name")
@click.option("--config", "config")
def token_revoke(name: str, config: str | None) -> None:
    """Revoke a token by name (effective at once in every server process)."""
    from jvp.errors import JvpError
    try:
        _token_service(config).revoke(name)
    except JvpError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked {name}", err=True)


# -- call ----------------------------------------------------------------------------------------------
def parse_pairs(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs; a value that reads as JSON (number, true, [..], {..}) is taken as JSON,
    anything else as a string. Dotted keys build nested objects: `source.url=...`."""
    body: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        target = body
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return body


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("action")
@click.argument("pairs", nargs=-1)
@click.option("--json", "json_body", help="the request body as JSON (merged under key=value pairs)")
@click.option("--url", envvar="JVP_URL", help="server URL (env JVP_URL, or url in ~/.config/jvp/client.yaml)")
@click.option("--token", envvar="JVP_TOKEN", help="bearer token (env JVP_TOKEN, or token in client.yaml)")
@click.option("--upload", "upload", type=click.Path(exists=True, dir_okay=False),
              help="file to send as the body of a streaming action (upload-volume)")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False),
              help="where a streaming action's bytes go (download-volume)")
@click.option("--insecure", is_flag=True, help="do not verify the server's TLS certificate")
def call(action: str, pairs: tuple[str, ...], json_body: str | None, url: str | None, token: str | None,
         upload: str | None, output: str | None, insecure: bool) -> None:
    """Call ACTION with key=value pairs and print the JSON answer (exit 1 on an error answer).

    \b
    jvp call list-nodes
    jvp call create-node name=kvm2 uri=qemu+ssh://root@kvm2/system
    jvp call create-volume --json '{"pool": "default", "name": "d1", "size_gib": 10}'
    """
    import requests
    conf = _client_config()
    root = click.get_current_context().find_root().obj or {}  # `jvp --url ... call ...` as well
    url, token, insecure = url or root.get("url"), token or root.get("token"), insecure or root.get("insecure")
    url = (url or conf.get("url") or "http://127.0.0.1:7777").rstrip("/")
    token = token or conf.get("token") or _local_admin_token()
    body: dict[str, Any] = {}
    if json_body:
        try:
            body = json.loads(json_body)
        except ValueError as exc:
            raise click.BadParameter(f"--json is not valid JSON: {exc}") from exc
    body.update(parse_pairs(pairs))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if upload:
            with open(upload, "rb") as fh:
                headers["Content-Length"] = str(os.fstat(fh.fileno()).st_size)
                headers["Content-Type"] = "application/octet-stream"
                resp = requests.post(f"{url}/api/{action}", params=body, data=fh, headers=headers,
                                     verify=not insecure, timeout=None)
        else:
            resp = requests.post(f"{url}/api/{action}", json=body, headers=headers, verify=not insecure,
                                 stream=bool(output), timeout=None)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach JVP at {url}: {exc}") from exc
    if output and resp.ok and not resp.headers.get("Content-Type", "").startswith("application/json"):
        with open(output, "wb") as out:
            for chunk in resp.iter_content(1024 * 1024):
                out.write(chunk)
        click.echo(json.dumps({"ok": True, "output": output, "bytes": os.path.getsize(output)}))
        return
    try:
        answer = resp.json()
    except ValueError:
        click.echo(resp.text, err=True)
        sys.exit(1)
    click.echo(json.dumps(answer, indent=2))
    if not resp.ok:
        sys.exit(1)


# -- openapi -------------------------------------------------------------------------------------------
@main.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="write here instead of stdout")
def openapi(output: str | None) -> None:
    """Print the OpenAPI document (used to generate the web client's types)."""
    import importlib
    from jvp.api.actions import registry
    from jvp.api.openapi import build_spec
    from jvp.app import API_MODULES
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    text = json.dumps(build_spec(registry), indent=2, sort_keys=True)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n")
    else:
        click.echo(text)


if __name__ == "__main__":  # pragma: no cover
    main()
