"""`jvp serve`: the Flask app behind gunicorn (threaded workers, so websockets and long transfers do not
block other requests). The app is built in each worker after the fork, so libvirt connections and the
libvirt event loop thread belong to the process that uses them."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from jvp.settings import Settings

log = logging.getLogger("jvp.server")
_QUERY_TOKEN = re.compile(r"((?:^|[?&])token=)[^&\s]*")


class AccessLogger(GunicornLogger):
    """gunicorn's logger, with console tokens (`/ws/...?token=`) masked in access log lines: a refused
    websocket is logged like any request, and its token may still be valid."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q", "U"):
            if isinstance(atoms.get(key), str) and "token=" in atoms[key]:
                atoms[key] = _QUERY_TOKEN.sub(r"\1***", atoms[key])
        return atoms


class JvpApplication(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        self.cfg.set("bind", [s.listen])
        self.cfg.set("workers", s.workers)
        self.cfg.set("worker_class", "gthread")
        # Each open console holds a thread for its whole life: consoles get threads of their own on top of
        # the API's, and the console service refuses more than console.max_sessions per worker.
        self.cfg.set("threads", s.threads + s.console["max_sessions"])
        # Long uploads and websockets run in worker threads; the worker's heartbeat is not blocked by them.
        self.cfg.set("timeout", 120)
        self.cfg.set("graceful_timeout", 30)
        self.cfg.set("keepalive", 5)
        self.cfg.set("loglevel", s.log_level)
        self.cfg.set("accesslog", "-")
        self.cfg.set("logger_class", AccessLogger)
        self.cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s')
        self.cfg.set("proc_name", "jvp")
        self.cfg.set("control_socket_disable", True)
        if s.tls_cert:
            self.cfg.set("certfile", s.tls_cert)
            self.cfg.set("keyfile", s.tls_key)

    def load(self):
        from jvp.app import create_app
        return create_app(self.settings)


def prepare(settings: Settings) -> Path | None:
    """What runs once in the master before workers start: the data dir and the first admin token. Task
    recovery is not done here: every worker runs it when it builds the app (create_app ->
    TaskService.recover), and a task whose worker dies later is interrupted when a worker next reads it."""
    from jvp.service.auth import TokenService
    from jvp.store import YamlMetadataStore
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    store = YamlMetadataStore(settings.data_dir, settings.schema_dir)
    created = TokenService(store, settings.data_dir).ensure_initial_admin()
    token_file = Path(settings.data_dir) / "auth" / "admin-token"
    if created:
        log.warning("first start: admin token written to %s", created)
    elif token_file.exists():
        log.info("admin token file: %s", token_file)
    return created


def run(settings: Settings) -> None:
    prepare(settings)
    if settings.demo:
        token = (Path(settings.data_dir) / "auth" / "admin-token").read_text().strip()
        print(f"JVP demo on http://{settings.listen}/ (libvirt test driver, data in {settings.data_dir})\n"
              f"admin token: {token}", flush=True)
    scheme = "https" if settings.tls_cert else "http"
    log.info("JVP serving API and UI on %s://%s (local node %s, data dir %s)", scheme, settings.listen,
             settings.local_uri, settings.data_dir)
    JvpApplication(settings).run()
