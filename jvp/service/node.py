"""Nodes: the libvirt hosts JVP manages, their settings, state and figures.

`local` always exists (its URI comes from the `local_uri` setting); other nodes are stored in
metadata/nodes/<name>.yaml. Every figure is read through the node's libvirt connection, so remote nodes
answer exactly like the local one. Listing probes every node concurrently, each bounded by
`node_timeout_s`: a dead node is reported offline with its error and never slows the others; once marked
dead (the gateway's health memory) it is shown offline at once until the background probe finds it back.
"""
from __future__ import annotations

import copy
import dataclasses
import ipaddress
import logging
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import parse_qsl, urlsplit

from jvp.domain.node import LOCAL, HostFacts, HostSummary, NodeDevice, NodeList, NodeRecord, NodeView, NodeVm
from jvp.errors import Conflict, InvalidInput, JvpError, already_exists, not_found
from jvp.hypervisor.gateway import NodeGateway
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

log = logging.getLogger(__name__)

DRIVERS = {"qemu", "test"}
TRANSPORTS = {None, "ssh", "tcp", "tls", "unix", "libssh", "libssh2"}
# metadata/nodes/ holds node files (a node "nodes" would collide); "auto" asks create-vm to place the VM
RESERVED_NAMES = {"nodes", "auto"}
AUTO = "auto"
# libvirt URI parameters a node URI may carry. `command` (the local program the ssh/ext transports run) is
# not among them: an API token must not choose what the controller executes.
URI_PARAMS = {"name", "no_verify", "no_tty", "keyfile", "known_hosts", "known_hosts_verify", "sshauth",
              "pkipath", "tls_priority", "mode", "proxy", "netcat", "socket"}
TEST_DEFAULT = "test:///default"


class NodeInMaintenance(Conflict):
    code = "NodeInMaintenance"


def _invalid(uri: str, why: str, field_error: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"invalid libvirt URI {uri!r}: {why}", code="InvalidUri",
                        details={"field_errors": {"uri": [field_error]}, **details})


def _check_test_uri(uri: str, path: str, fixture_dirs: Sequence[Path]) -> None:
    """The test driver reads the file a URI names (as root). Only libvirt's built-in `test:///default` and
    `.xml` files inside JVP's own fixture directories are accepted, so a URI cannot make JVP read (and
    libvirt echo in its parse error) an arbitrary file of the controller."""
    if uri == TEST_DEFAULT:
        return
    dirs = ", ".join(str(d) for d in fixture_dirs) or "none configured"
    refusal = _invalid(uri, "the test driver accepts test:///default or a .xml fixture file in JVP's "
                       f"fixture directories ({dirs}; setting test_fixtures_dir)", "Not a JVP fixture file.")
    if not path.startswith("/") or not path.endswith(".xml"):
        raise refusal
    real = os.path.realpath(path)
    for base in fixture_dirs:
        base_real = os.path.realpath(base)
        if real.startswith(base_real.rstrip("/") + "/") and os.path.isfile(real):
            return
    raise refusal


def validate_uri(uri: str, fixture_dirs: Sequence[Path] = ()) -> None:
    """Accept libvirt URIs for the QEMU driver (and the test driver on JVP's own fixture files, for demos
    and tests). Refuses, as InvalidUri (400), anything else, including URIs urlsplit cannot parse."""
    if any(c.isspace() for c in uri) or len(uri) > 1024:
        raise _invalid(uri, "no whitespace, at most 1024 characters", "Invalid URI.")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise _invalid(uri, f"it cannot be parsed ({exc})", "Malformed URI.") from None
    driver, _, transport = parts.scheme.partition("+")
    if driver not in DRIVERS or (transport or None) not in TRANSPORTS:
        raise InvalidInput(
            f"unsupported libvirt URI scheme '{parts.scheme or uri}': use qemu:///system, "
            "qemu+ssh://user@host/system, qemu+tcp://host/system or qemu+tls://host/system",
            code="InvalidUri", details={"field_errors": {"uri": ["Unsupported URI scheme."]},
                                        "scheme": parts.scheme})
    unknown = sorted({k for k, _ in params} - URI_PARAMS)
    if unknown:
        raise _invalid(uri, f"parameter(s) {', '.join(unknown)} not accepted (allowed: "
                       f"{', '.join(sorted(URI_PARAMS))})", "Parameter not accepted.", parameters=unknown)
    if driver == "test":
        if transport or parts.netloc or params or parts.fragment:
            raise _invalid(uri, "the test driver is local only: test:///default or test:///<fixture>.xml",
                           "Not a JVP fixture file.")
        _check_test_uri(uri, parts.path, fixture_dirs)
        return
    if parts.path not in ("/system", "/session"):
        raise _invalid(uri, "the QEMU driver's path is /system or /session", "Invalid URI path.")
    if transport in ("ssh", "tcp", "tls", "libssh", "libssh2") and not parts.hostname:
        raise _invalid(uri, "a remote transport needs a host name", "Missing host.")


DEFAULT_PORTS = {"tls": 16514, "tcp": 16509, "ssh": 22, "libssh": 22, "libssh2": 22}


def canonical_uri(uri: str) -> str:
    """The form two node URIs are compared in ("one node per URI"), so spelling cannot register a second
    node over the same host: scheme and host lower-cased, an IPv6 address in its compressed form, a default
    port dropped (tls 16514, tcp 16509, ssh 22), `qemu://host` read as libvirt does (TLS) and `qemu+unix:///`
    as `qemu:///`, repeated and trailing slashes collapsed (a test driver's fixture path resolved as the
    driver opens it), parameters sorted, the fragment dropped. The user name is kept (two logins may see
    two session daemons). The URI a node is saved and shown with stays the one given."""
    try:
        parts = urlsplit(uri)
        port = parts.port
        params = sorted(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        return uri
    driver, _, transport = parts.scheme.lower().partition("+")
    host = (parts.hostname or "").rstrip(".")
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
        host = f"[{addr}]" if addr.version == 6 else str(addr)
    except ValueError:
        pass
    if transport == "unix" and not host:
        transport = ""
    if host and not transport and driver != "test":
        transport = "tls"  # libvirt's default transport for a remote host
    if port is not None and DEFAULT_PORTS.get(transport) == port:
        port = None
    path = re.sub(r"/+", "/", parts.path)
    if driver == "test" and path.startswith("/") and path != "/default":
        path = os.path.realpath(path)
    elif len(path) > 1:
        path = path.rstrip("/")
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}{host}{f':{port}' if port else ''}"
    scheme = f"{driver}+{transport}" if transport else driver
    query = "&".join(f"{k}={v}" for k, v in params)
    return f"{scheme}://{netloc}{path}{f'?{query}' if query else ''}"


def on_this_machine(uri: str) -> bool:
    """Whether a node URI reaches the libvirt of the JVP server's own machine (no host, or a loopback
    one), whose filesystem is the controller's: paths can be resolved there."""
    try:
        host = (urlsplit(uri).hostname or "").rstrip(".")
    except ValueError:
        return False
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class NodeDirectory:
    """Where the nodes are: their records in the metadata store (`local` from the configuration). The
    gateway asks it for a node's URI (`locate`, on every call to a node); it never connects anywhere itself.

    Node files are read again only when they changed: each parsed document is kept with its file's
    (inode, mtime, size), checked by one stat per read (the store writes by rename, so another worker's
    change is seen at once). Listings over many nodes no longer parse and validate every node file per call
    and per node."""

    def __init__(self, store: MetadataStore, local_uri: str):
        self.store = store
        self.local_uri = local_uri
        self._docs: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        # each node file's path, checked by the store once (its realpath check is per call, ~20 us)
        self._paths: dict[str, Any] = {}

    def _doc(self, name: str, private: bool = True) -> dict[str, Any] | None:
        """store.get("node", name), from the stat-checked cache when the file did not change. `private`:
        a copy the caller may change (record() only reads it: no copy)."""
        path_of = getattr(self.store, "path", None)  # a store without files (tests' fakes): no cache
        if path_of is None:
            return self.store.get("node", name)
        path = self._paths.get(name)
        if path is None:
            path = path_of("node", name)
            if len(self._paths) < 10_000:  # names come from requests: bounded (unknown names included)
                self._paths[name] = path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._docs.pop(name, None)
            return None
        except OSError:
            return self.store.get("node", name)  # the store reports it (MetadataCorrupt)
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        hit = self._docs.get(name)
        if hit is not None and hit[0] == sig:
            return copy.deepcopy(hit[1]) if private else hit[1]
        doc = self.store.get("node", name)  # raises MetadataCorrupt as before; a corrupt file is not cached
        if doc is None:
            self._docs.pop(name, None)
        else:
            # stat before read: a change in between leaves a newer doc under the older signature, which the
            # next stat no longer matches (read again), never an older doc under the newer one
            self._docs[name] = (sig, copy.deepcopy(doc))
        return doc

    def _from_doc(self, doc: dict[str, Any]) -> NodeRecord:
        return NodeRecord(name=doc["name"], uri=doc["uri"], description=doc.get("description", ""),
                          labels=dict(doc.get("labels") or {}), maintenance=bool(doc.get("maintenance")),
                          created_at=doc.get("created_at"), updated_at=doc.get("updated_at"),
                          kvm_usable=doc.get("kvm_usable"), kvm_probed_at=doc.get("kvm_probed_at"))

    def _local(self, doc: dict[str, Any] | None) -> NodeRecord:
        rec = self._from_doc(doc) if doc else NodeRecord(name=LOCAL, uri=self.local_uri)
        rec.uri = self.local_uri  # the local node's URI always comes from the configuration
        return rec

    def record(self, name: str) -> NodeRecord:
        doc = self._doc(name, private=False)  # _from_doc copies what it keeps
        if name == LOCAL:
            return self._local(doc)
        if doc is None:
            raise not_found("node", name)
        return self._from_doc(doc)

    def _listing(self) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, str]]]:
        path_of = getattr(self.store, "path", None)
        if path_of is None:
            listing = self.store.list("node")
            return [(key[0], doc) for key, doc in listing.items], listing.errors
        items, errors = [], []
        for (name,) in self.store.keys("node"):
            try:
                doc = self._doc(name, private=False)  # records() only reads it (_from_doc copies what it keeps)
            except JvpError as exc:  # as store.list reports a file it cannot read: listed, not dropped
                errors.append({"path": exc.details.get("path", str(path_of("node", name))), "code": exc.code,
                               "message": exc.message})
                continue
            if doc is not None:
                items.append((name, doc))
        return items, errors

    def records(self) -> tuple[list[NodeRecord], list[dict[str, str]]]:
        items, errors = self._listing()
        by_name = dict(items)
        recs = [self._local(by_name.pop(LOCAL, None))]
        recs += [self._from_doc(doc) for _, doc in sorted(by_name.items())]
        return recs, errors

    def locate(self, name: str) -> tuple[str, str]:
        rec = self.record(name)
        return rec.name, rec.uri


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
        if facts is not None:
            view = dataclasses.replace(view, **{f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)},
                                       reachable=True)
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
        """Every node probed in parallel (the gateway's fan-out, one bound for all); a node the health
        memory knows dead is shown offline at once with the failure that marked it, not probed again here
        (the background probe brings it back)."""
        recs, errors = self.records()
        by_name = {rec.name: rec for rec in recs}
        nodes = []
        for r in self.gateway.fan_out(list(by_name), self._probe_name, self.timeout_s,
                                      what="answer"):
            rec = by_name[r.node]
            view = self._base_view(rec)
            if r.error is not None:
                view.last_error = r.error["message"]
            nodes.append(self._finish(view, r.value, rec))
        if state:
            nodes = [n for n in nodes if n.state == state]
        return NodeList(nodes=nodes, errors=errors)

    def _probe_name(self, name: str) -> HostFacts:
        return self.gateway.host_facts(name)

    def describe(self, name: str) -> NodeView:
        rec = self.record(name)
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
        process when the local node or a stored node is a test:/// one (jvp/server.py); a test:/// node
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
