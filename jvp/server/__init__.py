"""`jvp serve`: the Flask app behind gunicorn's threaded worker, with JVP's own front on it.

The worker (jvp/server/worker.py) reads each request ahead in its event loop and gives it to a thread only once
it has all arrived, so a slow or stalled client costs a socket and a buffer, never a thread; every refusal the
HTTP layer makes is JSON in JVP's error shape (jvp/server/wire.py). This module holds the gunicorn application
(its settings, the access log, the app's loading) and what `jvp serve` does before the workers start.

The app is built in each worker after the fork, so libvirt connections and the libvirt event loop thread
belong to the process that uses them."""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from jvp.server.worker import make_worker
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
        self.settings = settings  # settings.workers is the number of processes that really serve
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        self.cfg.set("bind", [s.listen])
        self.cfg.set("workers", s.workers)
        self.cfg.set("worker_class", make_worker(s))
        self.cfg.set("worker_connections", s.http["max_connections"])
        # Each open console and each open event stream holds a thread for its whole life: they get threads of
        # their own on top of the API's, and the console service and the event hub refuse more than
        # console.max_sessions / events.max_streams per worker.
        self.cfg.set("threads", s.threads + s.console["max_sessions"] + s.events["max_streams"])
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
        app = create_app(self.settings, processes=self.settings.workers, collect=True)
        if self.settings.demo:  # the test driver's state lives in this worker: seed it here (jvp/demo/estate.py)
            from jvp.demo.estate import seed
            try:
                seed(app)
            except Exception:  # noqa: BLE001 - a demo with part of its estate beats no demo; the log says what
                log.exception("the demo's estate could not be seeded completely; serving what exists")
        return app


def prepare(settings: Settings) -> Path | None:
    """What runs once in the master before workers start: the data dir and the first admin token. Task
    recovery is not done here: every worker runs it when it builds the app (create_app ->
    TaskService.recover), and a task whose worker dies later is interrupted when a worker next reads it."""
    from jvp.service.auth import TokenService
    from jvp.store import YamlMetadataStore, private_data_dir
    if private_data_dir(settings.data_dir):
        log.warning("data dir %s was readable by others: now 0700 (`jvp doctor --fix` tightens its files)",
                    settings.data_dir)
    store = YamlMetadataStore(settings.data_dir, settings.schema_dir)
    created = TokenService(store, settings.data_dir).ensure_initial_admin()
    token_file = Path(settings.data_dir) / "auth" / "admin-token"
    if created:
        log.warning("first start: admin token written to %s", created)
    elif token_file.exists():
        log.info("admin token file: %s", token_file)
    return created


def test_driver_uris(settings: Settings) -> list[str]:
    """The test:/// URIs this server would serve: the local node's and those of the stored nodes."""
    from jvp.store import YamlMetadataStore
    uris = [settings.local_uri] if settings.local_uri.startswith("test:") else []
    store = YamlMetadataStore(settings.data_dir, settings.schema_dir)
    for _key, doc in store.list("node").items:
        uri = str(doc.get("uri") or "")
        if uri.startswith("test:"):
            uris.append(uri)
    return uris


def single_process_when_test_driver(settings: Settings) -> Settings:
    """libvirt's test driver keeps a test:/// node's state in the process that opened it: with several
    gunicorn workers each would hold its own copy, and a change made through one worker would be missing
    from half the answers. So a server with any test:/// node (the demo's local node, a configured
    `local_uri: test:///...`, or a stored node) runs one worker process (its threads still serve requests
    concurrently), and create-node/modify-node refuse a test:/// URI on a server that runs more than one
    (service/node.py). README: "The test driver"."""
    uris = test_driver_uris(settings) if settings.workers > 1 else []
    if not uris:
        return settings
    log.warning("test driver node(s) %s keep their state in the serving process: running 1 worker process "
                "instead of %d", ", ".join(uris), settings.workers)
    return dataclasses.replace(settings, workers=1)


def run(settings: Settings) -> None:
    # Everything the server writes is private, also files made by helpers it runs (qemu-img in the data dir):
    # the data dir is 0700 and its files 0600 (the store, the audit log and the locks set their modes anyway).
    os.umask(0o077)
    prepare(settings)
    settings = single_process_when_test_driver(settings)
    if settings.demo:
        token = (Path(settings.data_dir) / "auth" / "admin-token").read_text().strip()
        print(f"JVP demo on http://{settings.listen}/ (libvirt test driver, data in {settings.data_dir})\n"
              f"admin token: {token}", flush=True)
    scheme = "https" if settings.tls_cert else "http"
    log.info("JVP serving API and UI on %s://%s (local node %s, data dir %s)", scheme, settings.listen,
             settings.local_uri, settings.data_dir)
    JvpApplication(settings).run()
