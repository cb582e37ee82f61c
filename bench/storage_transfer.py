"""Volume upload and download throughput through JVP (a real `jvp serve`, curl as the client) vs
`virsh vol-upload` / `vol-download` of the same file into the same pool, as ratios from one run, and the
growth of the gunicorn worker's resident memory while JVP moves the bytes.

The image is random data (no holes), so both paths move every byte. Each transfer is repeated REPEAT times,
virsh and JVP interleaved, and the medians are compared (a single sample on a shared host varies by 2x).
Before each upload the page cache is flushed (`sync`) so neither side pays for the other's writeback;
downloads go to /dev/null for the same reason. And each upload starts right after a file of its size was
deleted (its own side's volume of the previous round; in the first round a scratch copy of the image): on
this VM the kernel hands memory that stays free for a moment back to the hypervisor (free page reporting),
and filling page cache from such memory costs libvirtd's writer 3.5-4 CPU-s per GiB against 0.6-1 for the
memory of a file deleted just before. The rounds used to delete virsh's volume just before virsh's next
upload and nothing before JVP's, which alone made JVP's upload look 3x as costly for libvirtd (issue 15).
The worker's RSS is sampled from /proc/<pid>/status every 20 ms during each JVP transfer (peak minus the
value just before), and VmHWM is read before and after. A last download runs with curl limited to
100 MB/s, a client slower than the node: the case that would make libvirt's client queue grow without JVP's
segmented download.
The CPU time each process spends per GiB is printed too (client, JVP's worker, libvirtd with its I/O
helpers): on a host with few cores, where the HTTP client runs beside the server, the JVP path's extra hop
(the client's own sending, the worker's receiving and re-sending) is what bounds the ratio.
Where the kernel reports free memory to the hypervisor (/sys/module/page_reporting), the MiB it reported
during each upload are printed: the memory the upload's page cache then has to fault back in. That is what
makes libvirtd's CPU per GiB depend on the pace of an upload here (issue 15: virsh fed at JVP's pace costs
libvirtd what JVP's upload does). With JVP_BENCH_PACED=1 each round also uploads with virsh fed through a
FIFO at the rate JVP's upload of that round reached (at most: on a busy host the FIFO falls behind), after
the round's downloads (a diagnostic: neither the floor nor the ratios use it).
Targets: throughput ratio >= 0.8, RSS growth < 64 MiB. Needs root and the local libvirtd.
"""
from __future__ import annotations

import fcntl
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import libvirt
import requests

SIZE = int(float(os.environ.get("JVP_BENCH_GIB", "2")) * 1024 ** 3)
REPEAT = int(os.environ.get("JVP_BENCH_REPEAT", "3"))
MIB = 1024 * 1024
URI = "qemu:///system"
PACED = os.environ.get("JVP_BENCH_PACED", "0") == "1"
REPORTED = Path("/sys/module/page_reporting/parameters/reported_kib")


def _reported_mib() -> float | None:
    """MiB of free memory the kernel has reported to the hypervisor so far (None: no such counter here)."""
    try:
        return int(REPORTED.read_text()) / 1024
    except (OSError, ValueError):
        return None


class Reported:
    """MiB the kernel reported to the hypervisor while a transfer ran."""

    def __enter__(self) -> "Reported":
        self._start = _reported_mib()
        self.mib: float | None = None
        return self

    def __exit__(self, *exc) -> None:
        end = _reported_mib()
        if self._start is not None and end is not None:
            self.mib = end - self._start


def _paced_virsh_upload(pool: str, name: str, image: Path, rate: float, tmp: Path) -> float:
    """`virsh vol-upload` of the image fed through a FIFO at `rate` bytes/s; returns the seconds it took."""
    fifo = tmp / "paced.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    failed: list[BaseException] = []

    def feed() -> None:
        try:
            with open(image, "rb") as src, open(fifo, "wb") as dst:
                fcntl.fcntl(dst, fcntl.F_SETPIPE_SZ, MIB)
                start, sent = time.monotonic(), 0
                while block := src.read(MIB):
                    dst.write(block)
                    sent += len(block)
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            failed.append(exc)

    feeder = threading.Thread(target=feed, daemon=True)
    start = time.monotonic()
    feeder.start()
    _run(["virsh", "-q", "vol-upload", "--pool", pool, name, str(fifo)])
    feeder.join()
    took = time.monotonic() - start
    if failed:
        raise failed[0]
    return took


def _status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _worker_pid(master: int) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker found")


class RssProbe:
    """Peak VmRSS of a process while a transfer runs, relative to just before it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.base = _status(pid, "VmRSS")
        self.hwm_before = _status(pid, "VmHWM")
        self.peak = self.base
        self.hwm_after = self.hwm_before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _status(self.pid, "VmRSS"))

    def __enter__(self) -> "RssProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm_after = _status(self.pid, "VmHWM")

    @property
    def growth(self) -> int:
        return self.peak - self.base

    def report(self) -> str:
        return (f"RSS {self.base / MIB:.0f} MiB before, peak {self.peak / MIB:.0f} MiB, growth "
                f"{self.growth / MIB:+.1f} MiB (VmHWM {self.hwm_before / MIB:.0f} -> {self.hwm_after / MIB:.0f} MiB)")


def _cpu(pid: int) -> float:
    """CPU seconds of a process and of its children it has waited for (libvirtd's I/O helpers)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class CpuMeter:
    """CPU seconds used during a transfer by the client (our child process), and by the given pids."""

    def __init__(self, **pids: int):
        self.pids = pids
        self.used: dict[str, float] = {}

    def __enter__(self) -> "CpuMeter":
        self._client = _children_cpu()
        self._start = {k: _cpu(p) for k, p in self.pids.items()}
        return self

    def __exit__(self, *exc) -> None:
        self.used = {"client": _children_cpu() - self._client,
                     **{k: _cpu(p) - self._start[k] for k, p in self.pids.items()}}


def _cpu_line(meters: list[CpuMeter]) -> str:
    keys = meters[0].used.keys()
    gib = SIZE / 1024 ** 3
    return ", ".join(f"{k} {statistics.median(m.used[k] for m in meters) / gib:.2f}" for k in keys)


def _run(cmd: list[str] | str, **kwargs) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, shell=isinstance(cmd, str), **kwargs)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd if isinstance(cmd, str) else ' '.join(cmd[:3])} failed: "
                           f"{res.stdout[-500:]} {res.stderr[-500:]}")
    return res.stdout


def _timed(cmd: list[str] | str) -> tuple[float, str]:
    start = time.monotonic()
    out = _run(cmd)
    return time.monotonic() - start, out


def _rate(samples: list[float]) -> str:
    rates = [SIZE / MIB / s for s in samples]
    return f"{statistics.median(rates):6.1f} MiB/s (range {min(rates):.0f}-{max(rates):.0f})"


def _free_like_a_delete(pool: str, previous: str | None, image: Path, tmp: Path) -> None:
    """Delete `previous` (a volume of the previous round), or, in the first round, a scratch copy of the image
    written for that purpose: the next upload then fills page cache from memory freed a moment ago, the
    same for both sides (see the module's docstring)."""
    if previous is not None:
        _run(f"virsh -q vol-delete --pool {pool} {previous} >/dev/null")
        return
    scratch = tmp / "scratch.raw"
    shutil.copyfile(image, scratch)
    scratch.unlink()


def _ratio(jvp: list[float], virsh: list[float]) -> float:
    return statistics.median(virsh) / statistics.median(jvp)  # throughput ratio = time ratio inverted


def main() -> None:
    from tests.conftest import start_server, stop_server
    if os.geteuid() != 0 or shutil.which("virsh") is None or shutil.which("curl") is None:
        print("   skipped: needs root, virsh and curl")
        return
    libvirt.registerErrorHandler(lambda *_: None, None)
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError:
        print(f"   skipped: libvirtd does not answer on {URI}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="jvptest-bench-"))
    pool = f"jvptest-bench-{uuid.uuid4().hex[:8]}"
    server = None
    try:
        image = tmp / "image.raw"
        with open(image, "wb") as fh:
            for _ in range(SIZE // (64 * MIB)):
                fh.write(os.urandom(64 * MIB))
        (tmp / "server").mkdir()
        server = start_server(tmp / "server", URI, workers=1)
        resp = requests.post(f"{server.url}/api/create-storage-pool", timeout=60,
                             headers={"Authorization": f"Bearer {server.token}"},
                             json={"name": pool, "type": "dir", "path": str(tmp / "pool")})
        resp.raise_for_status()
        worker = _worker_pid(server.proc.pid)
        subprocess.run(["cat", str(image)], stdout=subprocess.DEVNULL, check=True)  # both read it from the page cache
        print(f"   {SIZE / 1024 ** 3:.2f} GiB of random data, dir pool in {tmp / 'pool'}, node local ({URI}), "
              f"gunicorn worker pid {worker}, {REPEAT} runs each, interleaved; medians compared")
        curl = ["curl", "-sS", "--fail-with-body", "-X", "POST", "-H", f"Authorization: Bearer {server.token}"]
        up = {"virsh": [], "jvp": []}
        down = {"virsh": [], "jvp": []}
        cpu: dict[str, list[CpuMeter]] = {k: [] for k in ("up-virsh", "up-jvp", "down-virsh", "down-jvp")}
        up_rss: list[RssProbe] = []
        reported: dict[str, list[Reported]] = {"virsh": [], "jvp": [], "paced": []}
        paced: list[float] = []
        down_rss: list[RssProbe] = []
        libvirtd = int(_run(["pgrep", "-o", "-x", "libvirtd"]).split()[0])
        for i in range(REPEAT):
            _run(["sync"])
            _free_like_a_delete(pool, f"v{i - 1}.raw" if i else None, image, tmp)
            with CpuMeter(libvirtd=libvirtd) as m, Reported() as rep:
                up["virsh"].append(_timed(f"virsh -q vol-create-as {pool} v{i}.raw {SIZE} --format raw --allocation 0 "
                                          f">/dev/null && virsh -q vol-upload --pool {pool} v{i}.raw {image}")[0])
            cpu["up-virsh"].append(m)
            reported["virsh"].append(rep)
            _run(["sync"])
            _free_like_a_delete(pool, f"j{i - 1}.raw" if i else None, image, tmp)
            with RssProbe(worker) as probe, CpuMeter(jvp=worker, libvirtd=libvirtd) as m, Reported() as rep:
                up["jvp"].append(_timed(curl + ["-o", "/dev/null", "-T", str(image), "-H",
                                                "Content-Type: application/octet-stream",
                                                f"{server.url}/api/upload-volume?pool={pool}&name=j{i}.raw"
                                                "&format=raw"])[0])
            up_rss.append(probe)
            cpu["up-jvp"].append(m)
            reported["jvp"].append(rep)
            with CpuMeter(libvirtd=libvirtd) as m:
                down["virsh"].append(_timed(["virsh", "-q", "vol-download", "--pool", pool, f"v{i}.raw",
                                             "/dev/null"])[0])
            cpu["down-virsh"].append(m)
            with RssProbe(worker) as probe, CpuMeter(jvp=worker, libvirtd=libvirtd) as m:
                took, got = _timed(curl + ["-o", "/dev/null", "-w", "%{size_download}", "-H",
                                           "Content-Type: application/json", "-d",
                                           f'{{"pool": "{pool}", "name": "j{i}.raw"}}',
                                           f"{server.url}/api/download-volume"])
            if int(got) != SIZE:
                raise RuntimeError(f"download gave {got} bytes, expected {SIZE}")
            down["jvp"].append(took)
            down_rss.append(probe)
            cpu["down-jvp"].append(m)
            if PACED:  # the diagnostic: virsh at the pace JVP's upload of this round had
                _run(["sync"])
                _free_like_a_delete(pool, f"p{i - 1}.raw" if i else None, image, tmp)
                _run(f"virsh -q vol-create-as {pool} p{i}.raw {SIZE} --format raw --allocation 0 >/dev/null")
                with CpuMeter(libvirtd=libvirtd) as m, Reported() as rep:
                    paced.append(_paced_virsh_upload(pool, f"p{i}.raw", image, SIZE / up["jvp"][-1], tmp))
                cpu.setdefault("up-paced", []).append(m)
                reported["paced"].append(rep)
        last = f"j{REPEAT - 1}.raw"
        with RssProbe(worker) as slow_rss:
            slow, _ = _timed(curl + ["--limit-rate", "100M", "-o", "/dev/null", "-H",
                                     "Content-Type: application/json", "-d", f'{{"pool": "{pool}", "name": "{last}"}}',
                                     f"{server.url}/api/download-volume"])
        print(f"   upload    virsh vol-upload   {_rate(up['virsh'])}   JVP (curl -T) {_rate(up['jvp'])}   "
              f"ratio {_ratio(up['jvp'], up['virsh']):5.2f}")
        print(f"   download  virsh vol-download {_rate(down['virsh'])}   JVP (curl -o) {_rate(down['jvp'])}   "
              f"ratio {_ratio(down['jvp'], down['virsh']):5.2f}")
        print(f"   CPU s/GiB upload:   virsh path: {_cpu_line(cpu['up-virsh'])};   JVP path: {_cpu_line(cpu['up-jvp'])}")
        print(f"             download: virsh path: {_cpu_line(cpu['down-virsh'])};   JVP path: {_cpu_line(cpu['down-jvp'])}")
        gib = SIZE / 1024 ** 3
        print("             libvirtd per upload round (the page-cache memory check, see the docstring): virsh "
              + "/".join(f"{m.used['libvirtd'] / gib:.2f}" for m in cpu["up-virsh"]) + ", JVP "
              + "/".join(f"{m.used['libvirtd'] / gib:.2f}" for m in cpu["up-jvp"]))
        if reported["virsh"][0].mib is not None:
            print("             MiB the kernel reported to the hypervisor during each upload (page cache "
                  "refilled from reported memory costs libvirtd more): virsh "
                  + "/".join(f"{r.mib:.0f}" for r in reported["virsh"]) + ", JVP "
                  + "/".join(f"{r.mib:.0f}" for r in reported["jvp"]))
        if paced:
            print(f"             virsh fed at JVP's pace (diagnostic): {_rate(paced)}, libvirtd per round "
                  + "/".join(f"{m.used['libvirtd'] / gib:.2f}" for m in cpu["up-paced"]) + " CPU-s per GiB"
                  + (", reported " + "/".join(f"{r.mib:.0f}" for r in reported["paced"]) + " MiB"
                     if reported["paced"][0].mib is not None else ""))
        print(f"             ({os.cpu_count()} CPUs; client = virsh or curl; libvirtd includes its I/O helpers and whatever "
              "else used the shared daemon meanwhile)")
        worst_up = max(up_rss, key=lambda p: p.growth)
        worst_down = max(down_rss, key=lambda p: p.growth)
        print(f"   memory    upload (largest of {REPEAT}):   {worst_up.report()}")
        print(f"             download (largest of {REPEAT}): {worst_down.report()}")
        print(f"             download to a client limited to 100 MB/s ({slow:.1f} s): {slow_rss.report()}")
        print("   targets: ratio >= 0.8 (JVP throughput / virsh throughput), RSS growth < 64 MiB")
        print(f"   {'name':24s} {'measured':>12s} {'floor':>12s} {'ratio':>7s} {'target':>8s}")
        for label, runs in (("upload-volume", up), ("download-volume", down)):
            jvp_rate = SIZE / MIB / statistics.median(runs["jvp"])
            floor_rate = SIZE / MIB / statistics.median(runs["virsh"])
            ratio = _ratio(runs["jvp"], runs["virsh"])
            print(f"   {label:24s} {jvp_rate:7.1f}MiB/s {floor_rate:7.1f}MiB/s {ratio:7.2f} {'>= 0.8':>8s}  "
                  f"{'OK' if ratio >= 0.8 else 'BELOW TARGET'}")
    finally:
        if server is not None:
            stop_server(server)
        conn = libvirt.open(URI)
        try:
            p = conn.storagePoolLookupByName(pool)
            for vol in p.listAllVolumes(0):
                vol.delete(0)
            p.destroy()
            p.undefine()
        except libvirt.libvirtError:
            pass
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
