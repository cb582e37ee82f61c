"""The metadata store: what libvirt cannot hold, as versioned YAML files under the data dir."""
from jvp.store.store import MetadataStore, YamlMetadataStore, MetadataCorrupt, ListResult, KINDS

__all__ = ["MetadataStore", "YamlMetadataStore", "MetadataCorrupt", "ListResult", "KINDS"]
