"""Node URIs compared in canonical form (issue 14, finding 11): spelling cannot register a second node over
the same host."""
from __future__ import annotations

import pytest

from jvp.demo import INVENTORY
from jvp.service.node_uri import canonical_uri


@pytest.mark.parametrize("a,b", [
    (f"test://{INVENTORY}", "test://" + str(INVENTORY).replace("/demo/", "/demo//")),
    (f"test://{INVENTORY}", "test://" + str(INVENTORY).replace("/demo/", "/demo/./")),
    (f"test://{INVENTORY}", "TEST://" + str(INVENTORY)),
    ("qemu:///system", "qemu+unix:///system"),
    ("qemu+tcp://host.example/system", "QEMU+TCP://Host.Example:16509/system"),
    ("qemu+tcp://host.example/system", "qemu+tcp://host.example./system"),
    ("qemu+tls://h/system", "qemu://h:16514/system"),
    ("qemu+ssh://root@h/system", "qemu+ssh://root@H:22//system/"),
    ("qemu+ssh://root@h/system?keyfile=/k&no_verify=1", "qemu+ssh://root@h/system?no_verify=1&keyfile=/k"),
    ("qemu+tcp://[2001:db8::1]/system", "qemu+tcp://[2001:DB8:0::1]:16509/system"),
])
def test_spellings_of_one_uri_are_equal(a, b):
    assert canonical_uri(a) == canonical_uri(b)


@pytest.mark.parametrize("a,b", [
    ("qemu:///system", "qemu:///session"),
    ("qemu+tcp://h/system", "qemu+tcp://h:16510/system"),     # another port: maybe another daemon
    ("qemu+ssh://h:2222/system", "qemu+ssh://h/system"),       # an ssh port forward: another machine
    ("qemu+ssh://alice@h/session", "qemu+ssh://bob@h/session"),
    ("qemu+tcp://h1/system", "qemu+tcp://h2/system"),
    ("test:///default", f"test://{INVENTORY}"),
])
def test_different_hosts_stay_different(a, b):
    assert canonical_uri(a) != canonical_uri(b)
