"""The metrics history: one SQLite database in WAL mode, `<data_dir>/metrics/metrics.sqlite`.

Written by the one collector (jvp/service/metrics/collector.py), read by every worker process (WAL: readers
never wait for the writer). Two resolutions per series:

- tier 0: every sample (`metrics_interval_s`), kept a day;
- tier 1: 5-minute averages, kept 30 days; made from tier 0 as each 5-minute bucket completes.

Tables (rows are small: WITHOUT ROWID, keyed by an integer id and the time):
  vms(id, node, uuid, name, last_seen)          one row per VM ever seen (renames update the name)
  devs(id, vm, kind, key, name, mac)            its disks (kind 'disk', key = target) and NICs ('nic', key = MAC)
  vm_s0 / vm_s1(vm, t, cpu, mu, ma, rb, wb, ri, wi, rx, tx)      VM totals
  dev_s0 / dev_s1(dev, t, a, b, c, d)           per device: disk rb/wb/ri/wi, NIC rx/tx
  node_s0 / node_s1(node, t, cpu, mu, mt, l1, l5, l15)
  pool_s0 / pool_s1(node, pool, t, cap, alloc, avail)
  vm_latest(vm, node, t, doc) / node_latest(node, t, doc)        the last sample (JSON), with the raw counters
                                                                  the next rates start from, for list-vm-usage,
                                                                  /metrics and a collector that takes over
  meta(key, value)                               the downsampling watermark
A sample's time `t` is unix seconds. Nothing is written for a VM that is not running or a node that did not
answer: that is the gap the series show as null.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

TIER_S = (0, 300)            # tier 1 buckets are 5 minutes
RETENTION_S = (86400, 30 * 86400)
VM_COLS = ("cpu", "mu", "ma", "rb", "wb", "ri", "wi", "rx", "tx")
DEV_COLS = ("a", "b", "c", "d")
NODE_COLS = ("cpu", "mu", "mt", "l1", "l5", "l15")
POOL_COLS = ("cap", "alloc", "avail")
# integer columns (bytes): averages are rounded back to integers when downsampled
_INT_COLS = {"mu", "ma", "rb", "wb", "rx", "tx", "mt", "cap", "alloc", "avail"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS vms(id INTEGER PRIMARY KEY, node TEXT NOT NULL, uuid TEXT NOT NULL, name TEXT NOT NULL,
                               last_seen INTEGER NOT NULL, UNIQUE(node, uuid));
CREATE INDEX IF NOT EXISTS vms_name ON vms(node, name);
CREATE TABLE IF NOT EXISTS devs(id INTEGER PRIMARY KEY, vm INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
                                name TEXT NOT NULL, mac TEXT, UNIQUE(vm, kind, key));
CREATE TABLE IF NOT EXISTS vm_latest(vm INTEGER PRIMARY KEY, node TEXT NOT NULL, t INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_latest(node TEXT PRIMARY KEY, t INTEGER NOT NULL, doc TEXT NOT NULL);
""" + "".join(f"""
CREATE TABLE IF NOT EXISTS vm_s{i}(vm INTEGER, t INTEGER, {', '.join(VM_COLS)}, PRIMARY KEY(vm, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dev_s{i}(dev INTEGER, t INTEGER, {', '.join(DEV_COLS)}, PRIMARY KEY(dev, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_s{i}(node TEXT, t INTEGER, {', '.join(NODE_COLS)}, PRIMARY KEY(node, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pool_s{i}(node TEXT, pool TEXT, t INTEGER, {', '.join(POOL_COLS)},
                                     PRIMARY KEY(node, pool, t)) WITHOUT ROWID;
""" for i in (0, 1))

Bucketed = dict[int, list[tuple[float, int]]]   # bucket index -> per column (sum, count)


class MetricsStore:
    """Thread-safe: one connection per thread (sqlite3 connections are not shared across threads)."""

    def __init__(self, data_dir: Path | str):
        self.dir = Path(data_dir) / "metrics"
        self.path = self.dir / "metrics.sqlite"
        self._local = threading.local()
        self._vm_ids: dict[tuple[str, str], int] = {}      # (node, uuid) -> id, for the writer
        self._dev_ids: dict[tuple[int, str, str], tuple[int, str]] = {}   # -> (id, name)
        self._ready = False
        self._init_lock = threading.Lock()

    # -- connections ---------------------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            self._ensure()
            db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses at most the last commits, never corrupts
            self._local.db = db
        return db

    def _ensure(self) -> None:
        with self._init_lock:
            if self._ready:
                return
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            finally:
                db.close()
            self.path.chmod(0o600)
            self._ready = True

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writing (the collector) -------------------------------------------------------------------------------
    def vm_id(self, node: str, uuid: str, name: str, t: int) -> int:
        key = (node, uuid)
        db = self._db()
        vid = self._vm_ids.get(key)
        if vid is None:
            db.execute("INSERT INTO vms(node, uuid, name, last_seen) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(node, uuid) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
                       (node, uuid, name, t))
            vid = db.execute("SELECT id FROM vms WHERE node = ? AND uuid = ?", key).fetchone()[0]
            self._vm_ids[key] = vid
        return vid

    def dev_id(self, vm: int, kind: str, key: str, name: str, mac: str | None) -> int:
        k = (vm, kind, key)
        known = self._dev_ids.get(k)
        did = known[0] if known is not None and known[1] == name else None
        if did is None:   # new, or its name changed (a NIC's tap device after a restart)
            db = self._db()
            db.execute("INSERT INTO devs(vm, kind, key, name, mac) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT(vm, kind, key) DO UPDATE SET name = excluded.name, mac = excluded.mac",
                       (vm, kind, key, name, mac))
            did = db.execute("SELECT id FROM devs WHERE vm = ? AND kind = ? AND key = ?", k).fetchone()[0]
            self._dev_ids[k] = (did, name)
        return did

    def write(self, t: int, *, vms: Sequence[tuple], devs: Sequence[tuple], nodes: Sequence[tuple],
              pools: Sequence[tuple], vm_latest: Sequence[tuple[int, str, dict]],
              node_latest: Sequence[tuple[str, dict]], seen: Iterable[tuple[int, str]] = ()) -> None:
        """One collection, in one transaction. Rows are in the column order of the tables (without the key
        columns' names): vms (vm, t, *VM_COLS), devs (dev, t, *DEV_COLS), nodes (node, t, *NODE_COLS),
        pools (node, pool, t, *POOL_COLS); `seen`: (vm id, its current name)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(f"INSERT OR REPLACE INTO vm_s0 VALUES ({', '.join('?' * (2 + len(VM_COLS)))})", vms)
            db.executemany(f"INSERT OR REPLACE INTO dev_s0 VALUES ({', '.join('?' * (2 + len(DEV_COLS)))})", devs)
            db.executemany(f"INSERT OR REPLACE INTO node_s0 VALUES ({', '.join('?' * (2 + len(NODE_COLS)))})",
                           nodes)
            db.executemany(f"INSERT OR REPLACE INTO pool_s0 VALUES ({', '.join('?' * (3 + len(POOL_COLS)))})",
                           pools)
            db.executemany("INSERT OR REPLACE INTO vm_latest VALUES (?, ?, ?, ?)",
                           [(vid, node, t, json.dumps(doc, separators=(",", ":"))) for vid, node, doc in vm_latest])
            db.executemany("INSERT OR REPLACE INTO node_latest VALUES (?, ?, ?)",
                           [(node, t, json.dumps(doc, separators=(",", ":"))) for node, doc in node_latest])
            db.executemany("UPDATE vms SET last_seen = ?, name = ? WHERE id = ?",
                           [(t, name, vid) for vid, name in seen])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def drop_latest(self, node: str, keep: Iterable[int]) -> None:
        """The node's VMs not in `keep` are gone (undefined, moved): no latest row any more."""
        keep = set(keep)
        db = self._db()
        stale = [vid for (vid,) in db.execute("SELECT vm FROM vm_latest WHERE node = ?", (node,)) if vid not in keep]
        if stale:
            db.executemany("DELETE FROM vm_latest WHERE vm = ?", [(v,) for v in stale])

    def downsample(self, now: int) -> None:
        """Average every complete 5-minute bucket of tier 0 not yet in tier 1; drop what is past retention."""
        step = TIER_S[1]
        db = self._db()
        row = db.execute("SELECT value FROM meta WHERE key = 'downsampled_until'").fetchone()
        until = (now // step) * step
        start = int(row[0]) if row else None
        if start is None:
            first = db.execute("SELECT MIN(m) FROM (SELECT MIN(t) AS m FROM node_s0 UNION ALL "
                               "SELECT MIN(t) FROM vm_s0)").fetchone()[0]
            start = (int(first) // step) * step if first is not None else until
        db.execute("BEGIN IMMEDIATE")
        try:
            if start < until:
                for table, keys, cols in (("vm", ("vm",), VM_COLS), ("dev", ("dev",), DEV_COLS),
                                          ("node", ("node",), NODE_COLS), ("pool", ("node", "pool"), POOL_COLS)):
                    avgs = ", ".join(f"ROUND(AVG({c}))" if c in _INT_COLS else f"ROUND(AVG({c}), 3)" for c in cols)
                    k = ", ".join(keys)
                    db.execute(f"INSERT OR REPLACE INTO {table}_s1 SELECT {k}, (t / {step}) * {step}, {avgs} "
                               f"FROM {table}_s0 WHERE t >= ? AND t < ? GROUP BY {k}, t / {step}", (start, until))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('downsampled_until', ?)", (str(until),))
            for tier, keep in enumerate(RETENTION_S):
                for table in ("vm", "dev", "node", "pool"):
                    db.execute(f"DELETE FROM {table}_s{tier} WHERE t < ?", (now - keep,))
            old = now - RETENTION_S[1]
            gone = [vid for (vid,) in db.execute("SELECT id FROM vms WHERE last_seen < ?", (old,))]
            for vid in gone:
                db.execute("DELETE FROM devs WHERE vm = ?", (vid,))
                db.execute("DELETE FROM vm_latest WHERE vm = ?", (vid,))
                db.execute("DELETE FROM vms WHERE id = ?", (vid,))
            db.execute("DELETE FROM node_latest WHERE t < ?", (old,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if gone:
            self._vm_ids = {k: v for k, v in self._vm_ids.items() if v not in gone}
            self._dev_ids = {k: v for k, v in self._dev_ids.items() if k[0] not in gone}

    def downsampled_until(self) -> int | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = 'downsampled_until'").fetchone()
        return int(row[0]) if row else None

    # -- reading ---------------------------------------------------------------------------------------------
    def find_vm(self, node: str, *, name: str | None = None, uuid: str | None = None) -> tuple[int, str, str] | None:
        """(id, uuid, name) of the VM last seen under that name (or uuid) on the node."""
        db = self._db()
        if uuid is not None:
            row = db.execute("SELECT id, uuid, name FROM vms WHERE node = ? AND uuid = ?", (node, uuid)).fetchone()
        else:
            row = db.execute("SELECT id, uuid, name FROM vms WHERE node = ? AND name = ? ORDER BY last_seen DESC "
                             "LIMIT 1", (node, name)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def devices(self, vm: int) -> list[tuple[int, str, str, str, str | None]]:
        """(id, kind, key, name, mac) of the VM's devices, disks first, in name order."""
        return list(self._db().execute("SELECT id, kind, key, name, mac FROM devs WHERE vm = ? "
                                       "ORDER BY kind, name", (vm,)))

    def pools_of(self, node: str, since: int) -> list[str]:
        return [p for (p,) in self._db().execute(
            "SELECT DISTINCT pool FROM pool_s0 WHERE node = ? AND t >= ? UNION "
            "SELECT DISTINCT pool FROM pool_s1 WHERE node = ? AND t >= ? ORDER BY 1", (node, since, node, since))]

    def bucketed(self, table: str, tier: int, key: dict[str, Any], cols: Sequence[str], start: int, end: int,
                 origin: int, step: int) -> Bucketed:
        """Per step bucket ((t - origin) // step) of [start, end): each column's (sum, count of non-null)."""
        where = " AND ".join(f"{k} = ?" for k in key)
        agg = ", ".join(f"SUM({c}), COUNT({c})" for c in cols)
        sql = (f"SELECT (t - ?) / ?, {agg} FROM {table}_s{tier} WHERE {where} AND t >= ? AND t < ? "
               f"GROUP BY (t - ?) / ?")
        out: Bucketed = {}
        for row in self._db().execute(sql, (origin, step, *key.values(), start, end, origin, step)):
            out[row[0]] = [(row[1 + 2 * i] or 0, row[2 + 2 * i]) for i in range(len(cols))]
        return out

    def averaged(self, table: str, tier: int, key: dict[str, Any], cols: Sequence[tuple[str, int | None]],
                 start: int, end: int, origin: int, step: int) -> list[tuple]:
        """Per step bucket of [start, end): (bucket index, the average of each column rounded to its digits,
        None: an integer), in bucket order. Rounding and averaging happen in SQLite."""
        where = " AND ".join(f"{k} = ?" for k in key)
        agg = ", ".join(f"CAST(ROUND(AVG({c})) AS INTEGER)" if d is None else f"ROUND(AVG({c}), {int(d)})"
                        for c, d in cols)
        # the bucket's alias must not be a column's name (dev rows have a column `b`: it would win)
        sql = (f"SELECT (t - ?) / ? AS bucket_, {agg} FROM {table}_s{tier} WHERE {where} AND t >= ? AND t < ? "
               f"GROUP BY bucket_ ORDER BY bucket_")
        return self._db().execute(sql, (origin, step, *key.values(), start, end)).fetchall()

    def raw(self, table: str, tier: int, key: dict[str, Any], cols: Sequence[str], start: int,
            end: int) -> list[tuple]:
        """The stored rows (t, *cols) of [start, end): the floor a bench compares a query with."""
        where = " AND ".join(f"{k} = ?" for k in key)
        return list(self._db().execute(f"SELECT t, {', '.join(cols)} FROM {table}_s{tier} WHERE {where} "
                                       f"AND t >= ? AND t < ? ORDER BY t", (*key.values(), start, end)))

    def vm_latest(self, node: str | None = None) -> list[tuple[str, str, str, int, dict]]:
        """(node, uuid, name, t, doc) of each VM's last sample."""
        sql = ("SELECT l.node, v.uuid, v.name, l.t, l.doc FROM vm_latest l JOIN vms v ON v.id = l.vm"
               + (" WHERE l.node = ?" if node is not None else "") + " ORDER BY l.node, v.name")
        return [(n, u, name, t, json.loads(doc))
                for n, u, name, t, doc in self._db().execute(sql, (node,) if node is not None else ())]

    def node_latest(self) -> dict[str, tuple[int, dict]]:
        return {n: (t, json.loads(doc)) for n, t, doc in self._db().execute("SELECT node, t, doc FROM node_latest")}

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("metrics.sqlite*") if p.is_file())
