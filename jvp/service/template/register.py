"""register-template: every check before the task, then the task that fetches, verifies and installs the
image into the pool's template pool, and writes the metadata last (a failure before that leaves nothing: the
half-made volume is the task's registered cleanup, the partial download is removed by its session).

Sources:
- `url`: downloaded by the controller (template_download.py), checked with qemu-img (images/qemu_img.py),
  streamed to the node through a libvirt volume upload: local and remote nodes alike.
- `file`: a file on the JVP server, only when `download.allow_file_urls` is true and only under one of
  `download.file_dirs` (default `<data_dir>/images`); `file://` URLs are the same source. Hashed while it
  is streamed to the node.
- `volume`: a volume of the node, copied into the template pool by libvirt on the node (nothing crosses
  the connection).
- `snapshot`: provided by the snapshot module (it leaves the disk at the snapshot in a temporary volume,
  copied like a volume source and then removed); its export-snapshot-to-template uses the installer's steps
  directly (install.py); register_from_volume is the public entry for any other module with a volume to
  turn into a template.

Where the snapshot source comes from (the choice, and why): the snapshot exporter needs the template
service (to install and register what it exports), and register-template needs the exporter (for
`source: {type: snapshot}`), so neither can be built first with the other in hand. The loop is broken by
a registry of image sources, `TemplateSources`, made empty by the composition root and given to the
template service's constructor; jvp/app.py adds the exporter's `as_template_source` to it once the
exporter exists (`sources.add("snapshot", ...)`), in plain sight next to both constructors. The template
module depends only on the `SnapshotSource` signature, never on the snapshot module, and a source that
was not added is 422 NotSupported.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlsplit

from jvp.errors import InvalidInput, NotSupported, PreconditionFailed, already_exists
from jvp.images import qemu_img
from jvp.images.checksums import Checksum, ChecksumError, find_in_checksum_file, parse_checksum
from jvp.images.fetch import Fetcher, Hashes, check_url, redact
from jvp.hypervisor.gateway import NodeGateway
from jvp.service.node import NodeService
from jvp.service.storage.pool import StoragePoolService
from jvp.service.storage.volume import VolumeService
from jvp.service.task.handle import TaskHandle
from jvp.service.task.service import TaskService
from jvp.service.template.catalog import TemplateCatalog
from jvp.service.template.download import Downloads
from jvp.service.template.install import TemplateInstaller, bad, volume_name  # noqa: F401 - volume_name: API
from jvp.store import MetadataStore

log = logging.getLogger(__name__)
DOWNLOAD_PCT = (0.0, 80.0)
# An image source another module provides, e.g. the snapshot module's:
# (node, vm, snapshot, handle) -> {"pool", "volume", "remove": bool}
SnapshotSource = Callable[[str, str, str, TaskHandle], dict[str, Any]]


class TemplateSources:
    """The image sources other modules provide to register-template, by source type (see the module
    docstring for why this is a registry). Made by the composition root and given to the template service."""

    def __init__(self) -> None:
        self._by_type: dict[str, SnapshotSource] = {}

    def add(self, source_type: str, fn: SnapshotSource) -> None:
        self._by_type[source_type] = fn

    def get(self, source_type: str) -> SnapshotSource | None:
        return self._by_type.get(source_type)


def registered(view: dict[str, Any]) -> str:
    st = view["storage"]
    size = f"{st['virtual_size'] / 2**30:.1f} GiB" if st.get("virtual_size") else "size unknown"
    return (f"template '{view['name']}' registered on node '{view['node']}': {st['format']}, {size}, "
            f"{st['template_pool']}/{st['volume']}")


@dataclass
class Downloaded:
    part: Path
    facts: qemu_img.ImageFacts
    checksum: str            # "sha256:<hex>", computed on the way (verified when a sha256 was expected)
    verified: bool
    verified_checksum: str | None  # the verified digest when it is not a sha256 ("sha512:<hex>")
    remote: Any
    stats: dict[str, Any]


class TemplateRegistrar(TemplateInstaller):
    """register-template's checks and task; the installer's steps (its base class) do the node side."""

    def __init__(self, catalog: TemplateCatalog, store: MetadataStore, nodes: NodeService, gateway: NodeGateway,
                 tasks: TaskService, volumes: VolumeService, pools: StoragePoolService, fetcher: Fetcher,
                 downloads: Downloads, download_settings: dict[str, Any], data_dir: Path,
                 sources: TemplateSources):
        super().__init__(catalog, store, gateway, volumes, pools)
        self.nodes = nodes
        self.tasks = tasks
        self.fetcher = fetcher
        self.downloads = downloads
        self.download_settings = download_settings
        self.data_dir = Path(data_dir)
        self.sources = sources

    # -- checks before any task -------------------------------------------------------------------------
    def file_source(self, path: str, field: str = "source.path") -> Path:
        settings = self.download_settings
        if not settings["allow_file_urls"]:
            raise PreconditionFailed("files on the JVP server are not allowed as template sources by this "
                                     "server's configuration (download.allow_file_urls: false)",
                                     code="FileSourceDisabled", details={"field_errors": {field: ["Disabled."]}})
        if not path.startswith("/"):
            raise bad(field, "give an absolute path")
        real = Path(os.path.realpath(path))
        dirs = [Path(os.path.realpath(d)) for d in (settings.get("file_dirs") or [self.data_dir / "images"])]
        if not any(real == d or d in real.parents for d in dirs):
            raise bad(field, f"{path} is outside the directories allowed for template files "
                      f"({', '.join(map(str, dirs))}; download.file_dirs)", code="PathNotAllowed")
        if not real.is_file():
            raise bad(field, f"{path} is not a file on the JVP server", code="SourceFileNotFound")
        return real

    def check_source(self, node: str, source: dict[str, Any]) -> dict[str, Any]:
        """The source with its type's fields checked (and file:// turned into a file source)."""
        kind = source["type"]
        wanted = {"url": ("url",), "file": ("path",), "volume": ("volume",), "snapshot": ("vm", "snapshot")}[kind]
        for f in wanted:
            if not source.get(f):
                raise bad(f"source.{f}", f"a {kind} source needs source.{f}")
        allowed = {"url": {"url", "sha256", "checksum", "checksum_url", "format"},
                   "file": {"path", "sha256", "checksum", "format"}, "volume": {"pool", "volume"},
                   "snapshot": {"vm", "snapshot"}}[kind] | {"type"}
        extra = sorted(k for k, v in source.items() if v is not None and k not in allowed)
        if extra:
            raise bad(f"source.{extra[0]}", f"a {kind} source does not take {', '.join(extra)}")
        out = dict(source)
        if out.get("sha256") and out.get("checksum"):
            raise bad("source.checksum", "give sha256 or checksum, not both")
        if out.get("sha256") or out.get("checksum"):
            try:
                out["expected"] = parse_checksum(out.get("checksum") or "sha256:" + out["sha256"])
            except ChecksumError as exc:
                raise bad("source.checksum" if out.get("checksum") else "source.sha256", str(exc)) from exc
        if kind == "url":
            check_url(out["url"], allow_file=self.download_settings["allow_file_urls"], policy=self.fetcher.policy)
            if urlsplit(out["url"]).scheme.lower() == "file":
                out = {**out, "type": "file", "path": unquote(urlsplit(out["url"]).path)}
            if out.get("checksum_url"):
                check_url(out["checksum_url"], field_name="source.checksum_url", policy=self.fetcher.policy)
                if out.get("expected"):
                    raise bad("source.checksum_url", "give a checksum or a checksum_url, not both")
        if out["type"] == "file":
            out["file"] = self.file_source(out["path"], "source.path" if kind == "file" else "source.url")
        if kind == "snapshot" and self.sources.get("snapshot") is None:
            raise NotSupported("templates from snapshots need the snapshot module (export-snapshot-to-template)",
                               code="NotSupported", details={"source": "snapshot"})
        return out

    # -- register-template -------------------------------------------------------------------------------
    def register(self, node: str, pool: str, name: str, source: dict[str, Any], *, os: dict | None = None,
                 features: dict | None = None, tags: list[str] | None = None, description: str = "",
                 created_by: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        self.nodes.record(node)
        src = self.check_source(node, source)
        self.nodes.ensure_available(node)
        if self.store.get("template", node, name) is not None:
            raise already_exists("template", name, node, code="TemplateExists")
        self.parent_pool(node, pool)
        if src["type"] == "volume":
            src["pool"] = src.get("pool") or pool
            self._copyable(node, src["pool"], src["volume"])
        meta = {"os": os or {}, "features": features or {}, "tags": tags or [], "description": description or ""}

        def work(handle: TaskHandle) -> dict[str, Any]:
            if src["type"] == "url":
                return self._from_url(handle, node, pool, name, src, meta)
            if src["type"] == "file":
                return self._from_file(handle, node, pool, name, src, meta)
            if src["type"] == "volume":
                return self._from_volume(handle, node, pool, name, src["pool"], src["volume"], meta,
                                         {"type": "volume", "pool": src["pool"], "volume": src["volume"]}, "cloud")
            made = self.sources.get("snapshot")(node, src["vm"], src["snapshot"], handle)
            return self._from_volume(handle, node, pool, name, made["pool"], made["volume"], meta,
                                     {"type": "snapshot", "vm": src["vm"], "snapshot": src["snapshot"]}, "snapshot",
                                     remove_source=bool(made.get("remove")))
        what = src.get("url") and redact(src["url"]) or src.get("path") or f"{src.get('pool')}/{src.get('volume')}"
        params = {k: (redact(v) if k == "url" else v) for k, v in source.items() if v is not None}
        return self.tasks.submit("register-template", {"kind": "template", "node": node, "name": name}, work,
                                     params={"pool": pool, "source": params}, created_by=created_by,
                                     request_id=request_id, message=f"registering {name} from {what}")

    def register_from_volume(self, node: str, pool: str, name: str, source_pool: str, source_volume: str, *,
                             source_meta: dict[str, Any] | None = None, remove_source: bool = False,
                             os: dict | None = None, features: dict | None = None, tags: list[str] | None = None,
                             description: str = "", created_by: str | None = None,
                             request_id: str | None = None) -> dict[str, Any]:
        """A template copied from a volume of the node (task). The snapshot module's
        export-snapshot-to-template calls this with the volume holding the snapshot's disk state,
        source_meta={"type": "snapshot", "vm": VM, "snapshot": SNAP} and remove_source=True (the volume is
        deleted once copied, or when the task fails)."""
        self.nodes.ensure_available(node)
        if self.store.get("template", node, name) is not None:
            raise already_exists("template", name, node, code="TemplateExists")
        self.parent_pool(node, pool)
        self._copyable(node, source_pool, source_volume)
        meta = {"os": os or {}, "features": features or {}, "tags": tags or [], "description": description or ""}
        source = source_meta or {"type": "volume", "pool": source_pool, "volume": source_volume}
        ttype = "snapshot" if source.get("type") == "snapshot" else "cloud"
        return self.tasks.submit(
            "register-template", {"kind": "template", "node": node, "name": name},
            lambda h: self._from_volume(h, node, pool, name, source_pool, source_volume, meta, source, ttype,
                                        remove_source=remove_source),
            params={"pool": pool, "source": source}, created_by=created_by, request_id=request_id,
            message=f"registering {name} from {source_pool}/{source_volume}")

    # -- the task's steps (also used by update-template-image) ---------------------------------------------
    def published_checksum(self, url: str, checksum_url: str) -> Checksum:
        text = self.fetcher.get_small(checksum_url).decode("utf-8", "replace")
        names = [Path(unquote(urlsplit(url).path)).name]
        try:
            return find_in_checksum_file(text, names[0])
        except ChecksumError as exc:
            raise PreconditionFailed(f"{redact(checksum_url)}: {exc}", code="ChecksumNotFound",
                                     details={"checksum_url": redact(checksum_url), "file": names[0]}) from exc

    @staticmethod
    def verify(expected: Checksum | None, hashes: Hashes) -> tuple[str, str | None]:
        """Check the image against `expected`. Returns the image's "sha256:<hex>" (SPEC 2.4's checksum,
        computed whatever was expected) and the verified digest when it is of another algorithm
        ("sha512:<hex>", kept as source.verified_checksum), else None."""
        sha256 = f"sha256:{hashes.hexdigest('sha256')}"
        if expected is None:
            return sha256, None
        actual = hashes.hexdigest(expected.algorithm)
        if actual != expected.hexdigest:
            raise InvalidInput(f"checksum mismatch: the image's {expected.algorithm} is {actual}, expected "
                               f"{expected.hexdigest}; the file was removed", code="ChecksumMismatch",
                               details={"expected": str(expected), "actual": f"{expected.algorithm}:{actual}"})
        return sha256, (str(expected) if expected.algorithm != "sha256" else None)

    @contextmanager
    def downloaded(self, handle: TaskHandle, url: str, expected: Checksum | None, checksum_url: str | None,
                   declared: str | None) -> Iterator[Downloaded]:
        """Download, verify and inspect; the file exists for the block only."""
        if checksum_url:
            handle.progress(0, f"reading the checksum file {redact(checksum_url)}", force=True)
            expected = self.published_checksum(url, checksum_url)
        algorithms = ("sha256",) + ((expected.algorithm,) if expected and expected.algorithm != "sha256" else ())
        hashes = Hashes(algorithms)
        low, high = DOWNLOAD_PCT

        def progress(done: int, total: int | None) -> None:
            handle.progress(low + (high - low) * done / total if total else None, f"downloading {redact(url)}",
                            bytes_done=done, bytes_total=total)
        with self.downloads.session(url, handle.id) as session:
            got = session.fetch(handle, hashes, progress)
            handle.progress(high, "verifying the checksum and the image format", force=True)
            checksum, verified_checksum = self.verify(expected, hashes)
            facts = qemu_img.inspect(got.part, declared)
            fetched = got.bytes - got.resumed_from
            stats = {"bytes": got.bytes, "resumed_from": got.resumed_from, "seconds": round(got.seconds, 3),
                     "mib_per_s": round(fetched / 2**20 / got.seconds, 1) if got.seconds > 0 else None}
            yield Downloaded(part=got.part, facts=facts, checksum=checksum, verified=expected is not None,
                             verified_checksum=verified_checksum, remote=got.remote, stats=stats)

    def _from_url(self, handle: TaskHandle, node: str, pool: str, name: str, src: dict[str, Any],
                  meta: dict[str, Any]) -> dict[str, Any]:
        with self.downloaded(handle, src["url"], src.get("expected"), src.get("checksum_url"),
                             src.get("format")) as got:
            fmt = got.facts.format
            vol, spec = self.install_file(handle, node, pool, volume_name(name, 1, fmt), got.part, fmt)
            source = {"type": "url", "url": src["url"], "checksum_url": src.get("checksum_url"),
                      "checksum": got.checksum, "verified": got.verified, "etag": got.remote.etag,
                      "last_modified": got.remote.last_modified, "length": got.remote.length,
                      **({"verified_checksum": got.verified_checksum} if got.verified_checksum else {})}
            doc = self.new_doc(node, pool, name, "cloud", vol, fmt, got.facts.size, got.facts.virtual_size,
                               source, meta)
            view = self.save(handle, node, name, doc, [spec])
            return {"template": view, "download": got.stats, "message": registered(view)}

    def _from_file(self, handle: TaskHandle, node: str, pool: str, name: str, src: dict[str, Any],
                   meta: dict[str, Any]) -> dict[str, Any]:
        path: Path = src["file"]
        handle.progress(1, f"checking {path} with qemu-img", force=True)
        facts = qemu_img.inspect(path, src.get("format"))
        expected: Checksum | None = src.get("expected")
        hashes = Hashes(("sha256",) + ((expected.algorithm,) if expected and expected.algorithm != "sha256" else ()))
        vol, spec = self.install_file(handle, node, pool, volume_name(name, 1, facts.format), path, facts.format,
                                      hashes)
        checksum, verified_checksum = self.verify(expected, hashes)
        source = {"type": "file", "path": str(path), "checksum": checksum, "verified": expected is not None,
                  **({"verified_checksum": verified_checksum} if verified_checksum else {})}
        doc = self.new_doc(node, pool, name, "cloud", vol, facts.format, facts.size, facts.virtual_size, source,
                           meta)
        view = self.save(handle, node, name, doc, [spec])
        return {"template": view, "message": registered(view)}

    def _from_volume(self, handle: TaskHandle, node: str, pool: str, name: str, src_pool: str, src_volume: str,
                     meta: dict[str, Any], source: dict[str, Any], ttype: str, *,
                     remove_source: bool = False) -> dict[str, Any]:
        temp = {"type": "volume", "node": node, "pool": src_pool, "name": src_volume}
        if remove_source:
            handle.add_cleanup(temp)  # an exported snapshot volume goes whatever happens
        src = self.volumes.raw(node, src_pool, src_volume)
        if src.format not in ("qcow2", "raw"):
            raise bad("source.volume", f"volume '{src_volume}' is not a qcow2 or raw image",
                      code="FormatNotSupported")
        vol, spec, fmt = self.copy_volume(handle, node, pool, src_pool, src_volume,
                                          volume_name(name, 1, src.format))
        doc = self.new_doc(node, pool, name, ttype, vol, fmt, vol.physical_bytes or vol.allocation_bytes,
                           vol.capacity_bytes, {k: v for k, v in source.items() if v is not None}, meta)
        view = self.save(handle, node, name, doc, [spec])
        if remove_source:
            self.volumes.remove_partial(temp)
            handle.drop_cleanup(temp)
        return {"template": view, "message": registered(view)}

