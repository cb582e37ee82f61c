"""How the resource commands print an answer: `-o table` (rich; a listing as rows, anything else as key/value),
`-o json` (the answer as the server sent it), `-o yaml`. A listing's `errors` (a node down, ...) go to stderr,
under the table. Without a terminal the table is plain text (no colours, no box, no wrapping)."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import yaml
from marshmallow import fields as mf

FORMATS = ("table", "json", "yaml")
# The columns of a listing, by the action's row key, in order; kept to those the row schema has. A listing not
# named here shows its first scalar fields.
COLUMNS = {
    "vms": ("name", "node", "state", "vcpus", "memory_mib", "ips", "cpu_percent", "memory_used_bytes"),
    "nodes": ("name", "state", "uri", "cpus", "memory_bytes", "vm_counts", "maintenance"),
    "pools": ("name", "node", "type", "state", "capacity_bytes", "available_bytes", "path"),
    "volumes": ("name", "pool", "node", "format", "capacity_bytes", "allocation_bytes", "used_by"),
    "networks": ("name", "node", "mode", "state", "bridge", "ipv4", "vm_count"),
    "snapshots": ("name", "vm", "node", "created_at", "state", "current"),
    "templates": ("name", "node", "pool", "state", "os", "created_at"),
    "keypairs": ("name", "algorithm", "fingerprint", "created_at"),
    "tasks": ("id", "kind", "state", "progress", "message", "resource", "created_by", "created_at"),
    "events": ("time", "token_name", "action", "target", "outcome", "status", "error_code"),
    "bridges": ("name", "node", "state", "interfaces", "network"),
    "interfaces": ("name", "kind", "state", "mac", "addresses", "protected"),
    "leases": ("mac", "ip", "hostname", "expires_at"),
    "entries": ("at", "event", "outcome", "by", "task", "message"),
}
MAX_DEFAULT_COLUMNS = 7
_SKIPPED = ("uuid", "description", "problems", "key", "public_key")


def render(answer: Any, action: Any, fmt: str, out: Any = None) -> None:
    """Print `answer` (the JSON of `action`) in `fmt` on stdout."""
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2), file=out)
        return
    if fmt == "yaml":
        click.echo(yaml.safe_dump(answer, sort_keys=False, allow_unicode=True).rstrip("\n"), file=out)
        return
    key = listing_key(answer)
    if key is not None:
        if answer[key]:
            show(list_table(answer[key], row_schema(action, key), key), out)
        else:
            click.echo(f"no {key}", err=True)
    else:
        for title, value in describe_parts(answer):
            show(kv_table(value, title), out)
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if isinstance(errors, list) and errors:
        click.echo(f"{len(errors)} part(s) of the listing could not be read:", err=True)
        for e in errors:
            where = e.get("node") or e.get("path") or "-"
            click.echo(f"  {where}: {e.get('code')}: {e.get('message')}", err=True)


def show(renderable: Any, out: Any = None) -> None:
    """On a terminal: rich, with colours and the terminal's width. Piped: plain text, each row on one line
    whatever its length, no trailing blanks (for grep and awk)."""
    from rich.console import Console
    file = out or sys.stdout
    if hasattr(file, "isatty") and file.isatty():
        Console(file=file).print(renderable)
        return
    plain = Console(width=int(os.environ.get("JVP_TABLE_WIDTH", "100000")), color_system=None,
                    force_terminal=False, no_color=True, highlight=False)
    with plain.capture() as captured:
        plain.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().rstrip("\n").split("\n")), file=out)


def listing_key(answer: Any) -> str | None:
    """The key of a listing's rows: the one list of objects (or strings) besides `errors`."""
    if not isinstance(answer, dict):
        return None
    lists = [k for k, v in answer.items() if k != "errors" and isinstance(v, list)]
    others = [k for k, v in answer.items() if k != "errors" and not isinstance(v, list)]
    if len(lists) == 1 and all(not isinstance(answer[k], (dict, list)) for k in others):
        return lists[0]
    return None


def row_schema(action: Any, key: str) -> Any:
    """The marshmallow schema of a listing's rows, from the action's response schema (None if not nested)."""
    if action is None or action.response is None:
        return None
    f = action.response().fields.get(key)
    inner = f.inner if isinstance(f, mf.List) else f
    return inner.schema if isinstance(inner, mf.Nested) else None


def columns_for(key: str, schema: Any, rows: list[Any]) -> list[str]:
    known = list(schema.fields) if schema is not None else list(dict.fromkeys(k for r in rows for k in r))
    wanted = [c for c in COLUMNS.get(key, ()) if c in known]
    if wanted:
        return wanted
    scalar = [k for k in known if k not in _SKIPPED and not _is_complex(schema, k, rows)]
    return scalar[:MAX_DEFAULT_COLUMNS] or known[:MAX_DEFAULT_COLUMNS]


def _is_complex(schema: Any, key: str, rows: list[Any]) -> bool:
    if schema is not None:
        return isinstance(schema.fields[key], (mf.Nested, mf.Dict, mf.List))
    return any(isinstance(r.get(key), (dict, list)) for r in rows)


def list_table(rows: list[Any], schema: Any, key: str):
    from rich.table import Table
    if rows and not all(isinstance(r, dict) for r in rows):
        table = Table(key.upper(), box=None, header_style="bold", pad_edge=False)
        for r in rows:
            table.add_row(cell(r))
        return table
    cols = columns_for(key, schema, rows)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for c in cols:
        table.add_column(header(c), no_wrap=True, overflow="fold")
    for r in rows:
        table.add_row(*(cell(r.get(c), c) for c in cols))
    return table


def header(column: str) -> str:
    if column.endswith("_bytes"):
        column = column[: -len("_bytes")]
    return column.replace("_", " ").upper()


def describe_parts(answer: Any) -> list[tuple[str | None, Any]]:
    """The objects to show as key/value: `{"vm": {...}}` is the VM's fields; several keys, each on its own."""
    if not isinstance(answer, dict):
        return [(None, {"answer": answer})]
    objects = [(k, v) for k, v in answer.items() if isinstance(v, dict)]
    scalars = {k: v for k, v in answer.items() if not isinstance(v, dict)}
    parts: list[tuple[str | None, Any]] = []
    if scalars:
        parts.append((None, scalars))
    for k, v in objects:
        parts.append((k if (len(objects) > 1 or scalars) else None, v))
    return parts


def kv_table(obj: dict[str, Any], title: str | None = None):
    from rich.table import Table
    table = Table(box=None, show_header=False, pad_edge=False, title=title, title_justify="left",
                  title_style="bold")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for k, v in obj.items():
        table.add_row(k, cell(v, k, long=True))
    return table


def cell(value: Any, column: str = "", long: bool = False) -> str:
    """One value as table text: sizes in binary units, lists comma-joined, objects as compact JSON."""
    from rich.markup import escape
    return escape(_text(value, column, long))


def _text(value: Any, column: str, long: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column.endswith("_bytes") and isinstance(value, (int, float)):
        return human_bytes(value)
    if column == "progress" and isinstance(value, (int, float)):
        return f"{value:.0f}%"
    if isinstance(value, dict) and not long and "kind" in value and "name" in value:  # a task's resource, a target
        where = "/".join(str(value[k]) for k in ("node", "pool", "vm", "name") if value.get(k))
        return f"{value.get('kind') or ''} {where}".strip()
    if isinstance(value, dict) and not long and "address" in value and "prefix" in value:  # a network's ipv4
        return f"{value['address']}/{value['prefix']}"
    if column == "vm_counts" and isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v) or "0"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return ", ".join(str(v) for v in value) or "-"
        if long:
            return "\n".join(json.dumps(v, separators=(", ", ": ")) for v in value)
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, dict):
        if not value:
            return "-"
        return json.dumps(value, separators=(", ", ": "))
    if isinstance(value, str) and not long and "\n" in value:
        return value.splitlines()[0] + " ..."
    return str(value)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


# -- streaming actions ---------------------------------------------------------------------------------------
def upload(client: Any, action: str, params: dict[str, Any], path: str) -> Any:
    """An upload action: the parameters in the query string, the file as the raw body."""
    import requests
    from jvp.cli.client import EXIT_UNREACHABLE, CliError, answer_of
    with open(path, "rb") as fh:
        headers = {**client.headers(), "Content-Length": str(os.fstat(fh.fileno()).st_size),
                   "Content-Type": "application/octet-stream"}
        try:
            resp = requests.post(f"{client.url}/api/{action}", params=params, data=fh, headers=headers,
                                 verify=not client.insecure, timeout=None)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach JVP at {client.url}: {exc}", exit_code=EXIT_UNREACHABLE) from exc
    return answer_of(resp)


def download(client: Any, action: str, body: dict[str, Any], path: str) -> Any:
    """A download action: the answer's bytes into `path`; what was written as the answer."""
    from jvp.cli.client import answer_of
    resp = client.raw(action, body, stream=True)
    if not resp.ok or resp.headers.get("Content-Type", "").startswith("application/json"):
        return answer_of(resp)
    with open(path, "wb") as out:
        for chunk in resp.iter_content(1024 * 1024):
            out.write(chunk)
    return {"ok": True, "output": path, "bytes": os.path.getsize(path)}
