"""A fresh `jvp serve` worker's first requests, many at once (tier 2, libvirt's test driver with the foreign host
fixture): what a worker builds on first use (compiled answer dumps, request loaders, per-connection caches, the
reference index) is built by whichever request threads get there first, together. Every answer must be the
one a lone request gets afterwards: no 500 from a half-built structure (a Nested schema's dump compiled by two
threads at once answered describe-vm with a 500 on a real host, tests/unit/test_dump.py has the deterministic
case), no answer that differs from the settled one."""
from __future__ import annotations

import concurrent.futures
import itertools
import shutil
import threading
from pathlib import Path

import libvirt

from tests.conftest import REPO, start_server, stop_server

FIXTURE = REPO / "tests" / "fixtures" / "hosts" / "foreign.xml"
# answers that do not move between two reads of this fixture (no live figures): compared whole
STABLE = ("list-networks", "describe-network", "list-storage-pools", "describe-storage-pool", "list-volumes",
          "describe-volume")


def _requests(fixture: Path) -> list[tuple[str, dict]]:
    """Every object of the fixture's host, read by its describe action, and the listings; the same action's
    requests side by side, so that the first ones of each action run at the same time."""
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(f"test://{fixture}")  # its own copy of the fixture's state: names only
    try:
        vms = [d.name() for d in conn.listAllDomains()]
        networks = [n.name() for n in conn.listAllNetworks()]
        pools = {p.name(): (p.listVolumes() if p.isActive() else []) for p in conn.listAllStoragePools()}
    finally:
        conn.close()
    out: list[tuple[str, dict]] = [("describe-vm", {"node": "local", "name": n}) for n in vms]
    out += [("list-vms", {})] * 4 + [("list-nodes", {})] * 4 + [("describe-node", {"name": "local"})] * 4
    out += [("describe-network", {"node": "local", "name": n}) for n in networks] + [("list-networks", {})] * 4
    out += [("describe-storage-pool", {"node": "local", "name": p}) for p in pools]
    out += [("list-storage-pools", {})] * 4
    out += [("list-volumes", {"node": "local", "pool": p}) for p, vols in pools.items() if vols]
    out += [("describe-volume", {"node": "local", "pool": p, "name": v}) for p, vols in pools.items() for v in vols]
    return out


def test_a_fresh_workers_first_requests_at_once_answer_as_lone_requests_do(tmp_path):
    fixture = tmp_path / "fixtures" / "foreign.xml"
    fixture.parent.mkdir()
    shutil.copyfile(FIXTURE, fixture)
    requests_ = _requests(fixture)
    assert len(requests_) > 60
    for attempt in range(3):  # fresh workers: a race that one start misses, another may not
        run = tmp_path / f"run{attempt}"
        run.mkdir()
        server = start_server(run, f"test://{fixture}", workers=1,
                              extra_env={"JVP_THREADS": "8"})
        try:
            start, order = threading.Barrier(16), itertools.count()

            def first(req: tuple[str, dict]):
                if next(order) < 16:  # the first sixteen leave together (count() hands out each number once)
                    start.wait(timeout=30)
                return server.post(*req)

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                together = list(pool.map(first, requests_))
            alone = [server.post(*req) for req in requests_]
            for (action, body), a, b in zip(requests_, together, alone):
                assert a.status_code < 500, (action, body, a.text)
                assert a.status_code == b.status_code, (action, body, a.text, b.text)
                if action in STABLE:
                    assert a.json() == b.json(), (action, body)
            assert all(a.status_code == 200 for (action, _), a in zip(requests_, together)
                       if action in ("describe-vm", "list-vms", "list-nodes", "list-networks")), \
                [(req, a.text) for req, a in zip(requests_, together) if a.status_code != 200]
            assert server.proc.poll() is None  # the worker is still the one that answered (never crashed)
        finally:
            stop_server(server)
