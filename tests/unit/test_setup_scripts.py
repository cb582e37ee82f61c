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
