"""The download's hash pipe (jvp/images/hashing.py): blocks hashed in order whichever thread hashes them, the
caller's reused buffers never overwritten while waiting, everything queued hashed by close()."""
from __future__ import annotations

import hashlib
import random
import time

from jvp.images.hashing import PIPE_DEPTH, Hashes, HashPipe


class _SlowHashes(Hashes):
    """Hashes whose helper thread is slow now and then (a busy host): the caller must step in."""

    def update(self, data) -> None:
        if random.random() < 0.3:
            time.sleep(0.002)
        super().update(data)


def _blocks(n: int, size: int) -> list[bytes]:
    rnd = random.Random(7)
    return [rnd.randbytes(size) for _ in range(n)]


def test_blocks_in_reused_buffers_are_hashed_in_order_by_both_threads():
    blocks = _blocks(200, 4096)
    buffers = [bytearray(4096) for _ in range(HashPipe.BUFFERS)]
    hashes = _SlowHashes()
    pipe = HashPipe(hashes)
    for i, block in enumerate(blocks):
        buf = buffers[i % len(buffers)]
        buf[:] = block  # the caller writes the next block into a buffer it used before
        pipe.put(memoryview(buf))
    pipe.close()
    assert hashes.done == 200 * 4096
    assert hashes.hexdigest("sha256") == hashlib.sha256(b"".join(blocks)).hexdigest()
    assert pipe.helped > 0  # the caller hashed some blocks itself while the helper was behind


def test_close_hashes_everything_queued_and_an_idle_helper_leaves_the_caller_alone():
    blocks = _blocks(PIPE_DEPTH, 1024)
    hashes = Hashes(("sha256", "sha512"))
    pipe = HashPipe(hashes)
    for block in blocks:
        pipe.put(block)
    pipe.close()
    assert pipe.helped == 0  # never more than PIPE_DEPTH waiting
    assert hashes.hexdigest("sha512") == hashlib.sha512(b"".join(blocks)).hexdigest()
    assert hashes.done == PIPE_DEPTH * 1024
