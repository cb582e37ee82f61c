"""migrate-vm against `virsh migrate`, the same VM with the same flags in the same run (issue 17).

The second real libvirt node of the tests (tests/host/second_node.py) is started; a small running guest
(256 MiB, TCG, no disk: the firmware spins, QEMU migrates its whole memory all the same) moves live from the
host's libvirtd to it and back, in rounds that alternate JVP (migrate-vm in-process, from the request to the
task's end) and the floor, `virsh migrate --live --persistent --undefinesource` (and `--migrateuri` towards
the second node, as JVP passes it), each direction timed. Downtime is libvirt's completed-job figure (JVP's
task result; `virsh domjobinfo --completed` on the destination for virsh). Medians of JVP_BENCH_REPEAT
(default 5) rounds. Target: JVP's total time and downtime within 1.1x of virsh's. Needs root and the local
libvirtd; the node, the VM and the app's data are removed at the end.
"""
from __future__ import annotations

import logging
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import libvirt

from jvp.settings import load_settings

REPEAT = int(os.environ.get("JVP_BENCH_REPEAT", "5"))
TARGET = 1.1


def _virsh(uri: str, *args: str) -> str:
    return subprocess.run(["virsh", "-c", uri, *args], check=True, capture_output=True, text=True).stdout


def _downtime(text: str) -> float | None:
    m = re.search(r"Total downtime:\s+(\d+)\s+ms", text)
    return float(m.group(1)) if m else None


def main() -> None:
    if os.geteuid() != 0:
        print("   skipped: needs root and the local libvirtd")
        return
    from jvp.app import create_app
    from tests.host import second_node as bed
    libvirt.registerErrorHandler(lambda *_: None, None)
    twin = bed.start()
    tmp = Path(tempfile.mkdtemp(prefix="jvp-bench-migration-"))
    settings = load_settings(config_path=os.devnull, env={}, overrides={
        "data_dir": str(tmp / "data"), "local_uri": "qemu:///system", "listen": "127.0.0.1:7777"})
    app = create_app(settings)
    services = app.extensions["jvp"]
    logging.getLogger("jvp").setLevel(logging.ERROR)
    token = services.tokens.create("bench", "admin")[0]
    client = app.test_client()
    name = f"jvptest-bench-{uuid.uuid4().hex[:8]}"
    local = libvirt.open("qemu:///system")

    def call(action: str, body: dict, status: int = 200) -> dict:
        resp = client.post(f"/api/{action}", json=body, headers={"Authorization": f"Bearer {token}"})
        if resp.status_code != status:
            raise RuntimeError(f"{action}: {resp.status_code} {resp.get_data(as_text=True)}")
        return resp.get_json()

    def jvp(source: str, target: str) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        task = call("migrate-vm", {"node": source, "name": name, "target_node": target}, 202)["task"]
        done = services.tasks.wait(task["id"], 300)
        elapsed = time.perf_counter() - t0
        if done["state"] != "succeeded":
            raise RuntimeError(f"migrate-vm {done['state']}: {done.get('error')}")
        return elapsed, done["result"].get("downtime_ms")

    def virsh(there: bool) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        if there:
            _virsh("qemu:///system", "migrate", "--live", "--persistent", "--undefinesource", name, twin.uri,
                   "--migrateuri", f"tcp://{twin.addr}")
        else:
            _virsh(twin.uri, "migrate", "--live", "--persistent", "--undefinesource", name, "qemu:///system")
        elapsed = time.perf_counter() - t0
        return elapsed, _downtime(_virsh(twin.uri if there else "qemu:///system", "domjobinfo", "--completed", name))

    try:
        call("create-node", {"name": "twin", "uri": twin.uri})
        local.defineXML(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                        "<os><type arch='x86_64'>hvm</type></os></domain>").create()
        time.sleep(2)
        jvp("local", "twin")  # warm-up: connections opened, capabilities read once
        jvp("twin", "local")
        runs: dict[str, list[tuple[float, float | None]]] = {k: [] for k in ("jvp-there", "jvp-back",
                                                                             "virsh-there", "virsh-back")}
        for _ in range(REPEAT):
            runs["jvp-there"].append(jvp("local", "twin"))
            runs["jvp-back"].append(jvp("twin", "local"))
            runs["virsh-there"].append(virsh(True))
            runs["virsh-back"].append(virsh(False))
        print(f"   {'name':<34}{'measured':>10}{'floor':>10}{'ratio':>8}  target")
        for way in ("there", "back"):
            for i, (what, unit) in enumerate((("total", "s"), ("downtime", "ms"))):
                mine = [r[i] for r in runs[f"jvp-{way}"] if r[i] is not None]
                floor = [r[i] for r in runs[f"virsh-{way}"] if r[i] is not None]
                if not mine or not floor:
                    print(f"   migrate {way} {what}: no figure (JVP {len(mine)} of {REPEAT}, virsh {len(floor)})")
                    continue
                m, f = statistics.median(mine), statistics.median(floor)
                ratio = m / f if f else float("nan")
                print(f"   {'migrate ' + way + ' ' + what + ' (' + unit + ')':<34}{m:>10.3f}{f:>10.3f}{ratio:>8.2f}"
                      f"  <= {TARGET:.2f} {'OK' if ratio <= TARGET else 'ABOVE'}")
    finally:
        for conn in (local,):
            try:
                dom = conn.lookupByName(name)
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except libvirt.libvirtError:
                pass
        services.close()
        local.close()
        bed.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
