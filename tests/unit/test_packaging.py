"""A non-editable install (`pip install .`) carries every package and the data JVP reads at run time."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from setuptools import find_packages
from setuptools.config.setupcfg import read_configuration

REPO = Path(__file__).resolve().parent.parent.parent


def _code_dirs() -> set[str]:
    """Every directory under jvp/ that holds Python code, as a dotted package name."""
    return {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "jvp").rglob("*.py")
            if "__pycache__" not in p.parts}


def test_find_packages_covers_every_jvp_subpackage():
    opts = read_configuration(str(REPO / "setup.cfg"))["options"]
    include = opts.get("packages.find", {}).get("include", ["*"])
    found = set(find_packages(str(REPO), include=include))
    assert _code_dirs() <= found, f"not packaged (no __init__.py?): {sorted(_code_dirs() - found)}"


def test_data_files_carry_every_metadata_schema():
    opts = read_configuration(str(REPO / "setup.cfg"))["options"]
    data = dict(opts["data_files"])
    patterns = data["share/jvp/metadata_schema"]
    shipped = {os.path.basename(f) for pat in patterns for f in glob.glob(str(REPO / pat))}
    assert {p.name for p in (REPO / "metadata_schema").glob("*.yaml")} <= shipped


def test_a_built_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    """Build a wheel from a copy of the sources, install it under a prefix, and start the app from there:
    the schemas come from the installed copy, not from the checkout."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "jvp", src / "jvp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "metadata_schema", src / "metadata_schema")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True, text=True, cwd=tmp_path)
    (wheel,) = out.glob("jvp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in _code_dirs():
        assert f"{pkg.replace('.', '/')}/__init__.py" in names, pkg
    assert "jvp/demo/inventory.xml" in names
    assert any(n.endswith("/data/share/jvp/metadata_schema/node.v1.yaml") for n in names)

    prefix = tmp_path / "prefix"
    editable = sorted(p.name for p in Path(sysconfig.get_path("purelib")).glob("*jvp*"))
    # --ignore-installed: never touch (uninstall) the jvp already installed in this environment.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--ignore-installed", "--prefix", str(prefix), str(wheel)],
                   check=True, capture_output=True, text=True)
    assert sorted(p.name for p in Path(sysconfig.get_path("purelib")).glob("*jvp*")) == editable
    rel = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    site = prefix / rel
    deps = sysconfig.get_path("purelib")  # the dependencies, without the checkout's editable finder (-S)
    probe = (
        "import os, sys, jvp, jvp.api.http, jvp.hypervisor.host\n"
        "from jvp.settings import load_settings\n"
        "from jvp.app import create_app\n"
        "site, share, data = sys.argv[1:]\n"
        "assert jvp.__file__.startswith(site), jvp.__file__\n"
        "s = load_settings(config_path=os.devnull, env={}, overrides={'data_dir': data,"
        " 'local_uri': 'test:///default'})\n"
        "assert s.schema_dir == os.path.join(share, 'metadata_schema'), s.schema_dir\n"
        "assert s.web_dir == os.path.join(share, 'web'), s.web_dir\n"
        "app = create_app(s)\n"
        "print(app.test_client().get('/healthz').status_code)\n"
        "app.extensions['jvp'].close()\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{deps}"}
    args = [str(site), str(prefix / "share" / "jvp"), str(tmp_path / "data")]
    res = subprocess.run([sys.executable, "-S", "-c", probe, *args], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "200"
