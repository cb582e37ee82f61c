"""Digests of images computed while their bytes go by (no second pass over a file)."""
from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PIPE_DEPTH = 8          # blocks waiting between the receiving and the hashing thread
_READ = 4 * 1024 * 1024


@dataclass
class Hashes:
    """sha256 always (recorded in the metadata), plus the expected digest's algorithm when it differs."""
    algorithms: tuple[str, ...] = ("sha256",)
    done: int = 0
    _h: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._h = {a: hashlib.new(a) for a in self.algorithms}
        self.done = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._h.values():
            h.update(data)
        self.done += len(data)

    def hexdigest(self, algorithm: str) -> str:
        return self._h[algorithm].hexdigest()

    def catch_up(self, path: Path, size: int) -> None:
        """Hash the first `size` bytes of a partial file about to be continued."""
        self.reset()
        with open(path, "rb") as fh:
            while self.done < size:
                block = fh.read(min(_READ, size - self.done))
                if not block:
                    break
                self.update(block)


class HashPipe:
    """Hashes blocks in a helper thread while the caller receives and writes the next ones: sha256 runs at
    about the speed of a loopback transfer here, so doing both in one thread would nearly halve the
    throughput (hashlib and socket/file I/O release the GIL, so the two overlap on two cores).

    Blocks may be views of buffers the caller reuses: with at most PIPE_DEPTH blocks queued and one being
    hashed, a caller cycling through PIPE_DEPTH + 2 buffers never overwrites one still to be hashed."""
    BUFFERS = PIPE_DEPTH + 2

    def __init__(self, hashes: Hashes):
        self.hashes = hashes
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=PIPE_DEPTH)
        self._thread = threading.Thread(target=self._run, name="download-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            self.hashes.update(block)

    def put(self, block: bytes | memoryview) -> None:
        self._queue.put(block)

    def close(self) -> None:
        """Wait until every block queued so far is hashed (also after a failure, so that a resumed attempt
        knows exactly how many bytes the digests cover)."""
        self._queue.put(None)
        self._thread.join()
