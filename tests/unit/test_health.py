"""The node health memory and the gateway's fan-out, on fake connections that can hang (ConnectionPool's
`opener`): a hung node is detected within the timeout once, then skipped at once by all-node listings,
and listed again when the background probe (or an explicit call) finds it back."""
from __future__ import annotations

import threading
import time

import pytest

from jvp.errors import NodeUnreachable, not_found
from jvp.hypervisor.connection import ConnectionPool
from jvp.hypervisor.gateway import NodeGateway
from tests.unit.fakes.connection import PoolableConn

OPEN_TIMEOUT = 0.3
LIST_TIMEOUT = 1.0


class Node:
    """One fake node: its open and its calls can be made to hang until released."""

    def __init__(self, name: str):
        self.name = name
        self.open_hangs = False
        self.calls_hang = False
        self.released = threading.Event()
        self.calls = 0
        self.delay = 0.0  # seconds each call takes (I/O the node spends, not CPU of ours)

    def hang(self, *, open_: bool = False, calls: bool = False) -> None:
        self.open_hangs, self.calls_hang = open_, calls
        self.released.clear()

    def release(self) -> None:
        self.open_hangs = self.calls_hang = False
        self.released.set()

    def wait_if(self, hung: bool) -> None:
        if hung and not self.released.wait(30):
            raise AssertionError("a fake node stayed hung 30 s")


class FakeConn(PoolableConn):
    def __init__(self, node: Node):
        self.node = node

    def getLibVersion(self):  # noqa: N802
        self.node.calls += 1
        self.node.wait_if(self.node.calls_hang)
        time.sleep(self.node.delay)
        return 10_000_000


class Estate:
    """Fake nodes behind a real ConnectionPool and NodeGateway."""

    def __init__(self, names, probe_interval_s: float = 60.0):
        self.nodes = {n: Node(n) for n in names}
        self.pool = ConnectionPool(open_timeout_s=OPEN_TIMEOUT, opener=self.open,
                                   probe_interval_s=probe_interval_s)
        self.deleted: set[str] = set()  # node records removed (by this worker or another)
        self.gw = NodeGateway(self.pool, self.locate)

    def locate(self, n: str) -> tuple[str, str]:
        if n in self.deleted:
            raise not_found("node", n)
        return n, f"qemu+tcp://{n}/system"

    def open(self, uri: str) -> FakeConn:
        node = self.nodes[uri.split("//")[1].split("/")[0]]
        node.wait_if(node.open_hangs)
        return FakeConn(node)

    def version(self, node: str) -> int:
        return self.gw.run_raw(node, lambda c: c.getLibVersion())

    def listing(self, skip_dead: bool = True):
        start = time.monotonic()
        results = self.gw.fan_out(list(self.nodes), self.version, LIST_TIMEOUT, skip_dead=skip_dead)
        return time.monotonic() - start, results

    def close(self):
        for n in self.nodes.values():
            n.release()
        self.gw.close()


@pytest.fixture
def estate():
    made = []

    def make(names=("a", "b", "c"), **kw):
        made.append(Estate(names, **kw))
        return made[-1]
    yield make
    for e in made:
        e.close()


def answers(results):
    return {r.node: (r.value if r.error is None else r.error["code"]) for r in results}


def test_a_hung_open_is_detected_once_then_skipped_at_once_then_listed_again(estate):
    e = estate()
    e.listing()  # every node connected and healthy
    e.nodes["b"].hang(open_=True)
    e.pool.forget("b")  # its connection must be reopened: the open hangs
    took, results = e.listing()
    assert answers(results) == {"a": 10_000_000, "b": "NodeUnreachable", "c": 10_000_000}
    assert OPEN_TIMEOUT * 0.9 <= took < OPEN_TIMEOUT + 0.5  # detected within the open timeout
    assert e.gw.health.dead_nodes() == ["b"]
    for _ in range(3):
        took, results = e.listing()
        assert took < 0.1  # a known-dead node is not waited on
        assert [r.node for r in results] == ["a", "b", "c"]  # stable node order
        assert answers(results)["b"] == "NodeUnreachable"  # the code it was marked with, every time
        assert "marked unreachable" in results[1].error["message"]
    e.nodes["b"].release()
    time.sleep(0.05)  # the open under way finishes
    e.gw.health.probe_now()
    assert e.gw.health.dead_nodes() == []
    assert answers(e.listing()[1]) == {"a": 10_000_000, "b": 10_000_000, "c": 10_000_000}


def test_a_call_hung_on_an_open_connection_times_out_once_then_is_skipped(estate):
    e = estate()
    e.listing()
    e.nodes["c"].hang(calls=True)
    took, results = e.listing()
    assert answers(results)["c"] == "NodeTimeout" and answers(results)["a"] == 10_000_000
    assert LIST_TIMEOUT * 0.9 <= took < LIST_TIMEOUT + 0.5
    took, results = e.listing()
    assert took < 0.1 and answers(results)["c"] == "NodeTimeout"
    # the probe neither brings it back nor piles up threads while its calls stay hung
    before = e.nodes["c"].calls
    e.gw.health.probe_now()
    e.gw.health.probe_now()
    assert e.nodes["c"].calls == before + 1 and e.gw.health.dead_nodes() == ["c"]
    e.nodes["c"].release()
    deadline = time.monotonic() + 2
    while e.gw.health.dead_nodes() and time.monotonic() < deadline:
        time.sleep(0.02)  # the hung call and the probe return: either marks the node alive
    assert e.gw.health.dead_nodes() == []
    assert answers(e.listing()[1])["c"] == 10_000_000


def test_the_background_probe_finds_a_node_back_by_itself(estate):
    e = estate(probe_interval_s=0.1)
    e.nodes["a"].hang(open_=True)
    took, results = e.listing()
    assert answers(results)["a"] == "NodeUnreachable"
    e.nodes["a"].release()
    deadline = time.monotonic() + 3
    while e.gw.health.dead_nodes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert e.gw.health.dead_nodes() == []
    took, results = e.listing()
    assert answers(results)["a"] == 10_000_000 and took < 0.2


def test_an_explicit_call_still_tries_a_dead_node_and_refreshes_its_health(estate):
    e = estate()
    e.nodes["b"].hang(open_=True)
    e.listing()
    assert e.gw.health.dead_nodes() == ["b"]
    start = time.monotonic()
    with pytest.raises(NodeUnreachable):  # still hung: tried once, bounded by the open timeout
        e.version("b")
    assert time.monotonic() - start < OPEN_TIMEOUT + 0.3 and e.gw.health.dead_nodes() == ["b"]
    _, results = e.listing(skip_dead=False)  # a listing addressed to the node tries it too
    assert answers(results)["b"] == "NodeUnreachable"
    e.nodes["b"].release()
    time.sleep(0.05)
    assert e.version("b") == 10_000_000  # success marks it alive without waiting for the probe
    assert e.gw.health.dead_nodes() == []


def test_forgetting_a_node_clears_its_memory(estate):
    e = estate()
    e.nodes["a"].hang(open_=True)
    e.listing()
    assert e.gw.health.dead_nodes() == ["a"]
    e.gw.forget("a")
    assert e.gw.health.dead_nodes() == []


def test_a_node_deleted_meanwhile_is_forgotten_by_the_probe_not_probed_forever(estate):
    e = estate()
    e.nodes["a"].hang(open_=True)
    e.listing()
    assert e.gw.health.dead_nodes() == ["a"]
    e.deleted.add("a")  # its record went away (say, delete-node in another worker)
    e.gw.health.probe_now()
    assert e.gw.health.dead_nodes() == []


def test_cold_listings_of_several_nodes_run_in_parallel(estate):
    e = estate(names=tuple(f"n{i}" for i in range(8)))
    e.listing()  # connections open
    for n in e.nodes.values():
        n.delay = 0.2
    took, results = e.listing()
    assert took < 0.2 * 3  # one after another it would take 1.6 s
    assert [r.node for r in results] == [f"n{i}" for i in range(8)]  # merged in the order asked
    assert all(r.value == 10_000_000 for r in results)
