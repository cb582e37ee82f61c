"""Stream mechanics without a node: sparse upload framing, segmented download, format sniffing."""
from __future__ import annotations

import struct

import libvirt
import pytest

from jvp.hypervisor import volume_stream
from jvp.hypervisor.volume_stream import BLOCK, HOLE_GRAIN, BackgroundUpload, Upload, download
from jvp.service.storage.transfer import ImageHead, sniff


class FakeStream:
    """Records what an upload sends, or plays back a download with holes."""

    def __init__(self, script=None):
        self.ops = []
        self.script = list(script or [])
        self.finished = self.aborted = False

    def send(self, data):
        assert isinstance(data, bytes)
        n = min(len(data), 300_000)  # libvirt may take less than offered
        self.ops.append(("data", data[:n]))
        return n

    def sendHole(self, length, flags):  # noqa: N802 - libvirt's name
        self.ops.append(("hole", length))

    def recvFlags(self, n, flags):  # noqa: N802
        if not self.script:
            return b""
        kind, value = self.script[0]
        if kind == "hole":
            return -3
        self.script.pop(0)
        return value

    def recvHole(self, flags):  # noqa: N802
        return self.script.pop(0)[1]

    def finish(self):
        self.finished = True

    def abort(self):
        self.aborted = True


class FakeConn:
    def __init__(self, streams):
        self.streams = streams

    def newStream(self, flags):  # noqa: N802
        return self.streams.pop(0)


class FakeVol:
    def __init__(self, sparse=True):
        self.sparse = sparse
        self.calls = []

    def upload(self, stream, offset, length, flags):
        if flags and not self.sparse:
            raise _unsupported()
        self.calls.append(("upload", offset, length, flags))

    def download(self, stream, offset, length, flags):
        self.calls.append(("download", offset, length, flags))


def replay(ops):
    out = bytearray()
    for kind, value in ops:
        out += value if kind == "data" else bytes(value)
    return bytes(out)


def test_sparse_upload_turns_zero_runs_into_holes_and_keeps_every_byte():
    data = b"A" * 10 + bytes(3 * HOLE_GRAIN) + b"B" * 5 + bytes(BLOCK)
    stream = FakeStream()
    up = Upload(FakeConn([stream]), FakeVol(), len(data) + 2 * BLOCK)
    up.write(data[:BLOCK])
    up.write(data[BLOCK:])
    up.write(bytes(BLOCK))      # a whole block of zeros
    up.write(b"C" * BLOCK)      # data after a hole
    up.finish()
    sent = data + bytes(BLOCK) + b"C" * BLOCK
    assert replay(stream.ops) == sent and stream.finished
    holes = [v for k, v in stream.ops if k == "hole"]
    assert sum(holes) >= 3 * HOLE_GRAIN + BLOCK
    # consecutive zero grains become one hole, not one per grain
    assert len(holes) < 4


def test_trailing_zeros_are_sent_as_a_final_hole():
    stream = FakeStream()
    up = Upload(FakeConn([stream]), FakeVol(), 2 * BLOCK)
    up.write(b"x" * BLOCK)
    up.write(bytes(BLOCK))
    up.finish()
    assert stream.ops[-1] == ("hole", BLOCK)


def test_a_node_without_sparse_streams_gets_plain_bytes():
    first, second = FakeStream(), FakeStream()
    vol = FakeVol(sparse=False)
    up = Upload(FakeConn([first, second]), vol, BLOCK)
    assert up.sparse is False and first.aborted
    up.write(bytes(BLOCK))
    up.finish()
    assert {k for k, _ in second.ops} == {"data"} and replay(second.ops) == bytes(BLOCK)


def _unsupported():
    exc = libvirt.libvirtError("no support")
    exc.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, "no support", 0, None, None, None, 0, 0)
    return exc


def test_download_is_segmented_and_expands_holes(monkeypatch):
    monkeypatch.setattr(volume_stream, "SEGMENT", 8)
    segments = [FakeStream([("data", b"abc"), ("hole", 5)]), FakeStream([("data", b"defgh"), ("hole", 3)]),
                FakeStream([("hole", 2)])]
    vol = FakeVol()
    out = b"".join(download(FakeConn(segments), vol, 18))
    assert out == b"abc" + bytes(5) + b"defgh" + bytes(3) + bytes(2)
    assert [c[1:3] for c in vol.calls] == [(0, 8), (8, 8), (16, 2)]
    assert all(s.finished for s in segments)


def test_a_segment_that_ends_short_is_an_error():
    """The volume shrank under the download: the body must end short rather than pass as complete."""
    stream = FakeStream([("data", b"abc")])
    with pytest.raises(libvirt.libvirtError, match="changed during the download"):
        list(download(FakeConn([stream]), FakeVol(), 10))
    assert stream.finished


def test_a_client_going_away_aborts_the_node_stream():
    stream = FakeStream([("data", b"a" * 10), ("data", b"b" * 10)])
    gen = download(FakeConn([stream]), FakeVol(), 20)
    assert next(gen) == b"a" * 10
    gen.close()
    assert stream.aborted and not stream.finished


def qcow2_header(size: int, backing_offset: int = 0) -> bytes:
    return b"QFI\xfb" + struct.pack(">IQIIQ", 3, backing_offset, 0, 16, size) + bytes(100)


def test_sniff():
    assert sniff(qcow2_header(10 * 1024**3)) == ImageHead("qcow2", backing=False, virtual_size=10 * 1024**3)
    assert sniff(qcow2_header(1, backing_offset=512)).backing is True
    assert sniff(b"\x00" * 512).format == "raw"
    assert sniff(b"QFI").format == "raw"


def test_background_upload_sends_everything_in_order_then_finishes():
    stream = FakeStream()
    up = BackgroundUpload(Upload(FakeConn([stream]), FakeVol(), 20 * BLOCK))
    blocks = [bytes([i + 1]) * BLOCK for i in range(20)]
    for b in blocks:
        up.write(b)
    up.finish()
    assert replay(stream.ops) == b"".join(blocks) and stream.finished


def test_a_failing_node_stops_the_background_upload_and_the_error_reaches_the_writer():
    class Broken(FakeStream):
        def send(self, data):
            raise libvirt.libvirtError("node went away")
    stream = Broken()
    up = BackgroundUpload(Upload(FakeConn([stream]), FakeVol(), 100 * BLOCK))
    with pytest.raises(libvirt.libvirtError, match="went away"):
        for _ in range(100):
            up.write(b"x" * BLOCK)
        up.finish()
    up.abort()
    assert stream.aborted and not stream.finished


def test_aborting_a_background_upload_drops_what_is_queued():
    stream = FakeStream()
    up = BackgroundUpload(Upload(FakeConn([stream]), FakeVol(), 10 * BLOCK))
    up.write(b"y" * BLOCK)
    up.abort()
    assert stream.aborted and not stream.finished

