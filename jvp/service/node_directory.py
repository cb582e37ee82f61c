"""The node directory: node records in the metadata store (metadata/nodes/<name>.yaml; `local` from the
configuration), read again only when their file changed. The gateway asks it for a node's URI."""
from __future__ import annotations

import copy
import os
from typing import Any

from jvp.domain.node import LOCAL, NodeRecord
from jvp.errors import JvpError, not_found
from jvp.store import MetadataStore


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
                doc = self._doc(name, private=False)  # records() only reads them (_from_doc copies what it keeps)
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
