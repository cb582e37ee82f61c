"""NodeConnection: shared, reopened after a drop, read calls retried once, errors mapped."""
from __future__ import annotations

import threading
import time

import libvirt
import pytest

from jvp.errors import NodeUnreachable
from jvp.hypervisor.connection import NodeConnection
from jvp.hypervisor.errors import map_libvirt_error
from tests.unit.fakes.connection import PoolableConn


def lv_error(code: int, message: str) -> libvirt.libvirtError:
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 0, None, None, None, 0, 0)
    return err


class FakeConn(PoolableConn):
    def __init__(self, alive=True):
        self.alive = alive
        self.closed = False


class Opened(list):
    """An opener for NodeConnection that hands out FakeConns (or `kind`'s) and keeps them (in order)."""

    def __init__(self, kind: type = FakeConn):
        super().__init__()
        self.kind = kind

    def __call__(self, uri):
        self.append(self.kind())
        return self[-1]


@pytest.fixture
def opened():
    return Opened()


def failing(exc):
    calls = []

    def opener(uri):
        calls.append(uri)
        raise exc
    opener.calls = calls
    return opener


def test_one_connection_is_shared(opened):
    nc = NodeConnection("n", "qemu:///system", opener=opened)
    assert nc.get() is nc.get()
    assert len(opened) == 1


class UnwatchedConn(FakeConn):
    """A driver that does not take a close callback: only isAlive() says it died."""

    def registerCloseCallback(self, *_):  # noqa: N802 - libvirt's names
        raise lv_error(libvirt.VIR_ERR_NO_SUPPORT, "this function is not supported by the connection driver")


def test_a_dead_connection_is_reopened_on_next_use():
    opened = Opened(UnwatchedConn)
    nc = NodeConnection("n", "qemu:///system", opener=opened)
    first = nc.get()
    assert nc.current() is first
    first.alive = False
    assert nc.current() is None
    second = nc.get()
    assert second is not first and first.closed and len(opened) == 2


class CountingConn(FakeConn):
    def __init__(self):
        super().__init__()
        self.alive_checks = 0

    def isAlive(self):  # noqa: N802 - libvirt's names
        self.alive_checks += 1
        return super().isAlive()


def test_a_watched_connection_is_not_asked_whether_it_lives():
    """With its close callback registered, the callback's mark says whether the connection died: get() and
    current() make no isAlive() call (a call into libvirt that lets go of the interpreter lock)."""
    opened = Opened(CountingConn)
    nc = NodeConnection("n", "qemu:///system", opener=opened)
    first = nc.get()
    for _ in range(3):
        assert nc.get() is first and nc.current() is first
    assert first.alive_checks == 0
    nc._closed(first, libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE, None)  # what libvirt calls when it drops
    assert nc.current() is None
    second = nc.get()
    assert second is not first and first.closed and len(opened) == 2 and nc.current() is second


def test_close_callback_marks_dead(opened):
    nc = NodeConnection("n", "qemu:///system", opener=opened)
    first = nc.get()
    nc._closed(first, libvirt.VIR_CONNECT_CLOSE_REASON_EOF, None)
    assert nc.get() is not first


def test_read_calls_retry_once_on_a_dropped_connection(opened):
    nc = NodeConnection("n", "qemu:///system", opener=opened)
    calls = []

    def fn(conn):
        calls.append(conn)
        if len(calls) == 1:
            conn.alive = False
            raise lv_error(libvirt.VIR_ERR_RPC, "End of file while reading data: Input/output error")
        return "ok"
    assert nc.call(fn, retry=True) == "ok"
    assert len(opened) == 2 and calls[0] is not calls[1]


def test_writes_are_not_retried(opened):
    nc = NodeConnection("n", "qemu:///system", opener=opened)

    def fn(conn):
        conn.alive = False
        raise lv_error(libvirt.VIR_ERR_RPC, "End of file while reading data")
    with pytest.raises(NodeUnreachable, match="lost the connection"):
        nc.call(fn, retry=False)
    assert len(opened) == 1


def test_other_errors_pass_through(opened):
    nc = NodeConnection("n", "qemu:///system", opener=opened)

    def fn(conn):
        raise lv_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching name 'x'")
    with pytest.raises(libvirt.libvirtError):
        nc.call(fn, retry=True)


def test_open_failure_is_node_unreachable_and_backs_off():
    opener = failing(lv_error(libvirt.VIR_ERR_SYSTEM_ERROR, "Connection refused"))
    nc = NodeConnection("n", "qemu+tcp://h/system", opener=opener)
    with pytest.raises(NodeUnreachable) as exc:
        nc.get()
    assert exc.value.details["libvirt_error"]["message"] == "Connection refused"
    with pytest.raises(NodeUnreachable):
        nc.get()
    assert len(opener.calls) == 1  # the second call within the back-off reuses the failure


def test_error_table_names_the_resource():
    err = map_libvirt_error(lv_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found"), node="local",
                            kind="vm", name="web1")
    assert (err.code, err.status, err.message) == ("VmNotFound", 404, "vm 'web1' not found on node 'local'")
    assert err.details["libvirt_error"]["message"] == "Domain not found"
    err = map_libvirt_error(lv_error(libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running"),
                            node="local", kind="vm", name="web1", action="suspend")
    assert (err.code, err.status) == ("InvalidState", 409)
    assert "domain is not running" in err.message
    err = map_libvirt_error(lv_error(libvirt.VIR_ERR_INTERNAL_ERROR, "something odd"), node="n")
    assert (err.code, err.status) == ("LibvirtError", 422)


def test_unknown_link_speed_is_null():
    from jvp.hypervisor.host_devices import _speed
    assert _speed("4294967295") is None and _speed(None) is None and _speed("") is None
    assert _speed("10000") == 10000


def test_operation_timeout_maps_to_a_spec_status():
    """SPEC §1's classes: 400 401 403 404 409 422 502 (500 is a bug). No 504."""
    from jvp.hypervisor.errors import TABLE
    assert {status for _code, status in TABLE.values()} <= {400, 401, 403, 404, 409, 422, 502}
    err = map_libvirt_error(lv_error(libvirt.VIR_ERR_OPERATION_TIMEOUT,
                                     "Timed out during operation: cannot acquire state change lock"),
                            node="local", kind="vm", name="web1", action="start")
    assert (err.code, err.status) == ("OperationTimeout", 409)
    assert "state change lock" in err.message


def test_opening_is_bounded_and_holds_no_lock():
    """A node whose libvirt never answers: each caller gets NodeUnreachable after the timeout, one open
    runs at a time, and the connection's lock is free meanwhile (other callers are not queued behind it)."""
    release = threading.Event()
    opens = []

    def hanging_open(uri):
        opens.append(uri)
        release.wait(10)
        return FakeConn()
    nc = NodeConnection("hung", "qemu+tcp://h/system", open_timeout_s=0.3, opener=hanging_open)
    start = time.monotonic()
    with pytest.raises(NodeUnreachable, match=r"no answer within 0.3s"):
        nc.get()
    assert time.monotonic() - start < 1.5
    assert nc._lock.acquire(timeout=0.1)  # not held while the open goes on
    nc._lock.release()
    with pytest.raises(NodeUnreachable):
        nc.get()
    assert len(opens) == 1  # the second caller waited for the same open instead of starting another
    release.set()
    for _ in range(50):  # the late open is installed and used by the next caller
        if nc._conn is not None:
            break
        time.sleep(0.05)
    assert nc.get() is nc._conn and len(opens) == 1


def test_an_open_that_finishes_after_close_is_discarded():
    release = threading.Event()
    conns = []

    def slow_open(uri):
        release.wait(10)
        conns.append(FakeConn())
        return conns[-1]
    nc = NodeConnection("n", "qemu+tcp://h/system", open_timeout_s=0.2, opener=slow_open)
    with pytest.raises(NodeUnreachable):
        nc.get()
    nc.close()
    release.set()
    for _ in range(50):
        if conns and conns[0].closed:
            break
        time.sleep(0.05)
    assert conns[0].closed and nc._conn is None


def test_a_test_driver_file_error_never_echoes_the_file():
    opener = failing(lv_error(
        libvirt.VIR_ERR_XML_ERROR, "/srv/f.xml:1: Start tag expected, '<' not found\nroot:$6$secret:1\n^"))
    nc = NodeConnection("n", "test:///srv/f.xml", opener=opener)
    with pytest.raises(NodeUnreachable) as exc:
        nc.get()
    assert "secret" not in exc.value.message and "secret" not in str(exc.value.details)
    assert "Start tag expected" in exc.value.details["libvirt_error"]["message"]


def test_mapped_calls_turn_libvirt_errors_into_jvp_errors(opened):
    nc = NodeConnection("n", "qemu:///system", opener=opened)

    def fn(conn):
        raise lv_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")
    with pytest.raises(Exception) as exc:
        nc.call_mapped(fn, kind="vm", obj="web1")
    assert getattr(exc.value, "code", None) == "VmNotFound"


def test_a_missing_object_a_vm_references_is_a_precondition_not_a_missing_vm():
    """Real host: start-vm on a VM whose network was deleted; libvirt says VIR_ERR_NO_NETWORK."""
    err = map_libvirt_error(lv_error(libvirt.VIR_ERR_NO_NETWORK, "Network not found: no network with matching "
                                     "name 'gone'"), node="local", kind="vm", name="web1")
    assert (err.code, err.status) == ("PreconditionFailed", 422)
    assert "network" in err.message and "'gone'" in err.message and "web1" in err.message
    assert err.details["missing"] == "NetworkNotFound" and err.details["vm"] == "web1"
    err = map_libvirt_error(lv_error(libvirt.VIR_ERR_NO_STORAGE_VOL, "no volume"), node="local", kind="volume",
                            name="d1")
    assert (err.code, err.status) == ("VolumeNotFound", 404)


# -- the event loop's thread ------------------------------------------------------------------------------
def test_the_event_loop_pauses_after_every_iteration_and_survives_a_failing_one(caplog):
    """connection.run_loop: each iteration of libvirt's loop is followed by LOOP_PAUSE_S asleep (RPC calls
    then switch their socket watch without waking the loop: see LOOP_PAUSE_S); an iteration that raises is
    logged, the loop waits half a second and goes on."""
    from jvp.hypervisor import connection
    calls: list[tuple[str, float | None]] = []
    outcomes = iter([None, RuntimeError("poll failed"), None])

    def run_once() -> None:
        calls.append(("run", None))
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    before = connection._iterations
    connection.run_loop(run_once, lambda s: calls.append(("sleep", s)), until=lambda: len(calls) >= 7)
    pause = connection.LOOP_PAUSE_S
    assert calls == [("run", None), ("sleep", pause), ("run", None), ("sleep", 0.5), ("sleep", pause),
                     ("run", None), ("sleep", pause)]
    assert connection._iterations - before == 3
    assert "libvirt event loop iteration failed" in caplog.text and "poll failed" in caplog.text
