"""The resource commands, generated from the action registry: `jvp vm list`, `jvp vm show web1`,
`jvp vm create --name web1 --wait`, `jvp pool list`, `jvp task show ID`, ...

Every action becomes exactly one command (tests/unit/test_cli_commands.py checks it; the lone hand-written one
is `jvp vm console`, the interactive serial console). How a name maps:
  - the group is the action's resource noun: its tag (`storage_pool` is `pool`, `auth` stays `auth`); an action
    of a cross-cutting tag (migration, metrics) goes to the resource its name holds (`migrate-vm` -> vm);
  - the command is the verb, with the group's noun (or its plural) taken out of the name: `list-vms` -> `list`,
    `describe-node-disks` -> `show-disks`; `describe` reads `show`; `clone-from-snapshot` -> `clone`.
  - the request schema's fields become options (`memory_mib` -> `--memory-mib`) with the schema's types, choices
    and descriptions; a `name` field (else an `id` field) is also an optional positional argument; lists,
    dicts and nested objects take JSON; `-f FILE` (`-f -`: stdin) gives the whole body as JSON or YAML, options
    override its fields.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Callable

import click
import yaml
from marshmallow import fields as mf, validate as mv

from jvp.cli.client import client_of, waiting_options

# Tags whose group has another name; tags not in GROUP_OF_TAG and not resource nouns themselves (CROSS_TAGS) give
# their actions to the resource named in the action's name.
GROUP_OF_TAG = {"storage_pool": "pool"}
CROSS_TAGS = ("migration", "metrics")
# How a group's noun is spelled inside action names (besides the group's own name and its plural).
NOUN_SPELLINGS = {"pool": ("storage-pools", "storage-pool"), "audit": ("audit",)}
VERB_ALIASES = {"describe": "show"}
# The few names the rules above would make awkward (a dangling preposition).
COMMAND_OVERRIDES = {"clone-from-snapshot": "clone"}
GROUP_HELP = {
    "vm": "Virtual machines.", "node": "Nodes (libvirt hosts).", "pool": "Storage pools.",
    "volume": "Volumes of storage pools.", "network": "Libvirt networks.", "bridge": "Host bridges.",
    "snapshot": "VM snapshots.", "template": "Templates (images VMs are made from).", "keypair": "SSH keypairs.",
    "task": "Tasks: long work (202 answers).", "audit": "The audit log.",
    "auth": "Who the token is (the server's view; `jvp token` manages tokens on the JVP host itself).",
}
# Options every resource command has; a request field with one of these names is set by `--field-NAME`.
RESERVED = {"output", "file", "wait", "help"}


@dataclass(frozen=True)
class CommandName:
    group: str
    command: str


def _plural(noun: str) -> tuple[str, ...]:
    return (noun + "s", noun + "es", noun)


def command_name(action: Any, groups: set[str]) -> CommandName:
    """Where an action lives in the CLI (see the module's docstring)."""
    verb, _, rest = action.name.partition("-")
    group = GROUP_OF_TAG.get(action.tag, action.tag)
    if action.tag in CROSS_TAGS:
        tokens = rest.split("-")
        group = next((t for t in tokens if t in groups), tokens[-1])
    if action.name in COMMAND_OVERRIDES:
        return CommandName(group, COMMAND_OVERRIDES[action.name])
    verb_shown = VERB_ALIASES.get(verb, verb)
    for spelling in (*NOUN_SPELLINGS.get(group, ()), *_plural(group)):
        tokens, noun = rest.split("-"), spelling.split("-")
        for i in range(len(tokens) - len(noun) + 1):
            if tokens[i:i + len(noun)] == noun:
                left = tokens[:i] + tokens[i + len(noun):]
                return CommandName(group, "-".join([verb_shown, *left]))
    return CommandName(group, "-".join([verb_shown, rest]) if rest else verb_shown)


def resource_groups(actions: list[Any]) -> set[str]:
    return {GROUP_OF_TAG.get(a.tag, a.tag) for a in actions if a.tag not in CROSS_TAGS}


def command_table(actions: list[Any]) -> dict[CommandName, Any]:
    """Every action's command; a clash raises (two actions must never share a command)."""
    groups = resource_groups(actions)
    table: dict[CommandName, Any] = {}
    for action in actions:
        name = command_name(action, groups)
        if name in table:
            raise ValueError(f"{action.name} and {table[name].name} both map to `jvp {name.group} {name.command}`")
        table[name] = action
    return table


# -- request fields -> options -----------------------------------------------------------------------------
class JsonValue(click.ParamType):
    """A list, dict or nested object as JSON; a list of strings also as `a,b,c`, a dict of strings as `k=v,k2=v2`."""
    name = "JSON"

    def __init__(self, kind: str = "any"):
        self.kind = kind

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            pass
        if self.kind == "list":
            return [v for v in value.split(",") if v]
        if self.kind == "dict" and "=" in value:
            return dict(pair.partition("=")[::2] for pair in value.split(",") if pair)
        if self.kind == "any":
            return value
        self.fail(f"not valid JSON: {value!r}", param, ctx)


@dataclass
class FieldOption:
    key: str                      # the request's JSON key
    option: str                   # --memory-mib
    type: Any
    help: str
    is_flag: bool = False
    choices: tuple[str, ...] = ()
    required: bool = False


def _choices(f: mf.Field) -> tuple[str, ...]:
    for v in _validators(f):
        if isinstance(v, mv.OneOf) and all(isinstance(c, str) for c in v.choices):
            return tuple(v.choices)
    enum = (f.metadata or {}).get("enum")
    return tuple(enum) if enum and all(isinstance(c, str) for c in enum) else ()


def _validators(f: mf.Field) -> list[Any]:
    return list(getattr(f, "validators", []) or [])


def _range_text(f: mf.Field) -> str:
    for v in _validators(f):
        if isinstance(v, mv.Range) and (v.min is not None or v.max is not None):
            if v.min is not None and v.max is not None:
                return f"{v.min}..{v.max}"
            return f">= {v.min}" if v.min is not None else f"<= {v.max}"
    return ""


def field_option(key: str, f: mf.Field) -> FieldOption:
    meta = f.metadata or {}
    parts = [meta.get("description", "")]
    kind = None
    if isinstance(f, mf.Boolean):
        ptype: Any = None
    elif isinstance(f, mf.Integer):
        ptype = click.INT
    elif isinstance(f, mf.Float):
        ptype = click.FLOAT
    elif isinstance(f, mf.List):
        kind = "list"
        ptype = JsonValue("list" if isinstance(f.inner, mf.String) else "json")
    elif isinstance(f, mf.Dict):
        kind = "dict"
        ptype = JsonValue("dict")
    elif isinstance(f, mf.Nested):
        kind = "object"
        ptype = JsonValue("json")
    elif isinstance(f, (mf.String, mf.Email, mf.Url)):
        ptype = click.STRING
    else:
        ptype = JsonValue("any")
    choices = _choices(f) if ptype is click.STRING else ()
    if choices:
        ptype = click.Choice(choices)
    if kind == "list":
        parts.append("a JSON list" + (" or a,b,c" if isinstance(f.inner, mf.String) else ""))
    elif kind == "dict":
        parts.append("a JSON object or k=v,k2=v2")
    elif kind == "object":
        parts.append("a JSON object")
    rng = _range_text(f)
    if rng:
        parts.append(rng)
    default = f.load_default
    if default is not mf.missing_ and not callable(default) and default not in ("", None) \
            and "default" not in parts[0]:
        parts.append(f"default: {json.dumps(default) if isinstance(default, bool) else default}")
    if f.required:
        parts.append("required")
    name = key if key not in RESERVED else f"field-{key}"
    return FieldOption(key=key, option="--" + name.replace("_", "-"), type=ptype,
                       help="; ".join(p for p in parts if p), is_flag=ptype is None, choices=choices,
                       required=bool(f.required))


def request_options(action: Any) -> list[FieldOption]:
    schema = action.request()
    return [field_option(f.data_key or name, f) for name, f in schema.load_fields.items()]


def positional_key(options: list[FieldOption]) -> str | None:
    keys = {o.key for o in options}
    return "name" if "name" in keys else "id" if "id" in keys else None


# -- building the click commands -------------------------------------------------------------------------------
def _read_body_file(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise click.BadParameter(str(exc), param_hint="-f") from exc
    try:
        body = yaml.safe_load(text) if text.strip() else {}  # YAML reads JSON as well
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"neither JSON nor YAML: {exc}", param_hint="-f") from exc
    if not isinstance(body, dict):
        raise click.BadParameter("the body must be an object", param_hint="-f")
    return body


def build_body(options: list[FieldOption], values: dict[str, Any], positional: str | None,
               body_file: str | None) -> dict[str, Any]:
    """The request body: the -f file's object, then every option given (None: not given), then the positional
    name (which must agree with --name when both are there)."""
    body = _read_body_file(body_file) if body_file else {}
    for opt in options:
        value = values.get(_param_name(opt))
        if value is not None:
            body[opt.key] = value
    pos = values.get("positional")
    if pos is not None and positional:
        if positional in body and body[positional] != pos and values.get(_param_name_of(options, positional)):
            raise click.UsageError(f"{pos!r} and --{positional} {body[positional]!r} disagree")
        body[positional] = pos
    return body


def _param_name(opt: FieldOption) -> str:
    return "f_" + opt.option[2:].replace("-", "_")


def _param_name_of(options: list[FieldOption], key: str) -> str:
    return next(_param_name(o) for o in options if o.key == key)


def _complete_names(group: str) -> Callable:
    """Shell completion of a positional name (or task id): what the group's list action answers (2 s at most; nothing
    when the server does not answer)."""
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        table = command_table(load_registry().all())
        listing = table.get(CommandName(group, "list"))
        if listing is None:
            return []
        try:
            client = client_of(ctx, timeout=2)
            _, answer = client.call(listing.name, {})
        except Exception:  # noqa: BLE001 - completion must never fail the shell
            return []
        rows = next((v for k, v in answer.items() if k != "errors" and isinstance(v, list)), [])
        names = sorted({(r.get("name") or r.get("id")) if isinstance(r, dict) else r for r in rows} - {None})
        return [click.shell_completion.CompletionItem(n) for n in names if str(n).startswith(incomplete)]
    return complete


def make_command(name: CommandName, action: Any) -> click.Command:
    from jvp.cli import output, wait as waiting
    options = request_options(action)
    positional = positional_key(options)
    params: list[click.Parameter] = []
    if positional:
        params.append(click.Argument(["positional"], required=False, metavar=f"[{positional.upper()}]",
                                     shell_complete=_complete_names(name.group)))
    for opt in options:
        decl = [opt.option + (f"/--no-{opt.option[2:]}" if opt.is_flag else ""), _param_name(opt)]
        extra: dict[str, Any] = {} if opt.is_flag else {"type": opt.type}
        if opt.key == "name":
            extra["shell_complete"] = _complete_names(name.group)
        params.append(click.Option(decl, help=opt.help or None, default=None, **extra))
    params.append(click.Option(["-f", "--file", "body_file"], metavar="FILE",
                               help="the request body as JSON or YAML (`-` reads stdin); options override its fields"))
    params.append(click.Option(["-o", "--output", "output_format"], type=click.Choice(output.FORMATS),
                               default="table", show_default=True, help="how the answer is printed"))
    is_task = action.status == 202
    if is_task:
        params.append(click.Option(["--wait", "wait"], is_flag=True,
                                   help="follow the task to its end with a progress bar; exit 7 if it fails"))
    if action.stream == "upload":
        params.append(click.Option(["--upload", "upload"], required=True, metavar="PATH",
                                   type=click.Path(exists=True, dir_okay=False), help="the file to upload"))
    if action.stream == "download":
        params.append(click.Option(["--to", "download_to"], required=True, metavar="PATH",
                                   type=click.Path(dir_okay=False), help="where the bytes go"))

    def run(**values: Any) -> None:
        ctx = click.get_current_context()
        body = build_body(options, values, positional, values.get("body_file"))
        client = client_of(ctx)
        if action.stream == "upload":
            answer = output.upload(client, action.name, body, values["upload"])
        elif action.stream == "download":
            answer = output.download(client, action.name, body, values["download_to"])
        else:
            _, answer = client.call(action.name, body)
        fmt = values["output_format"]
        if is_task and values.get("wait") and isinstance(answer.get("task"), dict):
            task = waiting.follow(client, answer["task"], **waiting_options(ctx))
            output.render({"task": task}, action, fmt)
            waiting.raise_if_failed(task)
            return
        output.render(answer, action, fmt)
        if is_task and fmt == "table" and isinstance(answer.get("task"), dict):
            click.echo(f"follow it: jvp task show {answer['task']['id']}  (or add --wait)", err=True)

    import inspect
    doc = inspect.cleandoc(action.handler.__doc__ or "") or action.summary or action.name
    help_text = doc.replace("\n\n", "\n\n\b\n") + f"\n\n\b\nAction: {action.name} (role {_role(action)})"
    if is_task:
        help_text += "; answers 202 with a task"
    return click.Command(name.command, params=params, callback=run, help=help_text,
                         short_help=action.summary or action.name)


def _role(action: Any) -> str:
    return getattr(action.role, "name", str(action.role)).lower()


class ResourceGroup(click.Group):
    """Commands listed in the order of the table (list, show, create first)."""
    FIRST = ("list", "show", "create", "modify", "start", "stop", "delete")

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (self.FIRST.index(n) if n in self.FIRST else len(self.FIRST), n))


def api_modules() -> list[str]:
    """jvp.app.API_MODULES, read from jvp/app.py's source: importing jvp.app builds the whole server (seconds
    on a busy host), and `jvp vm list` needs the action declarations only. Imported if it is not a literal."""
    import ast
    import importlib.util
    spec = importlib.util.find_spec("jvp.app")
    try:
        tree = ast.parse(open(spec.origin, encoding="utf-8").read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "API_MODULES" for t in node.targets):
                return list(ast.literal_eval(node.value))
    except (OSError, TypeError, ValueError, SyntaxError):
        pass
    from jvp.app import API_MODULES
    return list(API_MODULES)


def load_registry() -> Any:
    """The action registry with every api module's actions declared."""
    import importlib
    from jvp.api.actions import registry
    for module in api_modules():
        importlib.import_module(f"jvp.api.{module}")
    return registry


class MainGroup(click.Group):
    """`jvp`: the resource groups are built the first time a command that is not built in is asked for (or the
    list of all), so `jvp serve` does not pay for them."""
    _resources_added = False

    def _ensure(self) -> None:
        if not self._resources_added:
            self._resources_added = True
            register_resource_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._ensure()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._ensure()
        return super().list_commands(ctx)


def register_resource_commands(main: click.Group) -> None:
    """Add a group per resource noun to `main`, with one command per action."""
    table = command_table(load_registry().all())
    groups: dict[str, click.Group] = {}
    for name in sorted(table, key=lambda n: (n.group, n.command)):
        if name.group in main.commands and name.group not in groups:
            raise ValueError(f"the resource group {name.group!r} clashes with `jvp {name.group}`")
        group = groups.get(name.group)
        if group is None:
            group = groups[name.group] = ResourceGroup(name.group, help=GROUP_HELP.get(name.group))
            main.add_command(group)
        group.add_command(make_command(name, table[name]))
    if "vm" in groups:
        from jvp.cli.console import console_command
        groups["vm"].add_command(console_command(_complete_names("vm")))
