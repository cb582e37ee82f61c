"""Metrics (issue 16): the collector's cost over 1,000 VMs, describe-vm-metrics for a day, the store's size.

Targets (the issue's):
- collecting 1,000 VMs on libvirt's test driver at a 10 s interval costs under 5% of one core: CPU seconds of
  one collection (the whole process: fan-out threads, libvirt, rates, the store transaction) / 10 s. The floor
  is the libvirt reads alone (the same bulk and per-domain calls on a connection of their own). The test
  driver's bulk stats carry the state only, so its running domains (a third) are read one by one: a real
  QEMU node answers everything in the one getAllDomainStats call.
- describe-vm-metrics over a day (8,640 samples of a VM with a disk and a NIC, and their 5-minute averages
  as the collector makes them) through the whole Flask app, at the default step (5 minutes: 288 points, read
  from the averages and the samples not averaged yet), under 50 ms; the floor is a bare read of the same rows
  from the store (SELECT of the VM's and its devices' rows, no bucketing, no JSON). For scale, the same day
  at step_s=10 (8,640 points from the full-resolution rows) against a bare read of those rows.
- the store's size per VM per month: a day at full resolution and 30 days of 5-minute averages of VMs with
  one disk and one NIC, file size after VACUUM / VMs (README states the bound from this figure).
Rounds alternate the API path and its floor (one interleaved run); medians are printed.
"""
from __future__ import annotations

import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import libvirt

from bench.vm_list import DOMAINS, inventory
from jvp.hypervisor import metrics as hv_metrics
from jvp.metrics.store import DEV_COLS, VM_COLS, MetricsStore
from jvp.settings import load_settings

ROUNDS = 5
INTERVAL_S = 10
SIZE_VMS = 10


def _cpu(fn) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _day_of_history(store: MetricsStore, vid: int, disk: int, nic: int, now: int) -> None:
    """8,640 samples (one day every 10 s) of one VM with a disk and a NIC, in one transaction."""
    rnd = random.Random(1)
    start = now - 86400
    vms, devs = [], []
    for t in range(start - start % INTERVAL_S, now, INTERVAL_S):
        cpu = round(rnd.uniform(0, 100), 2)
        rb, wb, rx, tx = (rnd.randrange(0, 50_000_000) for _ in range(4))
        vms.append((vid, t, cpu, 2**30 + rnd.randrange(2**28), 2**31, rb, wb, round(rb / 4096, 2),
                    round(wb / 4096, 2), rx, tx))
        devs.append((disk, t, rb, wb, round(rb / 4096, 2), round(wb / 4096, 2)))
        devs.append((nic, t, rx, tx, None, None))
    store.write(now, vms=vms, devs=devs, nodes=[], pools=[], vm_latest=[], node_latest=[])


def size_per_vm_month(tmp: Path) -> float:
    """Bytes per VM of a full month's history (tier 0: a day; tier 1: 30 days of 5-minute rows)."""
    store = MetricsStore(tmp / "size")
    now = int(time.time())
    rnd = random.Random(2)
    for i in range(SIZE_VMS):
        vid = store.vm_id("local", f"00000000-0000-0000-0000-{i:012d}", f"vm{i}", now)
        disk = store.dev_id(vid, "disk", "vda", "vda", None)
        nic = store.dev_id(vid, "nic", f"52:54:00:00:00:{i:02x}", "vnet0", f"52:54:00:00:00:{i:02x}")
        _day_of_history(store, vid, disk, nic, now)
        rows_vm, rows_dev = [], []
        for t in range(now - 30 * 86400, now, 300):
            rb, wb, rx, tx = (rnd.randrange(0, 50_000_000) for _ in range(4))
            rows_vm.append((vid, t, round(rnd.uniform(0, 100), 3), 2**30, 2**31, rb, wb, round(rb / 4096, 3),
                            round(wb / 4096, 3), rx, tx))
            rows_dev += [(disk, t, rb, wb, round(rb / 4096, 3), round(wb / 4096, 3)), (nic, t, rx, tx, None, None)]
        db = sqlite3.connect(str(store.path))
        with db:
            db.executemany(f"INSERT INTO vm_s1 VALUES ({', '.join('?' * (2 + len(VM_COLS)))})", rows_vm)
            db.executemany(f"INSERT INTO dev_s1 VALUES ({', '.join('?' * (2 + len(DEV_COLS)))})", rows_dev)
        db.close()
    store.close()
    db = sqlite3.connect(str(store.path))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    db.close()
    return store.size_bytes() / SIZE_VMS


def main() -> None:
    from jvp.app import create_app
    libvirt.registerErrorHandler(lambda *_: None, None)
    with tempfile.TemporaryDirectory(prefix="jvp-bench-metrics-") as tmp_s:
        tmp = Path(tmp_s)
        inv = tmp / "inventory.xml"
        inventory(inv)
        uri = f"test://{inv}"
        settings = load_settings(config_path=os.devnull, env={}, overrides={
            "data_dir": str(tmp / "data"), "local_uri": uri, "listen": "127.0.0.1:7777",
            "node_timeout_s": 60.0, "metrics_interval_s": INTERVAL_S})
        app = create_app(settings)
        services = app.extensions["jvp"]
        collector = services.metrics.collector
        token = services.tokens.create("bench", "viewer")[0]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        conn = libvirt.open(uri)   # the floor's own connection (the test driver keeps a state per connection)
        try:
            # a day of history for one VM, then describe-vm-metrics over it
            store = services.metrics.store
            now = int(time.time())
            uuid = services.gateway.vm_uuid("local", "vm0000")   # before the collector: its history is older
            vid = store.vm_id("local", uuid, "vm0000", now)
            disk = store.dev_id(vid, "disk", "vda", "vda", None)
            nic = store.dev_id(vid, "nic", "52:54:00:00:00:00", "testnet0", "52:54:00:00:00:00")
            _day_of_history(store, vid, disk, nic, now - 60)

            store.downsample(now)               # the 5-minute averages of that day, as the collector makes them
            until = store.downsampled_until()

            def api_day(step: int | None = None) -> None:
                body = {"name": "vm0000", "window_s": 86400, **({"step_s": step} if step else {})}
                resp = client.post("/api/describe-vm-metrics", json=body, headers=headers)
                got = resp.get_json()
                assert resp.status_code == 200 and sum(v is not None for v in got["series"]["cpu_percent"]) > 280, got

            def bare_read(tier: int) -> None:
                """The rows the answer is made of, read and fetched, nothing else."""
                n = 0
                for table, key, cols in (("vm", {"vm": vid}, VM_COLS), ("dev", {"dev": disk}, DEV_COLS),
                                         ("dev", {"dev": nic}, DEV_COLS)):
                    if tier:
                        n += len(store.raw(table, 1, key, cols, now - 86400, until))
                        n += len(store.raw(table, 0, key, cols, until, now + 10))
                    else:
                        n += len(store.raw(table, 0, key, cols, now - 86400, now + 10))
                assert n >= 3 * 280

            api_day()
            bare_read(1)
            api_ms, floor_ms, full_ms, ffloor_ms = [], [], [], []
            for _ in range(ROUNDS * 2):
                api_ms.append(_ms(api_day))
                floor_ms.append(_ms(lambda: bare_read(1)))
            for _ in range(ROUNDS):
                full_ms.append(_ms(lambda: api_day(INTERVAL_S)))
                ffloor_ms.append(_ms(lambda: bare_read(0)))
            collector.collect_once()            # connection, device caches, first readings
            floor_reads = lambda: (hv_metrics.vm_counters(conn), hv_metrics.node_counters(conn))  # noqa: E731
            floor_reads()
            coll_cpu, floor_cpu, coll_wall = [], [], []
            for _ in range(ROUNDS):
                coll_cpu.append(_cpu(collector.collect_once))
                coll_wall.append(collector.last_duration_s)
                floor_cpu.append(_cpu(floor_reads))
            rows = services.metrics.usage("local")["vms"]
            assert len(rows) == DOMAINS, len(rows)

        finally:
            conn.close()
            services.close()
        per_vm = size_per_vm_month(tmp)
    cpu = statistics.median(coll_cpu)
    fcpu = statistics.median(floor_cpu)
    share, fshare = cpu / INTERVAL_S * 100, fcpu / INTERVAL_S * 100
    day, fday = statistics.median(api_ms), statistics.median(floor_ms)
    print(f"   {DOMAINS} VMs (a third running) on the test driver, every {INTERVAL_S} s; medians of "
          f"{ROUNDS} (collection) and {ROUNDS * 2} (query) interleaved rounds")
    print(f"   {'name':44s} {'measured':>10s} {'floor':>10s} {'ratio':>6s}  target")
    print(f"   {'collect: % of one core (CPU s / interval)':44s} {share:9.2f}% {fshare:9.2f}% "
          f"{share / fshare:6.2f}  < 5% {'OK' if share < 5 else 'ABOVE'}")
    print(f"   {'collect: wall time of one collection (ms)':44s} {statistics.median(coll_wall) * 1000:10.1f}")
    print(f"   {'describe-vm-metrics, 1 day, default step (ms)':44s} {day:10.1f} {fday:10.1f} {day / fday:6.2f}  "
          f"< 50 ms {'OK' if day < 50 else 'ABOVE'}")
    full, ffull = statistics.median(full_ms), statistics.median(ffloor_ms)
    print(f"   {'describe-vm-metrics, 1 day, step_s=10 (ms)':44s} {full:10.1f} {ffull:10.1f} {full / ffull:6.2f}  "
          f"(8,640 points; for scale)")
    print(f"   {'store bytes per VM per month (1 disk, 1 NIC)':44s} {per_vm:10.0f} {'':>10s} {'':>6s}  "
          f"README's bound: 4 MB {'OK' if per_vm < 4e6 else 'ABOVE'}")


if __name__ == "__main__":
    main()
