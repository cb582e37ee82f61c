"""`jvp serve --demo`: its throw-away data dir goes away with the process that made it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

SCRIPT = """
import os, sys
from jvp.demo import demo_overrides
data = demo_overrides(None)["data_dir"]
open(os.path.join(data, "marker"), "w").close()
pid = os.fork()
if pid == 0:          # a forked worker exiting must not remove the server's data dir
    sys.exit(0)
os.waitpid(pid, 0)
print(data, os.path.isdir(data), flush=True)
"""


def test_the_demo_data_dir_is_removed_when_the_server_exits():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    data, alive_after_worker_exit = res.stdout.split()
    assert alive_after_worker_exit == "True"
    assert os.path.basename(data).startswith("jvp-demo-")
    assert not os.path.exists(data)
