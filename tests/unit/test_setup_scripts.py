"""scripts/host-setup.sh and scripts/ensure-node.sh decide right, run against fake system commands."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
ENSURE_NODE = REPO / "scripts" / "ensure-node.sh"


def fake(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def fake_node(bin_dir: Path, version: str) -> None:
    fake(bin_dir, "node", f'[ "$1" = --version ] && echo v{version}')
    fake(bin_dir, "npm", 'echo "npm $*" >> "$FAKE_LOG"')


def run(script: str, path: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "HOME": os.environ.get("HOME", "/root"), **env})


@pytest.mark.parametrize("version,ok", [("18.20.4", False), ("v18.20.4", False), ("20.8.1", False),
                                        ("20.9.0", True), ("v20.20.2", True), ("22.1.0", True),
                                        ("", False), ("garbage", False)])
def test_node_version_check(version, ok):
    res = run(f"source {ENSURE_NODE}; node_version_ok '{version}'", "/usr/bin:/bin")
    assert (res.returncode == 0) is ok, res.stderr


def test_a_new_enough_node_is_left_alone(tmp_path):
    fake_node(tmp_path / "bin", "22.3.0")
    log = tmp_path / "log"
    res = run(f"source {ENSURE_NODE}; ensure_node", f"{tmp_path / 'bin'}:/usr/bin:/bin",
              JVP_NODE_PREFIX=str(tmp_path / "jvp-node"), FAKE_LOG=str(log))
    assert res.returncode == 0, res.stderr
    assert "v22.3.0 ok" in res.stdout
    assert not log.exists() and not (tmp_path / "jvp-node").exists()


def test_debian_12_node_18_gets_jvps_own_node_from_the_npm_registry(tmp_path):
    """apt's node 18 (and npm): ensure_node installs node-linux-<arch>@20 + npm@10 under the prefix and
    then finds that node first on the PATH the Makefile uses."""
    if os.geteuid() != 0:
        pytest.skip("ensure_node installs as root only")
    bin_dir, prefix, log = tmp_path / "bin", tmp_path / "jvp-node", tmp_path / "log"
    fake(bin_dir, "node", '[ "$1" = --version ] && echo v18.20.4')
    # A fake npm: records its arguments and lays out what the real packages install (.bin/node, npm).
    fake(bin_dir, "npm", 'echo "npm $*" >> "$FAKE_LOG"\n'
         'if [ "$1" = install ]; then b="$3/node_modules/.bin"; mkdir -p "$b"\n'
         '  printf "#!/bin/bash\\necho v20.19.6\\n" > "$b/node"; printf "#!/bin/bash\\n" > "$b/npm"\n'
         '  chmod +x "$b/node" "$b/npm"; fi')
    fake(bin_dir, "apt-get", 'echo "apt-get $*" >> "$FAKE_LOG"')
    res = run(f"source {ENSURE_NODE}; ensure_node", f"{bin_dir}:/usr/bin:/bin",
              JVP_NODE_PREFIX=str(prefix), FAKE_LOG=str(log))
    assert res.returncode == 0, res.stdout + res.stderr
    arch = {"x86_64": "x64", "aarch64": "arm64"}[platform.machine()]
    calls = log.read_text().splitlines()
    assert calls == [f"npm install --prefix {prefix} --no-audit --no-fund --loglevel=error "
                     f"node-linux-{arch}@20 npm@10"]
    assert "v20.19.6" in res.stdout
    # The Makefile's PATH (prefix bin first) now yields the new node.
    res = run("node --version", f"{prefix}/node_modules/.bin:{bin_dir}:/usr/bin:/bin")
    assert res.stdout.strip() == "v20.19.6"


def tools_only(tmp_path: Path) -> Path:
    """A PATH directory with the shell tools the scripts use, and no node or npm."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("bash", "sort", "head", "uname", "id", "mkdir", "dirname", "chmod", "cat", "cp", "grep"):
        (tools / tool).symlink_to(subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True,
                                                 text=True, check=True).stdout.strip())
    return tools


def test_missing_npm_is_bootstrapped_from_apt(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("ensure_node installs as root only")
    bin_dir, prefix, log, pkgs = tmp_path / "bin", tmp_path / "jvp-node", tmp_path / "log", tmp_path / "pkgs"
    # What apt's nodejs + npm would bring: a node 18, and an npm that lays out the prefix like the real one.
    fake(pkgs, "node", '[ "$1" = --version ] && echo v18.20.4')
    fake(pkgs, "npm", 'echo "npm $*" >> "$FAKE_LOG"\n'
         'if [ "$1" = install ]; then b="$3/node_modules/.bin"; mkdir -p "$b"\n'
         '  printf "#!/bin/bash\\necho v20.19.6\\n" > "$b/node"; printf "#!/bin/bash\\n" > "$b/npm"\n'
         '  chmod +x "$b/node" "$b/npm"; fi')
    fake(bin_dir, "apt-get", f'echo "apt-get $*" >> "$FAKE_LOG"\n'
         f'[ "$1" = install ] && cp {pkgs}/node {pkgs}/npm {bin_dir}/\nexit 0')
    res = run(f"source {ENSURE_NODE}; ensure_node", f"{bin_dir}:{tools_only(tmp_path)}",
              JVP_NODE_PREFIX=str(prefix), FAKE_LOG=str(log))
    assert res.returncode == 0, res.stdout + res.stderr
    calls = log.read_text().splitlines()
    assert any(c.startswith("apt-get install") and c.endswith("nodejs npm") for c in calls), calls
    assert calls[-1].startswith(f"npm install --prefix {prefix}")
    assert "v20.19.6" in res.stdout


def test_host_setup_installs_python3_venv_when_only_ensurepip_is_missing(tmp_path):
    """Debian without python3-venv: `import venv` works but ensurepip does not, so `python3 -m venv`
    fails; host-setup must install python3-venv (and not python3-dev when the headers are there)."""
    if os.geteuid() != 0:
        pytest.skip("host-setup installs as root only")
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    fake(bin_dir, "dpkg-query", 'case "$3" in python3-venv|python3-dev) exit 1;; *) echo "install ok installed";; esac')
    fake(bin_dir, "python3", 'case "$2" in *ensurepip*) exit 1;; *) exit 0;; esac')  # headers ok, no ensurepip
    fake(bin_dir, "apt-get", 'echo "apt-get $*" >> "$FAKE_LOG"')
    fake_node(bin_dir, "20.19.6")
    res = subprocess.run(["bash", str(REPO / "scripts" / "host-setup.sh")], capture_output=True, text=True,
                         timeout=60, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_LOG": str(log),
                                          "JVP_SETUP_NO_DAEMONS": "1",
                                          "JVP_NODE_PREFIX": str(tmp_path / "jvp-node")})
    assert res.returncode == 0, res.stdout + res.stderr
    installs = [c for c in log.read_text().splitlines() if c.startswith("apt-get install")]
    assert len(installs) == 1 and installs[0].split()[-1] == "python3-venv", installs


# -- tests/fixtures/build-guest-image.sh (issue 14, finding 14) --------------------------------------------------
GUEST_IMAGE_SCRIPT = REPO / "tests" / "fixtures" / "build-guest-image.sh"


def _neutral_stripped(text: str) -> str:
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("# >>> recipe-neutral"):
            skip = True
        if not skip:
            out.append(line)
        if line.startswith("# <<< recipe-neutral"):
            skip = False
    return "".join(out)


def test_guest_image_fsck_and_detach_are_retried_while_the_device_is_busy(tmp_path):
    """The build once failed with "e2fsck failed (8)" right after the unmount: e2fsck could not open the
    loop device while udev's probe held it. The script's wrappers settle and retry (fakes count the runs)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    fake(bin_dir, "e2fsck", 'echo "e2fsck $*" >> "$FAKE_LOG"\n'
         'n=$(grep -c "^e2fsck" "$FAKE_LOG"); [ "$n" -ge 3 ] && exit 1; exit 8')
    fake(bin_dir, "losetup", 'echo "losetup $*" >> "$FAKE_LOG"\n'
         'if [ "$1" = -d ]; then n=$(grep -c "^losetup -d" "$FAKE_LOG"); [ "$n" -ge 2 ]; exit; fi\n'
         '[ ! -e "$FAKE_LOG.detached" ] && grep -q "^losetup -d" "$FAKE_LOG" && n=$(grep -c "^losetup -d" "$FAKE_LOG")'
         ' && [ "$n" -ge 2 ] && touch "$FAKE_LOG.detached"; [ ! -e "$FAKE_LOG.detached" ]')
    for name in ("udevadm", "blockdev", "sync"):
        fake(bin_dir, name, 'echo "' + name + ' $*" >> "$FAKE_LOG"')
    wrappers = (f"sed -n '/^do_mount() {{/,/^# <<< recipe-neutral/p' {GUEST_IMAGE_SCRIPT}")
    script = ("set -euo pipefail; log() { echo \"$*\" >&2; }; die() { log \"ERROR: $*\"; exit 1; }\n"
              f"source <({wrappers})\n"
              "LOOP=/dev/loop9\n"
              'e2fsck -fy "$LOOP" >/dev/null 2>&1 || { rc=$?; [ "$rc" -le 1 ] || die "e2fsck failed ($rc)"; }\n'
              'losetup -d "$LOOP"; LOOP=\necho done')
    res = run(script, f"{bin_dir}:/usr/bin:/bin", FAKE_LOG=str(log), GUEST_SETTLE_S="0")
    assert res.returncode == 0 and res.stdout.strip() == "done", res.stderr
    calls = log.read_text().splitlines()
    assert [c for c in calls if c.startswith("e2fsck")] == ["e2fsck -fy /dev/loop9"] * 3
    assert [c for c in calls if c.startswith("losetup -d")] == ["losetup -d /dev/loop9"] * 2
    assert "udevadm settle --timeout=30" in calls and "blockdev --flushbufs /dev/loop9" in calls
    assert "exited 8 (attempt 1 of 5)" in res.stderr


def test_guest_image_fsck_gives_up_with_the_last_exit_code(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    fake(bin_dir, "e2fsck", 'echo "e2fsck $*" >> "$FAKE_LOG"; exit 8')
    for name in ("udevadm", "blockdev", "sync"):
        fake(bin_dir, name, "true")
    script = ("set -euo pipefail; log() { echo \"$*\" >&2; }; die() { log \"ERROR: $*\"; exit 1; }\n"
              f"source <(sed -n '/^do_mount() {{/,/^# <<< recipe-neutral/p' {GUEST_IMAGE_SCRIPT})\n"
              'e2fsck -fy /dev/loop9 >/dev/null 2>&1 || { rc=$?; [ "$rc" -le 1 ] || die "e2fsck failed ($rc)"; }')
    res = run(script, f"{bin_dir}:/usr/bin:/bin", FAKE_LOG=str(log), GUEST_SETTLE_S="0", GUEST_FSCK_TRIES="3")
    assert res.returncode == 1 and "e2fsck failed (8)" in res.stderr
    assert len(log.read_text().splitlines()) == 3


def test_guest_image_recipe_leaves_out_the_recipe_neutral_blocks(tmp_path):
    """Editing how the build runs (the marked blocks) keeps a cached image valid; anything else changes the
    recipe stamp and rebuilds. The script, copied with an edited neutral block, finds a planted cache valid
    and exits at once (it would need root and the network to build)."""
    text = GUEST_IMAGE_SCRIPT.read_text()
    assert text.count("\n# >>> recipe-neutral") == text.count("\n# <<< recipe-neutral") == 3
    edited = text.replace("GUEST_SETTLE_S=${GUEST_SETTLE_S:-2}", "GUEST_SETTLE_S=${GUEST_SETTLE_S:-3}")
    assert edited != text and _neutral_stripped(edited) == _neutral_stripped(text)
    copy = tmp_path / "build-guest-image.sh"
    copy.write_text(edited)
    out = tmp_path / "cache" / "img.qcow2"
    out.parent.mkdir()
    out.write_bytes(b"not really an image")
    import hashlib
    (tmp_path / "cache" / "img.qcow2.sha256").write_text(hashlib.sha256(out.read_bytes()).hexdigest() + "  img.qcow2\n")
    recipe = hashlib.sha256((_neutral_stripped(text) + "2G \n").encode()).hexdigest()
    (tmp_path / "cache" / "img.qcow2.recipe").write_text(recipe + "\n")
    res = run(f"bash {copy} {out}", "/usr/bin:/bin")
    assert res.returncode == 0 and res.stdout.strip() == str(out), res.stderr
    outside = text.replace("SUITE=bookworm", "SUITE=bookworm  # edited")
    assert _neutral_stripped(outside) != _neutral_stripped(text)


@pytest.mark.skipif(os.geteuid() != 0, reason="the build checks for root before it re-executes itself")
def test_guest_image_build_runs_in_a_mount_namespace_of_its_own(tmp_path):
    """libvirt starts each QEMU in a mount namespace copied from the host's: a VM started while the build had
    the image's root mounted kept the loop device busy for its whole life (e2fsck: exit 8, "in use"). The
    build re-executes itself under `unshare --mount --propagation private` (a fake records the call)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    fake(bin_dir, "unshare", 'echo "unshare $* JVP_IMAGE_OWN_MOUNTS=$JVP_IMAGE_OWN_MOUNTS" >> "$FAKE_LOG"')
    out = tmp_path / "cache" / "img.qcow2"
    res = run(f"bash {GUEST_IMAGE_SCRIPT} {out}", f"{bin_dir}:/usr/bin:/bin:/usr/sbin:/sbin", FAKE_LOG=str(log))
    assert res.returncode == 0, res.stderr
    assert log.read_text().split() == ["unshare", "--mount", "--propagation", "private", "--", "bash",
                                       str(GUEST_IMAGE_SCRIPT), str(out), "JVP_IMAGE_OWN_MOUNTS=1"]
    assert not out.exists()  # the fake did not build: nothing was made outside the namespace
