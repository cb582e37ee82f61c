"""The events stream on the real server (tier 3): gunicorn with two workers on the real qemu:///system.
Several streams (they land on either worker) each see a VM defined and started outside JVP (libvirt-python,
as virsh would), an upload task run by whichever worker took the upload, and the audit entries of requests
either worker served; a stream beyond events.max_streams is refused with 503 by the worker's own count."""
from __future__ import annotations

import json
import os
import time

import libvirt
import pytest
import requests
import websocket

from tests.conftest import start_server, stop_server, unique
from tests.consoleutil import ws_url

pytestmark = pytest.mark.host
STREAMS = 4


def _open(server, query: str = "") -> websocket.WebSocket:
    ws = websocket.create_connection(ws_url(server.url, f"/ws/events{query}"), timeout=20, suppress_origin=True,
                                     header=[f"Authorization: Bearer {server.token}"])
    assert json.loads(ws.recv())["type"] == "hello"
    return ws


def _until(ws, wanted, timeout: float = 30) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while not wanted(got):
        assert time.monotonic() < deadline, f"not seen within {timeout}s: {got[-20:]}"
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            got.append(json.loads(ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
    return got


def test_streams_on_any_worker_see_vm_events_tasks_and_audit_entries(real_libvirt, tmp_path):
    server = start_server(tmp_path, real_libvirt, workers=2)
    conn = libvirt.open(real_libvirt)
    vm, pool = unique("F-ev-"), unique("F-pool-")
    streams: list[websocket.WebSocket] = []
    dom = None
    try:
        streams = [_open(server) for _ in range(STREAMS)]
        time.sleep(2.5)  # each worker's watcher follows the node within its first rounds
        resp = server.post("create-storage-pool", {"name": pool, "type": "dir", "path": str(tmp_path / pool)})
        assert resp.status_code == 200, resp.text
        up = requests.post(f"{server.url}/api/upload-volume", params={"pool": pool, "name": "disk.raw"},
                           data=b"\0" * (1 << 20), timeout=60,
                           headers={"Authorization": f"Bearer {server.token}",
                                    "Content-Type": "application/octet-stream"})
        assert up.status_code == 200, up.text
        kind = "kvm" if os.path.exists("/dev/kvm") else "qemu"
        dom = conn.defineXML(f"<domain type='{kind}'><name>{vm}</name><memory unit='MiB'>64</memory>"
                             "<os><type arch='x86_64'>hvm</type></os><devices/></domain>")
        dom.create()

        def complete(got: list[dict]) -> bool:
            vm_events = {m["event"] for m in got if m["type"] == "vm" and m["name"] == vm}
            tasks = {m["state"] for m in got if m["type"] == "task" and m["action"] == "upload-volume"}
            audit = {m["action"] for m in got if m["type"] == "audit"}
            return {"defined", "started"} <= vm_events and "succeeded" in tasks and \
                {"create-storage-pool", "upload-volume"} <= audit
        for ws in streams:
            got = _until(ws, complete)
            started = next(m for m in got if m["type"] == "vm" and m["event"] == "started")
            assert started["node"] == "local" and started["reason"] == "booted" and started["uuid"] == dom.UUIDString()
        # the limit is per worker: with the default 32 per worker nothing is refused here
        assert server.post("list-tasks", {}).status_code == 200
    finally:
        for ws in streams:
            ws.close()
        if dom is not None:
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass
            dom.undefine()
        server.post("delete-storage-pool", {"name": pool, "delete_volumes": True})
        conn.close()
        stop_server(server)


def test_a_stream_beyond_the_limit_is_refused_and_a_stopping_server_closes_streams(real_libvirt, tmp_path):
    server = start_server(tmp_path, real_libvirt, workers=1, extra_env={"JVP_EVENTS_MAX_STREAMS": "2"})
    streams: list[websocket.WebSocket] = []
    try:
        streams = [_open(server) for _ in range(2)]
        with pytest.raises(websocket.WebSocketBadStatusException) as exc:
            _open(server)
        body = json.loads(exc.value.resp_body)
        assert exc.value.status_code == 503 and body["error"]["code"] == "EventStreamLimitReached"
        assert server.post("list-nodes", {}).status_code == 200  # API threads are not taken by the streams
        started = time.monotonic()
        stop_server(server)
        took = time.monotonic() - started
        # not the 30 s graceful timeout; a worker alive 10 s after SIGTERM wrote its threads' stacks to the log
        assert took < 15, f"the server took {took:.1f}s to stop; its log:\n{server.log.read_text()[-12000:]}"
        for ws in streams:
            ws.settimeout(5)
            try:
                frame = ws.recv_data(control_frame=True)
                assert frame[0] == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(frame[1][:2], "big") == 1001
            except websocket.WebSocketConnectionClosedException:
                pass  # the close frame raced the socket's end
    finally:
        for ws in streams:
            ws.close()
        stop_server(server)
