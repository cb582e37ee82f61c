"""`jvp check`: what a host needs for JVP, each with a plain verdict."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import libvirt

from jvp.settings import Settings


def _result(check: str, status: str, detail: str) -> dict[str, Any]:
    return {"check": check, "status": status, "detail": detail}


def diagnose(settings: Settings) -> list[dict[str, Any]]:
    out = []
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = None
    try:
        conn = libvirt.open(settings.local_uri)
        out.append(_result("libvirtd", "ok", f"{settings.local_uri} answers (libvirt "
                           f"{conn.getLibVersion() // 1000000}.{conn.getLibVersion() // 1000 % 1000})"))
    except libvirt.libvirtError as exc:
        out.append(_result("libvirtd", "fail", f"{settings.local_uri}: {exc.get_error_message()} "
                           "(start it: virtlogd -d && libvirtd -d, or `make run` does it)"))
    if os.path.exists("/dev/kvm"):
        usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
        detail = "/dev/kvm present" + ("" if usable else " but not accessible to this user")
        if conn is not None:
            try:
                conn.getDomainCapabilities(None, None, None, "kvm")
                detail += "; libvirt offers domain type kvm (guests may still need the qemu fallback: " \
                          "JVP probes a real guest when domain_type is auto)"
            except libvirt.libvirtError as exc:
                detail += f"; libvirt refuses kvm: {exc.get_error_message()}"
        out.append(_result("kvm", "ok" if usable else "warn", detail))
    else:
        out.append(_result("kvm", "warn", "no /dev/kvm: guests run under TCG emulation (slow but working)"))
    qemu_img = shutil.which("qemu-img")
    if qemu_img:
        ver = subprocess.run([qemu_img, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        out.append(_result("qemu-img", "ok", f"{qemu_img}: {ver}"))
    else:
        out.append(_result("qemu-img", "fail", "qemu-img not found (apt-get install qemu-utils)"))
    data = Path(settings.data_dir)
    try:
        data.mkdir(parents=True, exist_ok=True)
        probe = data / f".check-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        out.append(_result("data dir", "ok", f"{data} is writable"))
    except OSError as exc:
        out.append(_result("data dir", "fail", f"{data}: {exc.strerror}"))
    if conn is not None:
        conn.close()
    return out
