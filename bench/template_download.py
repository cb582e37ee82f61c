"""Template download throughput: register-template (a real `jvp serve`, sha256 verification on) vs `curl -o`
of the same file from the same local HTTP server, as a ratio.

The image is a generated qcow2 holding JVP_BENCH_TEMPLATE_MIB (default 400) MiB of random data, so every
byte travels and the checksum means something. The server is the tests' image server (sendfile, ETag,
Range) on 127.0.0.1. JVP's figure is the HTTP transfer of the download task (request to last byte, hashing
included: it happens on the way, in a second thread), taken from the task's result; curl's is its own
`time_total` writing to a file in the same directory tree. The runs are interleaved REPEAT times (default
3) and the medians compared: one sample on a shared host varies a lot. The whole registration (download,
qemu-img check, stream into the pool through libvirt) is printed too. Target: ratio >= 0.9.
A second floor does the same job as JVP, `curl | tee FILE | sha256sum` (stored and hashed on the way): plain
curl hashes nothing, and sha256 costs about 0.9 CPU-s per GiB here, which on a busy 2-core host is most of
the gap to plain curl (its row `template-download-hashed`).
Needs root and the local libvirtd.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import libvirt
import requests

from bench._common import drop_pools, needs_root
from tests.conftest import start_server, stop_server
from tests.imageserver import ImageServer, sha256_file

MIB = 1024 * 1024
SIZE_MIB = int(os.environ.get("JVP_BENCH_TEMPLATE_MIB", "400"))
REPEAT = int(os.environ.get("JVP_BENCH_REPEAT", "3"))
TARGET = 0.9


def make_image(directory: Path, mib: int) -> Path:
    raw = directory / "bench.raw"
    rnd = random.Random(42)
    with open(raw, "wb") as fh:
        fh.write(b"\x00" * 510 + b"\x55\xaa")  # a boot signature, like a real disk
        for _ in range(mib):
            fh.write(rnd.randbytes(MIB))
    image = directory / "bench.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    return image


def curl_run(url: str, dest: Path) -> float:
    """MiB/s by curl's own clock."""
    out = subprocess.run(["curl", "-s", "-f", "-o", str(dest), "-w", "%{size_download} %{time_total}", url],
                         check=True, capture_output=True, text=True).stdout.split()
    dest.unlink()
    return int(out[0]) / MIB / float(out[1])


def curl_sha_run(url: str, dest: Path) -> float:
    """MiB/s of `curl | tee FILE | sha256sum`: the same job as JVP's (the bytes stored and hashed on the way)."""
    start = time.monotonic()
    out = subprocess.run(f"curl -s -f '{url}' | tee '{dest}' | sha256sum", shell=True, check=True,
                         capture_output=True, text=True).stdout
    took = time.monotonic() - start
    size = dest.stat().st_size
    dest.unlink()
    if len(out.split()[0]) != 64:
        raise RuntimeError(f"sha256sum printed {out!r}")
    return size / MIB / took


def post(server, action: str, body: dict) -> dict:
    resp = requests.post(f"{server.url}/api/{action}", json=body, timeout=60,
                         headers={"Authorization": f"Bearer {server.token}"})
    if resp.status_code not in (200, 202):
        raise RuntimeError(f"{action}: {resp.status_code} {resp.text}")
    return resp.json()


def jvp_run(server, pool: str, url: str, sha: str) -> dict:
    """One registration; returns the task's download figures and the whole task's duration."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    task = post(server, "register-template", {"pool": pool, "name": name,
                                              "source": {"type": "url", "url": url, "sha256": sha}})["task"]
    # Polled once a second, as the UI does: each request is work for the same process as the download.
    while (task := post(server, "describe-task", {"id": task["id"]})["task"])["state"] in ("pending", "running"):
        time.sleep(1.0)
    total = time.monotonic() - start
    if task["state"] != "succeeded":
        raise RuntimeError(f"register-template {task['state']}: {task['error']}")
    post(server, "delete-template", {"name": name})
    return {**task["result"]["download"], "total_s": total}


def main() -> None:
    if needs_root():
        return
    libvirt.registerErrorHandler(lambda *_: None, None)  # the cleanup's lookups of pools that may not exist
    tmp = Path(tempfile.mkdtemp(prefix="jvp-bench-template-"))
    server = None
    images = ImageServer()
    pool = f"jvptest-bench-{uuid.uuid4().hex[:8]}"
    try:
        image = make_image(tmp, SIZE_MIB)
        size = image.stat().st_size
        sha = sha256_file(image)  # also puts the file in the page cache for both clients
        images.start()
        images.add_file("/bench.qcow2", image)
        url = images.url("/bench.qcow2")
        (tmp / "jvp").mkdir()
        server = start_server(tmp / "jvp")
        post(server, "create-storage-pool", {"name": pool, "type": "dir", "path": str(tmp / "pool")})
        curl, curl_sha, jvp, totals = [], [], [], []
        for _ in range(REPEAT):
            curl.append(curl_run(url, tmp / "curl.out"))
            curl_sha.append(curl_sha_run(url, tmp / "curl.out"))
            got = jvp_run(server, pool, url, sha)
            jvp.append(got["mib_per_s"])
            totals.append(got["total_s"])
        c, j = statistics.median(curl), statistics.median(jvp)
        cs = statistics.median(curl_sha)
        print(f"   image: {size / MIB:.0f} MiB qcow2 of random data, sha256 verified; {REPEAT} runs each, interleaved")
        print(f"   curl -o:           {c:7.1f} MiB/s  (runs: {', '.join(f'{x:.0f}' for x in curl)})")
        print(f"   curl | sha256sum:  {cs:7.1f} MiB/s  (runs: {', '.join(f'{x:.0f}' for x in curl_sha)})")
        print(f"   register-template: {j:7.1f} MiB/s  (runs: {', '.join(f'{x:.0f}' for x in jvp)})")
        print(f"   whole registration (download, qemu-img, stream into the pool): median "
              f"{statistics.median(totals):.1f} s")
        print(f"   {'name':24s} {'measured':>12s} {'floor':>12s} {'ratio':>7s} {'target':>8s}")
        print(f"   {'template-download':24s} {j:7.1f}MiB/s {c:7.1f}MiB/s {j / c:7.2f} {'>= ' + str(TARGET):>8s}  "
              f"{'OK' if j / c >= TARGET else 'BELOW TARGET'}")
        print(f"   {'template-download-hashed':24s} {j:7.1f}MiB/s {cs:7.1f}MiB/s {j / cs:7.2f} {'>= ' + str(TARGET):>8s}  "
              f"{'OK' if j / cs >= TARGET else 'BELOW TARGET'}  (floor: curl | tee | sha256sum, the same job)")
    finally:
        if server is not None:
            stop_server(server)
        images.stop()
        conn = libvirt.open("qemu:///system")
        drop_pools(conn, [pool + "_templates_", pool])
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
