"""The README's curl session works as written (against a real `jvp serve`)."""
from __future__ import annotations

import json
import os
import re
import subprocess

from tests.conftest import REPO


def readme_block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {marker}.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1)


def test_readme_curl_session(live_server):
    script = readme_block("curl-session")
    env = {**os.environ, "JVP_URL": live_server.url, "JVP_DATA_DIR": str(live_server.data_dir),
           "JVP_CONFIG": str(live_server.data_dir.parent / "config.yaml")}
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    answers = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(answers) >= 3
    assert all("error" not in a for a in answers), answers
    assert answers[0]["nodes"][0]["name"] == "local"
    assert answers[1]["summary"]["cpu"]["count"] > 0
    assert "vms" in answers[2]


def test_form_encoded_curl_bodies_are_read_as_json(live_server):
    """`curl -d '{...}'` without a Content-Type header sends x-www-form-urlencoded: still JSON to JVP."""
    res = subprocess.run(["curl", "-s", "-X", "POST", f"{live_server.url}/api/describe-node",
                          "-H", f"Authorization: Bearer {live_server.token}", "-d", '{"name": "local"}'],
                         capture_output=True, text=True, timeout=30)
    assert json.loads(res.stdout)["node"]["name"] == "local"
