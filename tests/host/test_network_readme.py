"""The README's Networks curl session works as written against a real `jvp serve`, and `jvp call` drives
the same actions (tier 3)."""
from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import REPO, unique
from tests.host import netutil as nu
from tests.host.test_readme import readme_block

JVP = str(REPO / ".venv" / "bin" / "jvp")


def test_readme_networks_session(live_server):
    c = nu.conn()
    existing = {n.name() for n in c.listAllNetworks(0)}
    assert "lab" not in existing, "a network named 'lab' exists on this host: the README block would clash"
    assert nu.subnet_is_free("198.18.42.0/24"), "198.18.42.0/24 is in use on this host: the README block would clash"
    env = {**os.environ, "JVP_URL": live_server.url, "JVP_DATA_DIR": str(live_server.data_dir),
           "JVP_CONFIG": str(live_server.data_dir.parent / "config.yaml")}
    try:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_block("networks-session")], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        created, with_host, leases, deleted = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        net = created["network"]
        assert (net["name"], net["mode"], net["state"], net["domain"]) == ("lab", "nat", "active", "lab.internal")
        assert (net["ipv4"]["dhcp_start"], net["ipv4"]["dhcp_end"]) == ("198.18.42.128", "198.18.42.254")
        assert net["bridge"].startswith("jvpbr")
        assert with_host["network"]["hosts"] == [{"mac": "52:54:00:42:00:10", "ip": "198.18.42.10",
                                                  "hostname": "db1", "id": None}]
        assert leases == {"node": "local", "network": "lab", "leases": []}
        assert deleted == {"ok": True}
        assert not nu.network_exists("lab")
    finally:
        nu.drop_network("lab")


def test_jvp_call_manages_networks(live_server):
    (subnet,) = nu.free_subnets()
    name = unique("cli-")
    env = {**os.environ, "JVP_URL": live_server.url, "JVP_TOKEN": live_server.token}

    def call(*args):
        res = subprocess.run([JVP, "call", *args], capture_output=True, text=True, env=env, timeout=60)
        return res.returncode, json.loads(res.stdout)
    try:
        rc, out = call("create-network", f"name={name}", "mode=isolated", f"ipv4_cidr={nu.host(subnet, 1)}/24",
                       "autostart=false")
        assert rc == 0 and out["network"]["autostart"] is False and out["network"]["state"] == "active"
        rc, out = call("add-network-host", f"name={name}", "mac=52:54:00:19:00:21", f"ip={nu.host(subnet, 21)}")
        assert rc == 0 and out["network"]["hosts"][0]["ip"] == nu.host(subnet, 21)
        rc, out = call("add-network-host", f"name={name}", "mac=52:54:00:19:00:21", f"ip={nu.host(subnet, 22)}")
        assert rc == 1 and out["error"]["code"] == "HostMacTaken"
        rc, out = call("delete-network", f"name={name}")
        assert rc == 0 and out == {"ok": True}
    finally:
        nu.drop_network(name)
