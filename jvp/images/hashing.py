"""Digests of images computed while their bytes go by (no second pass over a file)."""
from __future__ import annotations

import hashlib
import threading
from collections import deque
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
    """Hashes blocks beside the caller, who receives and writes the next ones: sha256 costs about as much CPU
    as a loopback transfer here (0.6-0.9 CPU-s per GiB), so hashing in the receiving thread alone would
    nearly halve the throughput. A helper thread hashes the queued blocks in order (hashlib and socket/file
    I/O release the GIL, so the two overlap on two cores).

    When the helper falls behind (PIPE_DEPTH blocks waiting: on a busy host it gets only its share of a
    core), the caller does not sit and wait: it hashes the oldest waiting block itself before it receives
    the next one. One lock (`_turn`) is held by whoever hashes, and the block is taken from the queue under
    it, so blocks are hashed one at a time and in order by either thread; the work then goes at the speed of
    both threads' CPU shares together instead of the slower one's (about 1.5x under load on 2 cores, and no
    change on an idle host, where the helper keeps up and the caller never hashes).

    Blocks may be views of buffers the caller reuses: at most PIPE_DEPTH blocks wait once put() returns and
    one more is being hashed, so a caller cycling through PIPE_DEPTH + 2 buffers never overwrites one still
    to be hashed."""
    BUFFERS = PIPE_DEPTH + 2

    def __init__(self, hashes: Hashes):
        self.hashes = hashes
        self.helped = 0  # blocks the caller hashed itself (the helper was behind)
        self._pending: deque[bytes | memoryview] = deque()
        self._closed = False
        self._cond = threading.Condition()  # guards _pending and _closed
        self._turn = threading.Lock()       # held while a block is taken and hashed: one at a time, in order
        self._thread = threading.Thread(target=self._run, name="download-hash", daemon=True)
        self._thread.start()

    def _hash_next(self) -> bool:
        """Hash the oldest waiting block (the caller holds `_turn`); False when none waits."""
        with self._cond:
            if not self._pending:
                return False
            block = self._pending.popleft()
        self.hashes.update(block)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return  # closed and drained
            with self._turn:
                self._hash_next()

    def put(self, block: bytes | memoryview) -> None:
        with self._cond:
            self._pending.append(block)
            behind = len(self._pending) > PIPE_DEPTH
            self._cond.notify()
        if behind:
            with self._turn:  # waits for at most the block the helper is hashing
                if self._hash_next():
                    self.helped += 1

    def close(self) -> None:
        """Wait until every block queued so far is hashed (also after a failure, so that a resumed attempt
        knows exactly how many bytes the digests cover)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
