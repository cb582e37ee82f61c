"""create-vm from a 1 GiB and from a 50 GiB sparse template (linked clones, no boot wait), as a ratio.

Two qcow2 templates that differ only in their virtual size (the same 64 MiB of data written at the start of
each, the rest unallocated) are registered through JVP (`register-template`, `file` source) in a temp-dir
pool on the local libvirtd. Each create-vm is the whole action in-process, as the API runs it: validation,
the plan, the task (domain type, the linked clone by the node's storage backend, the cloud-init seed ISO built
and uploaded through a libvirt stream, the domain defined and started; `wait_for: none`), from the request to
the task's end. The rounds are interleaved (1 GiB, 50 GiB, 1 GiB, ...) after one unmeasured warm-up create
(the node's KVM probe runs once), and each VM is deleted with its volumes before the next. Medians of
JVP_BENCH_REPEAT (default 9) rounds each (the fastest round is printed too: on a busy host single rounds
vary by more than the effect measured); target: the 50 GiB time within 20% of the 1 GiB time (a linked clone
costs the same whatever the image size). Needs root and the local libvirtd; everything it made is
removed at the end.
"""
from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import libvirt

from jvp.settings import load_settings

GIB = 2**30
SIZES_GIB = (1, 50)
DATA_MIB = 64
REPEAT = int(os.environ.get("JVP_BENCH_REPEAT", "9"))
TARGET = 1.2


def make_image(path: Path, size_gib: int) -> None:
    """A sparse qcow2 of size_gib virtual GiB whose first DATA_MIB MiB hold data."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_gib}G"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {DATA_MIB}M", str(path)], check=True,
                   stdout=subprocess.DEVNULL)


class Bench:
    def __init__(self, tmp: Path):
        from jvp.app import create_app
        self.images = tmp / "images"
        self.images.mkdir()
        settings = load_settings(config_path=os.devnull, env={}, overrides={
            "data_dir": str(tmp / "data"), "local_uri": "qemu:///system", "listen": "127.0.0.1:7777",
            "download": {"allow_file_urls": True, "file_dirs": [str(self.images)]}})
        self.app = create_app(settings)
        self.services = self.app.extensions["jvp"]
        logging.getLogger("jvp").setLevel(logging.ERROR)  # the TCG fall-back warning, once per create
        self.token = self.services.tokens.create("bench", "admin")[0]
        self.client = self.app.test_client()
        self.vms: list[str] = []  # created and not deleted yet (removed at the end if a round failed)

    def call(self, action: str, body: dict, status: int = 200) -> dict:
        resp = self.client.post(f"/api/{action}", json=body, headers={"Authorization": f"Bearer {self.token}"})
        if resp.status_code != status:
            raise RuntimeError(f"{action}: {resp.status_code} {resp.get_data(as_text=True)}")
        return resp.get_json()

    def task(self, action: str, body: dict, timeout_s: float = 600) -> dict:
        task = self.call(action, body, status=202)["task"]
        done = self.services.tasks.wait(task["id"], timeout_s)
        if done["state"] != "succeeded":
            raise RuntimeError(f"{action} {done['state']}: {done.get('error')}")
        return done

    def create_vm(self, pool: str, template: str) -> float:
        """Seconds from the create-vm request to the end of its task; the VM is deleted afterwards."""
        name = f"jvptest-bench-{uuid.uuid4().hex[:8]}"
        self.vms.append(name)
        t0 = time.perf_counter()
        self.task("create-vm", {"name": name, "template": template, "pool": pool, "vcpus": 1, "memory_mib": 256,
                                "start": True, "wait_for": "none", "cloud_init": {"hostname": name}})
        elapsed = time.perf_counter() - t0
        self.call("delete-vm", {"name": name, "force": True, "delete_volumes": True})
        self.vms.remove(name)
        return elapsed

    def close(self) -> None:
        self.services.close()


def _drop(conn: libvirt.virConnect, vms: list[str], pools: list[str]) -> None:
    """Whatever a failed run left: domains, then pools (the template pool first: it lives inside the other)."""
    for name in vms:
        try:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        except libvirt.libvirtError:
            pass
    for name in pools:
        try:
            p = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            continue
        try:
            if p.isActive():
                for v in p.listAllVolumes(0):
                    v.delete(0)
                p.destroy()
            p.undefine()
        except libvirt.libvirtError as exc:
            print(f"   cleanup: pool {name}: {exc}")


def main() -> None:
    if os.geteuid() != 0:
        print("   skipped: needs root and the local libvirtd")
        return
    libvirt.registerErrorHandler(lambda *_: None, None)
    tmp = Path(tempfile.mkdtemp(prefix="jvp-bench-vm-create-"))
    pool = f"jvptest-bench-{uuid.uuid4().hex[:8]}"
    templates = {size: f"jvptest-bench-{size}g-{uuid.uuid4().hex[:6]}" for size in SIZES_GIB}
    bench = None
    try:
        bench = Bench(tmp)
        bench.call("create-storage-pool", {"name": pool, "type": "dir", "path": str(tmp / "pool")})
        for size, name in templates.items():
            image = bench.images / f"{name}.qcow2"
            make_image(image, size)
            bench.task("register-template", {"pool": pool, "name": name,
                                             "source": {"type": "file", "path": str(image)}})
            got = bench.call("describe-template", {"name": name})["template"]["storage"]["virtual_size"]
            assert got == size * GIB, (name, got)
        bench.create_vm(pool, templates[SIZES_GIB[0]])  # warm-up: the KVM probe, first connections
        times: dict[int, list[float]] = {size: [] for size in SIZES_GIB}
        for _ in range(REPEAT):
            for size in SIZES_GIB:
                times[size].append(bench.create_vm(pool, templates[size]))
        for name in templates.values():
            bench.call("delete-template", {"name": name})
        bench.call("delete-storage-pool", {"name": pool})
        med = {size: statistics.median(t) for size, t in times.items()}
        small, big = SIZES_GIB
        ratio = med[big] / med[small]
        spread = max(med.values()) / min(med.values())
        print(f"   create-vm from a template, linked clone, cloud-init seed, started (no boot wait); "
              f"median of {REPEAT}, interleaved")
        for size in SIZES_GIB:
            runs = ", ".join(f"{x * 1000:.0f}" for x in times[size])
            print(f"   {size:3d} GiB sparse template ({DATA_MIB} MiB of data): median {med[size] * 1000:5.0f} ms, "
                  f"fastest {min(times[size]) * 1000:5.0f} ms  (runs: {runs})")
        fastest = min(times[big]) / min(times[small])
        print(f"   ratio {big} GiB / {small} GiB: {ratio:.2f} (medians), {fastest:.2f} (fastest rounds)  "
              f"(target: within 20% of each other) {'OK' if spread <= TARGET else 'OUTSIDE TARGET'}")
    finally:
        if bench is not None:
            conn = libvirt.open("qemu:///system")
            try:
                _drop(conn, bench.vms, [pool + "_templates_", pool])
            finally:
                conn.close()
            bench.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
