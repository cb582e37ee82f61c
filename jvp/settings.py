"""One Settings object from the config file plus JVP_* environment variables.

No other module reads the environment: everything configurable is a key here. Every key, nested ones
included, can be overridden by an environment variable named after its path: `download.max_bytes` is
`JVP_DOWNLOAD_MAX_BYTES`. Values from the environment are read as YAML scalars (`true`, `5`, `1.5`).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, fields, validate, ValidationError, RAISE, post_load

DEFAULT_CONFIG_PATH = "/etc/jvp/config.yaml"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _share_dir() -> Path:
    """Where a (non-editable) install put JVP's data files (setup.cfg data_files: share/jvp/...): found
    through the installed distribution's file list, so venvs, --user and --prefix installs all work."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution
        dist = distribution("jvp")
        for f in dist.files or ():
            if f.parts[-3:-1] == ("jvp", "metadata_schema") and "share" in f.parts:
                return Path(str(dist.locate_file(f))).resolve().parent.parent
    except (ImportError, PackageNotFoundError, OSError):
        pass
    return Path(sys.prefix) / "share" / "jvp"


def default_schema_dir() -> str:
    """The checkout's metadata_schema/ when JVP runs from a checkout (editable install), else the copy
    installed with the package."""
    checkout = REPO_ROOT / "metadata_schema"
    return str(checkout if (REPO_ROOT / "setup.cfg").is_file() and checkout.is_dir()
               else _share_dir() / "metadata_schema")


def default_web_dir() -> str:
    """The checkout's web/out (built by `make web`) when JVP runs from a checkout, else <share>/jvp/web,
    where an installer copies the built UI (README: Configuration)."""
    checkout = REPO_ROOT / "web"
    return str(checkout / "out" if (REPO_ROOT / "setup.cfg").is_file() and checkout.is_dir()
               else _share_dir() / "web")


class ConfigError(Exception):
    """Invalid configuration: the message names the key and where its value came from."""


def _listen(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValidationError("Must be HOST:PORT, e.g. 0.0.0.0:7777.")
    return True


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class DownloadSchema(_Strict):
    max_bytes = fields.Integer(load_default=64 * 2**30, validate=validate.Range(min=1))
    allow_file_urls = fields.Boolean(load_default=False)
    timeout_s = fields.Float(load_default=60.0, validate=validate.Range(min=1))
    max_redirects = fields.Integer(load_default=5, validate=validate.Range(min=0, max=30))
    # Downloads may go to loopback, link-local, private and other non-public addresses (and to this
    # machine's own addresses) only when true; JVP's own listener is refused even then (jvp/images/urls.py).
    allow_private = fields.Boolean(load_default=False)
    # Where template files of the JVP server may come from (source.type=file, file:// URLs), when
    # allow_file_urls is true; empty means <data_dir>/images.
    file_dirs = fields.List(fields.String(validate=validate.Regexp(r"^/", error="An absolute path.")),
                            load_default=list)


def _origin(value: str) -> bool:
    from urllib.parse import urlsplit
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise ValidationError("Must be an origin: http(s)://HOST[:PORT], nothing after it.")
    return True


class ConsoleSchema(_Strict):
    token_ttl_s = fields.Integer(load_default=60, validate=validate.Range(min=5, max=60))
    idle_timeout_s = fields.Integer(load_default=900, validate=validate.Range(min=10))
    # Consoles get their own gunicorn threads (threads + max_sessions per worker), so open consoles can
    # never take the threads API requests need; beyond this many per worker a console is refused (503).
    max_sessions = fields.Integer(load_default=16, validate=validate.Range(min=1, max=256))
    # Browser origins allowed to open consoles besides the UI's own (same host:port as the request):
    # a reverse proxy that rewrites Host, or the Next.js dev server.
    allowed_origins = fields.List(fields.String(validate=_origin), load_default=list)


class EventsSchema(_Strict):
    # The events stream (/ws/events, README: Events): each open stream holds a gunicorn thread of its own
    # (threads + console.max_sessions + max_streams per worker); beyond max_streams a stream is refused (503).
    max_streams = fields.Integer(load_default=32, validate=validate.Range(min=1, max=1024))
    # How often task records and the audit log (written by any worker) are checked for changes.
    poll_interval_s = fields.Float(load_default=0.25, validate=validate.Range(min=0.05, max=10))
    heartbeat_s = fields.Float(load_default=20.0, validate=validate.Range(min=1, max=300))
    # How long a stream opened without an Authorization header waits for its {"type": "auth"} message.
    auth_timeout_s = fields.Float(load_default=10.0, validate=validate.Range(min=1, max=120))


class HttpSchema(_Strict):
    # The HTTP server reads a request's head, and a JSON body up to max_body_bytes, in its event loop before
    # a thread takes the request (jvp/server/worker.py): a slow or stalled client costs a socket, never a thread.
    header_timeout_s = fields.Float(load_default=10.0, validate=validate.Range(min=0.5, max=300))
    body_timeout_s = fields.Float(load_default=60.0, validate=validate.Range(min=1, max=3600))
    max_connections = fields.Integer(load_default=512, validate=validate.Range(min=8, max=65536))


class SettingsSchema(_Strict):
    listen = fields.String(load_default="0.0.0.0:7777", validate=_listen)
    data_dir = fields.String(load_default="/var/lib/jvp", validate=validate.Length(min=1))
    local_uri = fields.String(load_default="qemu:///system", validate=validate.Length(min=1))
    tls_cert = fields.String(load_default=None, allow_none=True)
    tls_key = fields.String(load_default=None, allow_none=True)
    auth = fields.Boolean(load_default=True)
    max_body_bytes = fields.Integer(load_default=1024 * 1024, validate=validate.Range(min=1024))
    download = fields.Nested(DownloadSchema, load_default=lambda: DownloadSchema().load({}))
    console = fields.Nested(ConsoleSchema, load_default=lambda: ConsoleSchema().load({}))
    http = fields.Nested(HttpSchema, load_default=lambda: HttpSchema().load({}))
    events = fields.Nested(EventsSchema, load_default=lambda: EventsSchema().load({}))
    # how often the metrics collector samples every node and VM (README: Metrics)
    metrics_interval_s = fields.Integer(load_default=10, validate=validate.Range(min=1, max=300))
    workers = fields.Integer(load_default=2, validate=validate.Range(min=1, max=64))
    threads = fields.Integer(load_default=16, validate=validate.Range(min=1, max=256))
    node_timeout_s = fields.Float(load_default=5.0, validate=validate.Range(min=0.1, max=120))
    # how often a node marked unreachable is probed in the background (all-node listings skip it meanwhile)
    node_probe_interval_s = fields.Float(load_default=5.0, validate=validate.Range(min=0.2, max=600))
    task_workers = fields.Integer(load_default=4, validate=validate.Range(min=1, max=64))
    # Finished task records are pruned (at start-up and then every few minutes) once older than this many
    # days or beyond the newest task_retention_count finished ones; pending/running tasks never are.
    task_retention_days = fields.Float(load_default=30.0, validate=validate.Range(min=0.01, max=3650))
    task_retention_count = fields.Integer(load_default=1000, validate=validate.Range(min=10, max=100000))
    domain_type = fields.String(load_default="auto", validate=validate.OneOf(["auto", "kvm", "qemu"]))
    cpu_mode = fields.String(load_default="auto", validate=validate.OneOf(
        ["auto", "host-model", "host-passthrough", "maximum", "none"]))
    log_level = fields.String(load_default="info", validate=validate.OneOf(
        ["debug", "info", "warning", "error"]))
    web_dir = fields.String(load_default=default_web_dir)
    schema_dir = fields.String(load_default=default_schema_dir)
    # Where node fixture files of libvirt's test driver (test:///<file>.xml) may live besides the demo's
    # own (jvp/demo/); empty means <data_dir>/test-fixtures. Any other test:/// file is refused.
    test_fixtures_dir = fields.String(load_default="", validate=validate.Regexp(
        r"^(/.*)?$", error="An absolute path, or empty for <data_dir>/test-fixtures."))
    demo = fields.Boolean(load_default=False)

    @post_load
    def _check(self, data: dict, **_: Any) -> dict:
        if bool(data.get("tls_cert")) != bool(data.get("tls_key")):
            raise ValidationError("tls_cert and tls_key go together.", field_name="tls_cert")
        if not data["auth"]:
            host = data["listen"].rpartition(":")[0]
            if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
                raise ValidationError("auth can be turned off only for a loopback listener "
                                      "(listen: 127.0.0.1:PORT).", field_name="auth")
        return data


@dataclass(frozen=True)
class Settings:
    """Built only by load_settings (defaults live in SettingsSchema, once)."""
    listen: str
    data_dir: str
    local_uri: str
    tls_cert: str | None
    tls_key: str | None
    auth: bool
    max_body_bytes: int
    download: dict
    console: dict
    http: dict
    metrics_interval_s: int
    workers: int
    threads: int
    node_timeout_s: float
    node_probe_interval_s: float
    task_workers: int
    task_retention_days: float
    task_retention_count: int
    domain_type: str
    cpu_mode: str
    log_level: str
    web_dir: str
    schema_dir: str
    test_fixtures_dir: str
    demo: bool
    events: dict = field(default_factory=lambda: EventsSchema().load({}))
    source: dict = field(default_factory=dict, compare=False)  # key -> where its value came from

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def test_fixtures_path(self) -> Path:
        return Path(self.test_fixtures_dir) if self.test_fixtures_dir else self.data_path / "test-fixtures"

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def _leaf_paths(schema: Schema, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, fld in schema.fields.items():
        if isinstance(fld, fields.Nested):
            out.extend(_leaf_paths(fld.schema, prefix + (name,)))
        else:
            out.append(prefix + (name,))
    return out


def env_name(path: tuple[str, ...]) -> str:
    return "JVP_" + "_".join(path).upper()


def load_settings(config_path: str | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Config file, then environment, then explicit overrides (used by `jvp serve --demo` and tests)."""
    env = os.environ if env is None else env
    path = config_path or env.get("JVP_CONFIG")
    explicit = path is not None
    path = path or DEFAULT_CONFIG_PATH
    raw: dict[str, Any] = {}
    source: dict[str, str] = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(loaded).__name__}")
        raw = loaded
        for key, val in raw.items():
            if isinstance(val, dict):
                for sub in val:
                    source[f"{key}.{sub}"] = path
            source[key] = path
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")

    schema = SettingsSchema()
    for leaf in _leaf_paths(schema):
        name = env_name(leaf)
        if name in env:
            try:
                value = yaml.safe_load(env[name]) if env[name] != "" else None
            except yaml.YAMLError:
                value = env[name]
            if leaf[-1] in ("listen", "data_dir", "local_uri", "web_dir", "schema_dir", "test_fixtures_dir",
                            "tls_cert", "tls_key", "log_level", "domain_type", "cpu_mode"):
                value = env[name]  # strings stay strings ("0.0.0.0:7777" is not YAML sexagesimal)
            target = raw
            for part in leaf[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ConfigError(f"config key {'.'.join(leaf[:-1])} must be a mapping")
            target[leaf[-1]] = value
            source[".".join(leaf)] = name
    for key, val in (overrides or {}).items():
        raw[key] = val
        source[key] = "command line"
    try:
        data = schema.load(raw)
    except ValidationError as exc:
        raise ConfigError("invalid configuration: " + _describe(exc.messages, source)) from exc
    return Settings(**data, source=source)


def _describe(messages: Any, source: dict[str, str], prefix: str = "") -> str:
    parts = []
    if isinstance(messages, dict):
        for key, val in messages.items():
            full = f"{prefix}{key}"
            if isinstance(val, dict):
                parts.append(_describe(val, source, full + "."))
            else:
                text = " ".join(str(v) for v in (val if isinstance(val, list) else [val]))
                if text == "Unknown field.":
                    text = "unknown key (check its spelling)"
                where = f" (from {source[full]})" if full in source else ""
                parts.append(f"key '{full}'{where}: {text}")
    else:
        parts.append(str(messages))
    return "; ".join(parts)
