"""`jvp check`: what a host needs for JVP, each with a plain verdict."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from jvp.hypervisor.host import probe_libvirt
from jvp.settings import Settings


def _result(check: str, status: str, detail: str) -> dict[str, Any]:
    return {"check": check, "status": status, "detail": detail}


def diagnose(settings: Settings) -> list[dict[str, Any]]:
    out = []
    lv = probe_libvirt(settings.local_uri)
    if lv["error"] is None:
        out.append(_result("libvirtd", "ok", f"{settings.local_uri} answers (libvirt {lv['version']})"))
    else:
        out.append(_result("libvirtd", "fail", f"{settings.local_uri}: {lv['error']} "
                           "(start it: virtlogd -d && libvirtd -d, or `make run` does it)"))
    if os.path.exists("/dev/kvm"):
        usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
        detail = "/dev/kvm present" + ("" if usable else " but not accessible to this user")
        if lv["error"] is None:
            if lv["kvm_error"] is None:
                detail += "; libvirt offers domain type kvm (guests may still need the qemu fallback: " \
                          "JVP probes a real guest when domain_type is auto)"
            else:
                detail += f"; libvirt refuses kvm: {lv['kvm_error']}"
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
    return out
