"""Nodes: the libvirt hosts JVP manages, their settings, state and figures.

`local` always exists (its URI comes from the `local_uri` setting); other nodes are stored in
metadata/nodes/<name>.yaml. Every figure is read through the node's libvirt connection, so remote nodes
answer exactly like the local one. Listing answers from the figures the gateway keeps per open connection
while they are current (hypervisor/host_cache.py: static facts up to 60 s, VM counts until a domain event or a
change of JVP's, at most 2 s) and probes the other nodes concurrently, each bounded by `node_timeout_s`: a
dead node is reported offline with its error and never slows the others; once marked dead (the gateway's
health memory) it is shown offline at once until the background probe finds it back.

URI checks are in node_uri.py, the node records (NodeDirectory) in node_directory.py.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable, Sequence

from jvp.domain.node import LOCAL, HostFacts, HostSummary, NodeDevice, NodeList, NodeRecord, NodeView, NodeVm
from jvp.errors import Conflict, InvalidInput, JvpError, already_exists, not_found
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node_directory import NodeDirectory
from jvp.service.node_uri import _invalid, canonical_uri, validate_uri
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)

# metadata/nodes/ holds node files (a node "nodes" would collide); "auto" asks create-vm to place the VM
RESERVED_NAMES = {"nodes", "auto"}
AUTO = "auto"


class NodeInMaintenance(Conflict):
    code = "NodeInMaintenance"


_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(HostFacts))


class NodeService:
    def __init__(self, directory: NodeDirectory, gateway: NodeGateway, timeout_s: float = 5.0,
                 fixture_dirs: Sequence[Path] = (), processes: int = 1):
        self.directory = directory
        # How many processes serve this data dir: a test:/// node needs exactly one (_check_single_process).
        self.processes = processes
        self.store = directory.store
        self.gateway = gateway
        self.local_uri = directory.local_uri
        self.timeout_s = timeout_s
        self.fixture_dirs = tuple(Path(d) for d in fixture_dirs)  # where test:/// node files may live
        self._probe_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="node-probe")
        self._inflight: dict[str, Future] = {}
        self._inflight_lock = threading.Lock()

    # -- records ------------------------------------------------------------------------------------
    def _from_doc(self, doc: dict[str, Any]) -> NodeRecord:
        return self.directory._from_doc(doc)

    def _local(self, doc: dict[str, Any] | None) -> NodeRecord:
        return self.directory._local(doc)

    def record(self, name: str) -> NodeRecord:
        return self.directory.record(name)

    def records(self) -> tuple[list[NodeRecord], list[dict[str, str]]]:
        return self.directory.records()

    def names(self) -> list[str]:
        return [r.name for r in self.records()[0]]

    def ensure_available(self, name: str) -> NodeRecord:
        """For placement and creation: the node exists and is not in maintenance."""
        rec = self.record(name)
        if rec.maintenance:
            raise NodeInMaintenance(f"node '{name}' is in maintenance: creating or placing resources on it "
                                    "is refused until `enable-node` (running VMs stay manageable)",
                                    details={"node": name})
        return rec

    # -- probing ------------------------------------------------------------------------------------
    def _probe(self, rec: NodeRecord) -> HostFacts:
        return self.gateway.host_facts(rec.name)

    def _probe_async(self, rec: NodeRecord) -> Future:
        """One probe in flight per node: a hung node is not probed again until its probe returns."""
        with self._inflight_lock:
            fut = self._inflight.get(rec.name)
            if fut is None or fut.done():
                fut = self._probe_pool.submit(self._probe, rec)
                self._inflight[rec.name] = fut
            return fut

    def _base_view(self, rec: NodeRecord) -> NodeView:
        return NodeView(name=rec.name, uri=rec.uri, local=rec.is_local, description=rec.description,
                        labels=rec.labels, maintenance=rec.maintenance, created_at=rec.created_at,
                        updated_at=rec.updated_at)

    @staticmethod
    def _finish(view: NodeView, facts: HostFacts | None, rec: NodeRecord) -> NodeView:
        """`view` (made for this answer by _base_view) completed with the node's facts and state."""
        if facts is not None:
            for name in _FACT_FIELDS:  # set on the fresh view: no dataclasses.replace (a copy) per node
                setattr(view, name, getattr(facts, name))
            view.reachable = True
        view.state = "maintenance" if rec.maintenance else ("online" if view.reachable else "offline")
        return view

    def _view(self, rec: NodeRecord, fut: Future, deadline_s: float) -> NodeView:
        view, facts = self._base_view(rec), None
        try:
            facts = fut.result(timeout=max(deadline_s, 0.01))
        except FutureTimeout:
            view.last_error = f"no answer from {rec.uri} within {self.timeout_s:g}s"
            self.gateway.health.mark_dead(rec.name, "NodeTimeout", view.last_error)
        except JvpError as exc:
            view.last_error = exc.message
        return self._finish(view, facts, rec)

    def list(self, state: str | None = None) -> NodeList:
        """Every node's figures: those the gateway keeps current for the node's open connection are taken
        as they are (no call to the node: hypervisor/host_cache.py says what is kept, how long, and what
        drops it); the other nodes are probed in parallel (the gateway's fan-out, one bound for all). A node
        the health memory knows dead is shown offline at once with the failure that marked it, not probed
        again here (the background probe brings it back)."""
        recs, errors = self.records()
        kept = {rec.name: self.gateway.cached_host_facts(rec.name, rec.uri) for rec in recs}
        todo = [name for name, facts in kept.items() if facts is None]
        probed = {r.node: r for r in self.gateway.fan_out(todo, self._probe_name, self.timeout_s,
                                                          what="answer")} if todo else {}
        nodes = []
        for rec in recs:
            view, facts = self._base_view(rec), kept[rec.name]
            if facts is None:
                r = probed[rec.name]
                if r.error is not None:
                    view.last_error = r.error["message"]
                facts = r.value
            nodes.append(self._finish(view, facts, rec))
        if state:
            nodes = [n for n in nodes if n.state == state]
        return NodeList(nodes=nodes, errors=errors)

    def _probe_name(self, name: str) -> HostFacts:
        return self.gateway.host_facts(name)

    def describe(self, name: str) -> NodeView:
        rec = self.record(name)
        facts = self.gateway.cached_host_facts(rec.name, rec.uri)
        if facts is not None:
            return self._finish(self._base_view(rec), facts, rec)
        deadline = time.monotonic() + self.timeout_s
        return self._view(rec, self._probe_async(rec), deadline - time.monotonic())

    def summary(self, name: str) -> HostSummary:
        summary = self.gateway.host_summary(name)
        virt = dataclasses.replace(summary.virtualization, kvm_usable=self.record(name).kvm_usable)
        return dataclasses.replace(summary, name=name, virtualization=virt)

    def record_kvm_probe(self, name: str, usable: bool) -> None:
        """Set by the VM module once it has really tried to run a KVM guest on the node; kept in the
        node's metadata so the probe runs once per node, not once per process."""
        stamp = rfc3339()

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            rec = self._from_doc(doc) if doc else self.record(name)
            rec.kvm_usable, rec.kvm_probed_at = usable, stamp
            rec.created_at = rec.created_at or stamp
            rec.updated_at = stamp
            return rec.to_doc()
        self.store.update("node", name, fn=change)

    def devices(self, name: str, kind: str) -> list[NodeDevice]:
        return self.gateway.host_devices(name, kind)

    def vms(self, name: str) -> list[NodeVm]:
        return self.gateway.host_vms(name)

    # -- changes ------------------------------------------------------------------------------------
    def _check_reachable(self, name: str, uri: str) -> None:
        """Connect to a URI before saving it, bounded by the node timeout."""
        self.gateway.check_uri(name, uri, self.timeout_s)

    def _check_single_process(self, uri: str) -> None:
        """libvirt's test driver keeps a test:/// node's state in the process that opened it; with several
        server processes each would have its own copy and answers would disagree. `jvp serve` runs one
        process when the local node or a stored node is a test:/// one (jvp/server/__init__.py); a test:/// node
        cannot be added to a server already running several."""
        if uri.startswith("test:") and self.processes > 1:
            raise _invalid(uri, f"a test driver node keeps its state in the serving process and this server "
                           f"runs {self.processes} worker processes (each would have its own copy): restart "
                           "JVP with `workers: 1` to add one (`jvp serve` then keeps one process while any "
                           "test:/// node exists)", "Needs a single-process server (workers: 1).")

    def create(self, name: str, uri: str, description: str = "", labels: dict[str, str] | None = None
               ) -> NodeView:
        if name == LOCAL or name in RESERVED_NAMES:
            raise already_exists("node", name, code="NodeExists") if name == LOCAL else InvalidInput(
                f"'{name}' is reserved and cannot name a node", code="InvalidName",
                details={"field_errors": {"name": ["Reserved name."]}})
        validate_uri(uri, self.fixture_dirs)
        self._check_single_process(uri)
        if self.store.get("node", name) is not None:
            raise already_exists("node", name, code="NodeExists")
        for rec in self.records()[0]:
            if canonical_uri(rec.uri) == canonical_uri(uri):
                raise Conflict(f"node '{rec.name}' already manages {rec.uri} (the same host as {uri}); "
                               "one node per URI", code="NodeUriInUse",
                               details={"node": rec.name, "uri": uri, "existing_uri": rec.uri})
        self._check_reachable(name, uri)
        stamp = rfc3339()
        rec = NodeRecord(name=name, uri=uri, description=description, labels=labels or {},
                         created_at=stamp, updated_at=stamp)
        if not self.store.create("node", name, doc=rec.to_doc()):
            raise already_exists("node", name, code="NodeExists")
        return self.describe(name)

    def _update(self, name: str, change: Callable[[NodeRecord], None]) -> None:
        """Apply change() to the node's record read under the store's lock (one read-modify-write, so
        concurrent modify/enable/disable calls in other threads or workers never lose each other's
        changes). `local` may have no file yet; any other node that vanished meanwhile is a 404."""
        def apply(doc: dict[str, Any] | None) -> dict[str, Any]:
            if doc is None and name != LOCAL:
                raise not_found("node", name)
            rec = self._local(doc) if name == LOCAL else self._from_doc(doc)
            change(rec)
            rec.updated_at = rfc3339()
            rec.created_at = rec.created_at or rec.updated_at
            return rec.to_doc()
        self.store.update("node", name, fn=apply)

    def modify(self, name: str, uri: str | None = None, description: str | None = None,
               labels: dict[str, str] | None = None) -> NodeView:
        rec = self.record(name)
        new_uri = uri if uri is not None and uri != rec.uri else None
        if new_uri is not None:
            if rec.is_local:
                raise InvalidInput("the local node's URI comes from the configuration: set `local_uri` "
                                   "in config.yaml (or JVP_LOCAL_URI) and restart",
                                   code="LocalNodeUri", details={"field_errors": {"uri": ["Read-only."]}})
            validate_uri(new_uri, self.fixture_dirs)
            self._check_single_process(new_uri)
            for other in self.records()[0]:
                if canonical_uri(other.uri) == canonical_uri(new_uri) and other.name != name:
                    raise Conflict(f"node '{other.name}' already manages {other.uri} (the same host as "
                                   f"{new_uri}); one node per URI", code="NodeUriInUse",
                                   details={"node": other.name, "uri": new_uri, "existing_uri": other.uri})
            self._check_reachable(name, new_uri)  # slow (connects): before the lock, not under it

        def change(r: NodeRecord) -> None:
            if new_uri is not None:
                r.uri = new_uri
            if description is not None:
                r.description = description
            if labels is not None:
                r.labels = labels
        self._update(name, change)
        if new_uri is not None:
            self.gateway.reconnect(name, new_uri)  # replaces the connection when the URI changed
        return self.describe(name)

    def set_maintenance(self, name: str, maintenance: bool) -> NodeView:
        self.record(name)  # 404 (or MetadataCorrupt) before anything is written

        def change(r: NodeRecord) -> None:
            r.maintenance = maintenance
        self._update(name, change)
        return self.describe(name)

    def delete(self, name: str) -> None:
        if name == LOCAL:
            raise Conflict("the local node always exists and cannot be deleted", code="NodeIsLocal",
                           details={"node": name})
        self.record(name)  # 404 when unknown
        self.store.delete("node", name)
        self.gateway.forget(name)

    def close(self) -> None:
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
