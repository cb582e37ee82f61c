"""The reference index (hypervisor/ref_index.py) on libvirt's test driver: a change made straight through
libvirt, outside JVP, shows in the users of a volume and of a network as soon as libvirt's event for it
arrives (defined, undefined: a lifecycle event; an edit: `defined` again), after JVP has answered (and
indexed) the same question. Events arrive on libvirt's loop thread, so the answers are awaited
(`eventually`); the counts check behind the events (at most once per ref_index.COUNT_CHECK_S) would catch a
lost define or undefine within that interval.

The test driver keeps one state per connection, so "outside JVP" is libvirt-python on JVP's own connection
(`run_raw`): JVP's code paths (and the drop they do on JVP's own changes) are not involved.
"""
from __future__ import annotations

import time

import libvirt
from lxml import etree

SCRATCH = "/var/lib/jvp-demo/pools/default/scratch.raw"


def domain_xml(name: str, *, disk: str | None = None, network: str | None = None) -> str:
    dom = etree.Element("domain", type="test")
    etree.SubElement(dom, "name").text = name
    etree.SubElement(dom, "memory", unit="MiB").text = "64"
    etree.SubElement(etree.SubElement(dom, "os"), "type").text = "hvm"
    devices = etree.SubElement(dom, "devices")
    if disk:
        d = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(d, "source", file=disk)
        etree.SubElement(d, "target", dev="vda", bus="virtio")
    if network:
        nic = etree.SubElement(devices, "interface", type="network")
        etree.SubElement(nic, "source", network=network)
    return etree.tostring(dom).decode()


def used_by(api) -> list[str]:
    return api.ok("describe-volume", {"pool": "default", "name": "scratch.raw"}, role="viewer")["volume"]["used_by"]


def network_vms(api, name: str = "demo-isolated") -> list[str]:
    return api.ok("describe-network", {"name": name}, role="viewer")["network"]["vms"]


def listed_vms(api, name: str = "demo-isolated") -> list[str]:
    return next(n for n in api.ok("list-networks", {}, role="viewer")["networks"] if n["name"] == name)["vms"]


def outside(api, fn):
    return api.services.gateway.run_raw("local", fn)


def eventually(fn, expected, timeout_s: float = 5.0):
    """What fn answers once it is `expected`, or its last answer (events arrive on libvirt's loop thread)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_a_domain_defined_and_undefined_outside_jvp_shows_in_volume_users(api):
    assert used_by(api) == []  # answered (and indexed) before the change
    outside(api, lambda c: c.defineXML(domain_xml("outsider", disk=SCRATCH)))
    assert eventually(lambda: used_by(api), ["outsider"]) == ["outsider"]
    volumes = {v["name"]: v for v in api.ok("list-volumes", {"pool": "default"}, role="viewer")["volumes"]}
    assert volumes["scratch.raw"]["used_by"] == ["outsider"]
    outside(api, lambda c: c.lookupByName("outsider").undefine())
    assert eventually(lambda: used_by(api), []) == []


def test_a_domain_defined_outside_jvp_shows_in_network_users(api):
    before = network_vms(api)
    assert before == ["db1"] and listed_vms(api) == before
    outside(api, lambda c: c.defineXML(domain_xml("outsider", network="demo-isolated")))
    assert eventually(lambda: network_vms(api), ["db1", "outsider"]) == ["db1", "outsider"]
    assert listed_vms(api) == ["db1", "outsider"]
    problem = api.error("delete-network", {"name": "demo-isolated"}, status=409, code="NetworkInUse")
    assert problem["details"]["vms"] == ["db1", "outsider"]
    outside(api, lambda c: c.lookupByName("outsider").undefine())
    assert eventually(lambda: network_vms(api), ["db1"]) == ["db1"]


def test_a_domain_defined_outside_jvp_whose_event_is_lost_shows_after_the_counts_interval(api, monkeypatch):
    """The safety net under the events: with the `defined` event lost (its delivery to the index cut here),
    the counts check finds the new domain at the first read once ref_index.COUNT_CHECK_S has passed."""
    from jvp.hypervisor import ref_index
    assert network_vms(api) == ["db1"]  # indexed before the change
    monkeypatch.setattr(ref_index.ReferenceIndex, "_mark", lambda self, ci, uuid: None)  # events lost
    outside(api, lambda c: c.defineXML(domain_xml("outsider", network="demo-isolated")))
    clock = ref_index.time.monotonic
    monkeypatch.setattr(ref_index, "time", type("Later", (), {
        "monotonic": staticmethod(lambda: clock() + ref_index.COUNT_CHECK_S)}))
    assert network_vms(api) == ["db1", "outsider"]


def test_deletes_see_a_domain_defined_outside_jvp_before_its_event(api, monkeypatch):
    """The checks that guard a delete read the index exactly (ref_index.exact): a domain another tool defined
    a moment ago, whose `defined` event has not reached JVP yet (cut here), still keeps its disk from
    delete-vm's delete_volumes and its network from delete-network."""
    from jvp.hypervisor import ref_index
    api.ok("attach-volume", {"name": "db1", "pool": "default", "volume": "scratch.raw"}, role="operator")
    assert network_vms(api) == ["db1"] and used_by(api) == ["db1"]  # indexed before the change
    monkeypatch.setattr(ref_index.ReferenceIndex, "_mark", lambda self, ci, uuid: None)  # events not arrived
    outside(api, lambda c: c.defineXML(domain_xml("outsider", disk=SCRATCH, network="demo-isolated")))
    problem = api.error("delete-network", {"name": "demo-isolated"}, status=409, code="NetworkInUse")
    assert "outsider" in problem["details"]["vms"]
    res = api.ok("delete-vm", {"name": "db1", "delete_volumes": True}, role="operator")
    assert {v["volume"] for v in res["deleted_volumes"]} == {"db1-root.qcow2", "db1-data.raw"}
    assert {(v["volume"], v["reason"]) for v in res["kept_volumes"]} == {
        ("scratch.raw", "still used by vm(s) outsider")}
    assert "scratch.raw" in {v["name"] for v in api.ok("list-volumes", {"pool": "default"})["volumes"]}


def test_an_edit_outside_jvp_is_followed_through_the_domains_event(api):
    """Redefining a domain changes no count: the index learns it from libvirt's `defined` event."""
    assert network_vms(api, "demo-nat") == ["web1"] and used_by(api) == []

    def repoint(c: libvirt.virConnect) -> None:
        root = etree.fromstring(c.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        root.find("devices/interface/source").set("network", "demo-isolated")
        disk = etree.SubElement(root.find("devices"), "disk", type="file", device="disk")
        etree.SubElement(disk, "source", file=SCRATCH)
        etree.SubElement(disk, "target", dev="vdz", bus="virtio")
        c.defineXML(etree.tostring(root).decode())
    outside(api, repoint)
    assert eventually(lambda: used_by(api), ["web1"]) == ["web1"]
    # web1 runs: its live NIC is still on demo-nat, its next boot on demo-isolated; both count
    assert network_vms(api, "demo-nat") == ["web1"]
    assert network_vms(api) == ["db1", "web1"]
