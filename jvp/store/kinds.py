"""Where each kind of metadata file lives (SPEC §3) and how its key maps to a path."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Kind:
    name: str
    path: Callable[..., str]        # key parts -> path relative to the data dir
    pattern: str                    # glob (relative to the data dir) matching every file of the kind
    key_of: Callable[[tuple[str, ...]], tuple[str, ...]]  # path parts (relative) -> key
    private: bool = False           # holds secrets (every file of the data dir is 0600 anyway)
    own_dir: bool = False           # each object has its own directory (removed with its last file)


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("node", lambda name: f"metadata/nodes/{name}.yaml", "metadata/nodes/*.yaml",
         lambda parts: (parts[-1][:-5],)),
    Kind("template", lambda node, name: f"metadata/{node}/{name}/metadata.yaml",
         "metadata/*/*/metadata.yaml", lambda parts: (parts[1], parts[2]), own_dir=True),
    Kind("template_history", lambda node, name: f"metadata/{node}/{name}/history.yaml",
         "metadata/*/*/history.yaml", lambda parts: (parts[1], parts[2]), own_dir=True),
    Kind("keypair", lambda name: f"keypairs/{name}.yaml", "keypairs/*.yaml",
         lambda parts: (parts[-1][:-5],)),
    Kind("task", lambda task_id: f"tasks/{task_id}.yaml", "tasks/*.yaml",
         lambda parts: (parts[-1][:-5],)),
    Kind("tokens", lambda: "auth/tokens.yaml", "auth/tokens.yaml", lambda parts: (), private=True),
    Kind("token_usage", lambda: "auth/token-usage.yaml", "auth/token-usage.yaml", lambda parts: ()),
    Kind("console_token", lambda digest: f"consoles/{digest}.yaml", "consoles/*.yaml",
         lambda parts: (parts[-1][:-5],), private=True),
    Kind("download", lambda key: f"downloads/{key}.yaml", "downloads/*.yaml",
         lambda parts: (parts[-1][:-5],)),
]}
