"""The composition root: create_app(settings) builds the adapters and services once and hands them to the
api layer. Nothing else constructs a service; tests wire the same services on the test driver."""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from jvp.api import console_ws as api_console_ws
from jvp.api import events_ws as api_events_ws
from jvp.api import http as api_http
from jvp.api import routes as api_routes
from jvp.api.actions import registry
from jvp.api.jsonio import OrjsonProvider
from jvp.demo import DEMO_DIR
from jvp.hostnet import HostNetwork
from jvp.hypervisor.connection import ConnectionPool, open_libvirt, open_test_driver_only, start_event_loop
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.audit import AuditLog
from jvp.service.auth import TokenService
from jvp.service.network.bridge import BridgeService
from jvp.service.console.service import ConsoleService
from jvp.service.console.tokens import ConsoleTokens
from jvp.service.events.hub import EventHub
from jvp.service.keypair import KeypairService
from jvp.metrics import Election, MetricsStore
from jvp.service.metrics.collector import Collector
from jvp.service.metrics.service import MetricsService
from jvp.service.network.service import NetworkService
from jvp.service.node import NodeService
from jvp.service.node_directory import NodeDirectory
from jvp.service.storage.pool import StoragePoolService
from jvp.service.snapshot.service import SnapshotService
from jvp.service.snapshot.clone import SnapshotCloner
from jvp.service.snapshot.disk import WORKDIR_CLEANUP, DiskReader
from jvp.service.snapshot.export import SnapshotExporter
from jvp.service.task.service import TaskService
from jvp.service.template.register import TemplateSources
from jvp.service.template.service import TemplateService
from jvp.service.vm.service import VmService
from jvp.service.vm.create import VmCreator
from jvp.service.vm.rebuild import VmRebuilder
from jvp.service.vm.evacuate import NodeEvacuator
from jvp.service.vm.migrate import VmMigrator
from jvp.service.vm.rules import DomainTypes
from jvp.service.storage.volume import VolumeService
from jvp.service.storage.transfer import VolumeTransferService
from jvp.settings import Settings
from jvp.store import YamlMetadataStore, private_data_dir

log = logging.getLogger(__name__)

# One api module per resource; importing a module declares its actions in the registry.
API_MODULES = ["node", "audit", "auth", "task", "keypair", "network", "bridge", "vm", "storage_pool", "volume",
               "console", "template", "snapshot", "metrics", "migration", "server_info"]


@dataclass
class Services:
    settings: Settings
    store: YamlMetadataStore
    connections: ConnectionPool
    gateway: NodeGateway
    tokens: TokenService
    audit: AuditLog
    nodes: NodeService
    tasks: TaskService
    keypairs: KeypairService
    networks: NetworkService
    bridges: BridgeService
    vms: VmService
    vm_creator: VmCreator
    vm_rebuilder: VmRebuilder
    vm_migrator: VmMigrator
    node_evacuator: NodeEvacuator
    pools: StoragePoolService
    volumes: VolumeService
    transfers: VolumeTransferService
    consoles: ConsoleService
    templates: TemplateService
    snapshots: SnapshotService
    snapshot_cloner: SnapshotCloner
    snapshot_exporter: SnapshotExporter
    metrics: MetricsService
    events: EventHub
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for svc in list(self.extra.values()) + [self.events, self.metrics, self.tasks, self.vm_creator, self.templates,
                                                  self.vms, self.nodes]:
            closer = getattr(svc, "close", None)
            if closer:
                closer()
        self.gateway.close()  # its fan-out pool, then every connection and the health prober


def _event_kind_roles() -> dict[str, Any]:
    """Who may follow each kind of event: whoever may call the listing that shows the same things."""
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    listings = {"vm": "list-vms", "task": "list-tasks", "node": "list-nodes", "audit": "list-audit-events"}
    return {kind: registry.get(action).role for kind, action in listings.items() if registry.get(action)}


def build_services(settings: Settings, processes: int = 1) -> Services:
    """`processes`: how many processes serve this data dir (gunicorn workers); the node service refuses a
    test:/// node when there is more than one (each process would have its own copy of it)."""
    data = Path(settings.data_dir)
    if private_data_dir(data):  # 0700: tokens, audit, tasks and keys live there (SPEC 1, issue 14)
        log.warning("data dir %s was readable by others: now 0700 (`jvp doctor --fix` tightens its files)", data)
    store = YamlMetadataStore(data, settings.schema_dir)
    start_event_loop()
    # the demo reaches libvirt's test driver only: never this machine's libvirtd nor a remote host
    connections = ConnectionPool(open_timeout_s=settings.node_timeout_s,
                                 opener=open_test_driver_only if settings.demo else open_libvirt,
                                 probe_interval_s=settings.node_probe_interval_s)
    directory = NodeDirectory(store, settings.local_uri)
    gateway = NodeGateway(connections, directory.locate)  # every node operation, typed
    nodes = NodeService(directory, gateway, settings.node_timeout_s,
                        fixture_dirs=(DEMO_DIR, settings.test_fixtures_path), processes=processes)
    hostnet = HostNetwork()  # this machine's netlink: host bridges and address checks of the local node
    audit = AuditLog(data, store.schemas)
    # a task's final state is appended to the audit log, next to the request that started it
    tasks = TaskService(store, data, settings.task_workers, retention_days=settings.task_retention_days,
                        retention_count=settings.task_retention_count, on_final=audit.task_outcome_hook)
    volumes = VolumeService(nodes, gateway, tasks)
    tasks.register_cleanup("volume", volumes.remove_partial)  # half-made uploads and clones
    keypairs = KeypairService(store)
    tokens = TokenService(store, data)
    pools = StoragePoolService(nodes, gateway, volumes, protected_dirs=(settings.data_dir,))
    template_sources = TemplateSources()  # image sources other modules provide to register-template
    templates = TemplateService(store, nodes, gateway, tasks, volumes, pools, data, settings.download,
                                template_sources, list_timeout_s=settings.node_timeout_s * 2,
                                listen=(settings.listen_host, settings.listen_port))
    # deleting a VM prunes the old template images it was the last user of; a template is a system-disk source
    vms = VmService(nodes, gateway, list_timeout_s=settings.node_timeout_s * 2,
                    on_deleted=templates.after_vm_deleted)
    vm_creator = VmCreator(nodes, gateway, tasks, keypairs, vms,
                           DomainTypes(nodes, gateway, settings.domain_type, settings.cpu_mode),
                           base_image_sources={"template": templates.base_image})
    # rebuild-vm clones the template's current image and writes the template's history
    vm_rebuilder = VmRebuilder(nodes, gateway, tasks, keypairs, templates.base_image,
                               on_rebuilt=templates.record_rebuild, template_vms=templates.vms_of)
    tasks.register_cleanup("template-pool", templates.remove_empty_pool)  # a pool a failed registration made
    vm_migrator = VmMigrator(nodes, gateway, tasks, template_pool=templates.registrar.ensure_template_pool)
    snapshots = SnapshotService(nodes, gateway, tasks, vms)
    disk_reader = DiskReader(gateway, data)  # a disk's content at a snapshot, read on the controller
    tasks.register_cleanup(WORKDIR_CLEANUP, disk_reader.remove_workdir)
    snapshot_exporter = SnapshotExporter(snapshots, nodes, gateway, tasks, disk_reader, templates)
    template_sources.add("snapshot", snapshot_exporter.as_template_source)  # register-template from a snapshot
    # one collector per controller: every worker builds one, the holder of the election lock collects
    metrics_store = MetricsStore(data)
    collector = Collector(nodes, gateway, metrics_store, Election(data / "metrics" / "collector.lock"),
                          interval_s=settings.metrics_interval_s, timeout_s=settings.node_timeout_s)
    metrics = MetricsService(nodes, gateway, metrics_store, collector, interval_s=settings.metrics_interval_s)
    # the events stream's hub: libvirt's domain events of every node, task records and the audit log
    events = EventHub(nodes, gateway, store, audit, max_streams=settings.events["max_streams"],
                      poll_interval_s=settings.events["poll_interval_s"], node_timeout_s=settings.node_timeout_s,
                      kind_roles=_event_kind_roles())
    return Services(
        settings=settings,
        store=store,
        connections=connections,
        gateway=gateway,
        tokens=tokens,
        audit=audit,
        nodes=nodes,
        tasks=tasks,
        keypairs=keypairs,
        networks=NetworkService(nodes, gateway, store, hostnet),
        bridges=BridgeService(nodes, gateway, hostnet),
        vms=vms,
        vm_creator=vm_creator,
        vm_rebuilder=vm_rebuilder,
        vm_migrator=vm_migrator,
        node_evacuator=NodeEvacuator(nodes, gateway, tasks, vm_migrator,
                                     list_timeout_s=settings.node_timeout_s * 2),
        pools=pools,
        volumes=volumes,
        transfers=VolumeTransferService(nodes, gateway, volumes, tasks),
        consoles=ConsoleService(nodes, gateway, ConsoleTokens(store, settings.console["token_ttl_s"]), tokens,
                                auth=settings.auth, idle_timeout_s=settings.console["idle_timeout_s"],
                                max_sessions=settings.console["max_sessions"],
                                connect_timeout_s=settings.node_timeout_s),
        templates=templates,
        snapshots=snapshots,
        snapshot_cloner=SnapshotCloner(snapshots, nodes, gateway, tasks, disk_reader),
        snapshot_exporter=snapshot_exporter,
        metrics=metrics,
        events=events,
    )


def create_app(settings: Settings, services: Services | None = None, processes: int = 1,
               collect: bool = False) -> Flask:
    """`collect`: run the metrics collector thread in this process (the server's workers; one of them
    collects). Tests and benchmarks call `services.metrics.collector.collect_once()` when they need samples."""
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    services = services or build_services(settings, processes)
    app = Flask("jvp", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = OrjsonProvider(app)  # keys in the answers' own order; api/jsonio.py says what else differs
    app.extensions["jvp"] = services
    api_http.register(app, registry, services)
    api_routes.register(app, registry, services)
    api_console_ws.register(app, services)
    api_events_ws.register(app, services)
    services.tasks.recover()  # after every module registered its cleanup handlers
    services.store.prune_locks()  # lock files of records gone (older versions kept them all: store.delete)
    services.tasks.prune_resource_locks()  # older versions kept one per resource ever locked
    services.templates.validate_at_start()  # missing or changed images mark their templates broken
    if collect:
        services.metrics.collector.start()
    return app
