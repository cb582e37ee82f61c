"""The metadata store: what libvirt cannot hold, as versioned YAML files under the data dir."""
from jvp.store.store import (MetadataStore, YamlMetadataStore, MetadataCorrupt, ListResult, KINDS, DIR_MODE,
                             FILE_MODE, private_data_dir, private_dirs, private_lock, safe_key)
from jvp.store import migrations  # noqa: F401,E402 - registers the schema migrations

__all__ = ["MetadataStore", "YamlMetadataStore", "MetadataCorrupt", "ListResult", "KINDS", "DIR_MODE", "FILE_MODE",
           "private_data_dir", "private_dirs", "private_lock", "safe_key"]
