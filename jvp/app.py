"""The composition root: create_app(settings) builds the adapters and services once and hands them to the
api layer. Nothing else constructs a service; tests wire the same services on the test driver."""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from jvp.api import http as api_http
from jvp.api import routes as api_routes
from jvp.api.actions import registry
from jvp.hypervisor.connection import ConnectionPool, start_event_loop
from jvp.service.audit import AuditLog
from jvp.service.auth import TokenService
from jvp.service.keypair import KeypairService
from jvp.service.node import NodeService
from jvp.service.task import TaskService
from jvp.settings import Settings
from jvp.store import YamlMetadataStore

log = logging.getLogger(__name__)

# One api module per resource; importing a module declares its actions in the registry.
API_MODULES = ["node", "audit", "task", "keypair"]


@dataclass
class Services:
    settings: Settings
    store: YamlMetadataStore
    connections: ConnectionPool
    tokens: TokenService
    audit: AuditLog
    nodes: NodeService
    tasks: TaskService
    keypairs: KeypairService
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for svc in list(self.extra.values()) + [self.tasks, self.nodes]:
            closer = getattr(svc, "close", None)
            if closer:
                closer()
        self.connections.close_all()


def build_services(settings: Settings) -> Services:
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True, mode=0o755)
    store = YamlMetadataStore(data, settings.schema_dir)
    start_event_loop()
    connections = ConnectionPool()
    return Services(
        settings=settings,
        store=store,
        connections=connections,
        tokens=TokenService(store, data),
        audit=AuditLog(data, store.schemas),
        nodes=NodeService(store, connections, settings.local_uri, settings.node_timeout_s),
        tasks=TaskService(store, data, settings.task_workers),
        keypairs=KeypairService(store),
    )


def create_app(settings: Settings, services: Services | None = None) -> Flask:
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    services = services or build_services(settings)
    app = Flask("jvp", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    app.extensions["jvp"] = services
    api_http.register(app, registry, services)
    api_routes.register(app, registry, services)
    services.tasks.recover()  # after every module registered its cleanup handlers
    return app
