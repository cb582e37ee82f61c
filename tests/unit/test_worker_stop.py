"""JVP's gunicorn worker on SIGTERM (jvp/server/worker.py JvpWorker.handle_exit): the handler only sets flags and
queues the closing of the event streams for the worker's loop. A stop brings two SIGTERMs (the process
group's and the arbiter's) and the second handler can run inside the first on the main thread: a handler that
took the event hub's lock there could wait on it forever (the worker then stopped only at the arbiter's
SIGKILL, 30 s later)."""
from __future__ import annotations

import faulthandler
import signal
import threading
from types import SimpleNamespace

from gunicorn.workers.gthread import PollableMethodQueue

from jvp.server.worker import JvpWorker


class FakeHub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = 0

    def close(self) -> None:
        with self.lock:
            self.closed += 1


def bare_worker(hub: FakeHub) -> JvpWorker:
    """The worker's signal path alone: no gunicorn process, socket or app around it."""
    w = object.__new__(JvpWorker)
    w.alive = True
    w.method_queue = PollableMethodQueue()
    w.method_queue.init()
    w.wsgi = SimpleNamespace(extensions={"jvp": SimpleNamespace(events=hub)})
    w.stop_report_s = 3600.0
    return w


def test_sigterm_takes_no_lock_and_a_second_one_inside_it_is_harmless():
    hub = FakeHub()
    w = bare_worker(hub)
    returned = threading.Event()

    def two_sigterms() -> None:
        w.handle_exit(signal.SIGTERM, None)
        w.handle_exit(signal.SIGTERM, None)  # the arbiter's, while the first one's work is under way
        returned.set()
    try:
        with hub.lock:  # held, as by the first handler when the second one lands
            threading.Thread(target=two_sigterms, daemon=True).start()
            assert returned.wait(5), "the SIGTERM handler waited for the event hub's lock"
        assert w.alive is False and hub.closed == 0  # nothing closed inside the handler
        w.method_queue.run_callbacks(None)  # the worker's loop, once the handler has returned
        assert hub.closed == 1  # once, for both signals
    finally:
        faulthandler.cancel_dump_traceback_later()
        w.method_queue.close()
