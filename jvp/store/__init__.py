"""The metadata store: what libvirt cannot hold, as versioned YAML files under the data dir."""
from jvp.store.datadir import DIR_MODE, private_data_dir, private_dirs
from jvp.store.interface import ListResult, MetadataCorrupt, MetadataStore, safe_key
from jvp.store.kinds import KINDS
from jvp.store.locks import FILE_MODE, private_lock
from jvp.store.store import YamlMetadataStore
from jvp.store import migrations  # noqa: F401,E402 - registers the schema migrations

__all__ = ["MetadataStore", "YamlMetadataStore", "MetadataCorrupt", "ListResult", "KINDS", "DIR_MODE", "FILE_MODE",
           "private_data_dir", "private_dirs", "private_lock", "safe_key"]
