"""gateway.fan_out: a node whose driver runs in this process (libvirt's test driver, test:///) is called in
the caller's thread (no I/O to overlap: a pool thread only adds a hand-off and GIL contention); every other
node on the fan-out pool, bounded by the timeout, as before."""
from __future__ import annotations

import threading
import time

from jvp.errors import JvpError
from jvp.hypervisor.connection import ConnectionPool
from jvp.hypervisor.gateway import NodeGateway

URIS = {"local": "test:///srv/demo.xml", "remote": "qemu+ssh://remote/system", "tcp": "test+tcp://h/default",
        "slow": "qemu+tcp://slow/system", "broken": "test:///broken.xml"}


def gateway() -> NodeGateway:
    return NodeGateway(ConnectionPool(open_timeout_s=1.0), lambda n: (n, URIS[n]))


def test_in_process_nodes_run_in_the_callers_thread_the_others_on_the_pool():
    gw = gateway()
    try:
        where = {}

        def fn(node):
            where[node] = threading.current_thread()
            if node == "broken":
                raise JvpError("cannot open", code="NodeUnreachable")
            return node.upper()
        results = gw.fan_out(["remote", "local", "tcp", "broken"], fn, 5.0)
        assert [(r.node, r.value) for r in results] == [("remote", "REMOTE"), ("local", "LOCAL"), ("tcp", "TCP"),
                                                        ("broken", None)]
        assert results[3].error == {"node": "broken", "code": "NodeUnreachable", "message": "cannot open"}
        me = threading.current_thread()
        assert where["local"] is me and where["broken"] is me
        assert where["remote"] is not me and where["tcp"] is not me  # a test driver behind a daemon: remote
    finally:
        gw.close()


def test_a_slow_pool_node_still_times_out_while_in_process_nodes_answer():
    gw = gateway()
    release = threading.Event()
    try:
        def fn(node):
            if node == "slow":
                release.wait(5)
            return node
        start = time.monotonic()
        results = gw.fan_out(["slow", "local"], fn, 0.3)
        assert time.monotonic() - start < 2
        assert results[0].error["code"] == "NodeTimeout" and results[1].value == "local"
    finally:
        release.set()
        gw.close()
