"""A disk's state at an internal snapshot, read on the controller from copies of the node's images.

The node's images reach the controller through libvirt download streams (never a shell on the node, never
the node's filesystem). There, `qemu-img convert -l snapshot.name=NAME` reads exactly the snapshot's view of
the image (its own L1 table: the clusters as they were) through the image's backing chain, and writes one
flat qcow2 image, compressed when asked. The downloaded chain points at the node's paths; `qemu-img rebase
-u` (which only rewrites the header) makes each copy point at the copy of its backing file instead.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Callable

from jvp.errors import JvpError, PreconditionFailed

QEMU_IMG_TIMEOUT_S = 60
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def _run(args: list[str], what: str) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise PreconditionFailed("qemu-img is not installed on the JVP server (apt-get install qemu-utils); it "
                                 f"is needed to {what}", code="QemuImgMissing") from exc
    if out.returncode != 0:
        raise JvpError(f"qemu-img could not {what}: {out.stderr.strip()[:500]}", code="QemuImgFailed",
                       status=422, details={"qemu_img_error": out.stderr.strip()[:2000]})
    return out.stdout


def point_at(image: Path, backing: Path, backing_format: str) -> None:
    """Make a downloaded qcow2 name its downloaded backing file (header only: no data is read or moved)."""
    _run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-b", str(backing), "-F", backing_format, str(image)],
         "relink a downloaded image to its backing file")


def info(image: Path) -> dict:
    """qemu-img's reading of a local image: format, virtual size, internal snapshots (-U: no lock taken)."""
    return json.loads(_run(["qemu-img", "info", "-U", "--output=json", str(image)], "read the image"))


def snapshot_names(image: Path) -> list[str]:
    return [s.get("name") for s in info(image).get("snapshots") or []]


def convert_at_snapshot(image: Path, snapshot: str, out: Path, *, compress: bool,
                        progress: Callable[[float], None] | None = None) -> None:
    """Write `out`: a flat qcow2 of `image` as it was at internal snapshot `snapshot`.

    `progress(percent)` receives qemu-img's own progress every ~0.2 s; when it raises (a cancelled task),
    qemu-img is stopped and the exception goes on."""
    if snapshot not in snapshot_names(image):
        raise PreconditionFailed(f"the disk image holds no internal snapshot named '{snapshot}' (libvirt's "
                                 "metadata names it, but the image does not have it: it was removed outside "
                                 "JVP)", code="SnapshotDataMissing", details={"snapshot": snapshot})
    args = ["qemu-img", "convert", "-p", "-f", "qcow2", "-O", "qcow2", "-l", f"snapshot.name={snapshot}",
            *(["-c"] if compress else []), str(image), str(out)]
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise PreconditionFailed("qemu-img is not installed on the JVP server (apt-get install qemu-utils)",
                                 code="QemuImgMissing") from exc
    assert proc.stdout is not None and proc.stderr is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf, done = b"", 0.0
    try:
        while proc.poll() is None:
            buf = (buf + (proc.stdout.read() or b""))[-256:]
            found = _PROGRESS.findall(buf)
            done = float(found[-1]) if found else done
            if progress is not None:
                progress(done)
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise JvpError(f"qemu-img could not read the disk at snapshot '{snapshot}': {err[:500]}",
                       code="QemuImgFailed", status=422, details={"qemu_img_error": err[:2000]})


def virtual_size(image: Path) -> int:
    return int(info(image)["virtual-size"])
