"""`jvp check`: what a host needs for JVP, each with a plain verdict; `jvp doctor`: the data dir's problems."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
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
        from jvp.store import private_dirs
        private_dirs(data)
        probe = data / f".check-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        out.append(_result("data dir", "ok", f"{data} is writable"))
    except OSError as exc:
        out.append(_result("data dir", "fail", f"{data}: {exc.strerror}"))
    return out


# -- jvp doctor: the data dir's problems and their way out ---------------------------------------------------
TMP_AGE_S = 3600  # a write's temporary file older than this is a leftover of a crash


def _problem(path: Path | str, problem: str, fix: str | None) -> dict[str, Any]:
    return {"path": str(path), "problem": problem, "fix": fix, "fixed": False}


def doctor(settings: Settings, fix: bool = False, stamp: str | None = None) -> list[dict[str, Any]]:
    """The problems of the data dir, each `{path, problem, fix, fixed}` (`fix` None: no automatic way out).

    - metadata files JVP cannot read or use (invalid YAML, a schema mismatch, a name that is no valid key):
      `--fix` moves each aside to `<name>.corrupt-<UTC stamp>` in its directory, kept for inspection (a node,
      keypair or template file moved aside is no longer known to JVP; tokens.yaml moved aside means a new admin
      token is written at the next start);
    - permissions: the data dir and its directories should be 0700, its files 0600 (earlier versions made them
      0755/0644): `--fix` sets them; files owned by another user are reported only;
    - audit log lines that do not parse (a torn last line after a crash): reported; listing skips them;
    - temporary files of writes interrupted by a crash (`.<name>.*.tmp`, older than an hour): `--fix` removes them.
    """
    from jvp.store import DIR_MODE, FILE_MODE, YamlMetadataStore
    from jvp.timeutil import now
    data = Path(settings.data_dir)
    if not data.is_dir():
        return [_problem(data, "the data dir does not exist", "`jvp serve` creates it (0700) at its first start")]
    stamp = stamp or now().strftime("%Y%m%dT%H%M%SZ")
    out: list[dict[str, Any]] = []
    store = YamlMetadataStore(data, settings.schema_dir)
    for bad in store.problems():
        item = _problem(bad["path"], f"{bad['kind']} metadata that JVP cannot read: {bad['reason']}",
                        f"move it aside to {Path(bad['path']).name}.corrupt-{stamp} (kept, out of JVP's way)")
        if fix:
            try:
                item["moved_to"] = str(store.move_aside(bad["path"], stamp))
                item["fixed"] = True
            except (OSError, ValueError) as exc:
                item["fix_error"] = str(exc)
        out.append(item)
    uid = os.geteuid()
    for root, dirs, files in os.walk(data):
        for name in sorted(dirs) + sorted(files):
            path = Path(root) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue  # never followed, never changed
            is_dir = stat.S_ISDIR(st.st_mode)
            out.extend(_mode_problem(path, st, DIR_MODE if is_dir else FILE_MODE, uid, fix))
            if not is_dir and name.startswith(".") and name.endswith(".tmp") and time.time() - st.st_mtime > TMP_AGE_S:
                item = _problem(path, "the temporary file of a write a crash interrupted", "remove it")
                if fix:
                    path.unlink(missing_ok=True)
                    item["fixed"] = True
                out.append(item)
    out.extend(_mode_problem(data, data.stat(), DIR_MODE, uid, fix))
    for log_file in sorted((data / "audit").glob("audit-*.jsonl")):
        out.extend(_audit_problems(log_file))
    return out


def _mode_problem(path: Path, st: os.stat_result, want: int, uid: int, fix: bool) -> list[dict[str, Any]]:
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
    if st.st_uid != uid:
        return [_problem(path, f"the {kind} belongs to uid {st.st_uid}, not to the user JVP runs as ({uid})",
                         None)]
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077 and (mode & 0o700) == (want & 0o700):
        return []
    item = _problem(path, f"the {kind} is mode {mode:04o}; the data dir's {kind}s are {want:04o} (private)",
                    f"chmod {want:04o}")
    if fix:
        try:
            os.chmod(path, want)
            item["fixed"] = True
        except OSError as exc:
            item["fix_error"] = exc.strerror
    return [item]


def _audit_problems(path: Path) -> list[dict[str, Any]]:
    bad = []
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except ValueError:
                    bad.append(number)
    except (OSError, UnicodeDecodeError) as exc:
        return [_problem(path, f"the audit log cannot be read: {exc}", None)]
    if not bad:
        return []
    return [_problem(path, f"{len(bad)} audit line(s) do not parse (line {', '.join(map(str, bad[:5]))}"
                           f"{', ...' if len(bad) > 5 else ''}): list-audit-events skips them", None)]
