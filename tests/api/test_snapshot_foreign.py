"""Snapshots JVP did not create (issue 13), on a test-driver node of their own
(tests/fixtures/hosts/snapshots_foreign.xml): external disk-only and memory-only snapshots, a mode JVP never
uses, odd descriptions, a nested tree with two snapshots in the same second. libvirt's own snapshot documents
(read straight from the connection) are the ground truth, field by field."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "hosts" / "snapshots_foreign.xml"
NODE = "snaps"
VM = "snappy"


@pytest.fixture
def snaps(api):
    return api.add_fixture_node(NODE, FIXTURE)


def libvirt_docs(api) -> tuple[dict[str, etree._Element], str | None]:
    def read(conn):
        dom = conn.lookupByName(VM)
        current = dom.snapshotCurrent(0).getName() if dom.hasCurrentSnapshot(0) else None
        return {s.getName(): s.getXMLDesc(0) for s in dom.listAllSnapshots(0)}, current
    docs, current = api.services.gateway.run_raw(NODE, read)
    return {n: etree.fromstring(x.encode()) for n, x in docs.items()}, current


def test_every_snapshot_shows_libvirts_figures(api, snaps):
    listed = api.ok("list-snapshots", {"node": NODE, "vm": VM}, role="viewer")["snapshots"]
    docs, current = libvirt_docs(api)
    assert sorted(s["name"] for s in listed) == sorted(docs)
    for snap in listed:
        doc = docs[snap["name"]]
        assert snap["problems"] == []
        assert snap["libvirt_state"] == doc.findtext("state")
        assert snap["parent"] == doc.findtext("parent/name")
        assert snap["description"] == (doc.findtext("description") or "")
        created = dt.datetime.fromtimestamp(int(doc.findtext("creationTime")), dt.timezone.utc)
        assert dt.datetime.fromisoformat(snap["created_at"].replace("Z", "+00:00")) == created
        assert snap["memory"] == doc.find("memory").get("snapshot")
        assert snap["memory_file"] == doc.find("memory").get("file")
        assert snap["has_memory"] == (doc.find("memory").get("snapshot") in ("internal", "external"))
        assert [(d["target"], d["snapshot"], d["snapshot_file"]) for d in snap["disks"]] == [
            (d.get("name"), d.get("snapshot"), d.find("source").get("file") if d.find("source") is not None
             else None)
            for d in doc.findall("disks/disk")]
        assert snap["current"] == (snap["name"] == current)
        children = sorted(n for n, d in docs.items() if d.findtext("parent/name") == snap["name"])
        assert sorted(snap["children"]) == children
        assert api.ok("describe-snapshot", {"node": NODE, "vm": VM, "name": snap["name"]})["snapshot"] == snap


def test_the_tree_and_the_odd_ones(api, snaps):
    listed = {s["name"]: s for s in api.ok("list-snapshots", {"node": NODE, "vm": VM})["snapshots"]}
    order = [s["name"] for s in api.ok("list-snapshots", {"node": NODE, "vm": VM})["snapshots"]]
    assert order.index("int-child") < order.index("int-grandchild")  # same second: the parent comes first
    root = listed["ext-root"]
    assert (root["state"], root["libvirt_state"], root["location"]) == ("running", "disk-snapshot", "external")
    assert root["description"] == "  made by virsh\nsecond line  "   # kept as libvirt has it
    assert root["disks"][0]["snapshot_file"] == "/var/lib/libvirt/images/snappy.ext-root"
    assert root["disks"][1]["snapshot"] == "manual"
    mem = listed["mem-only"]
    assert (mem["memory"], mem["has_memory"], mem["location"]) == ("external", True, "external")
    assert all(d["snapshot"] == "no" for d in mem["disks"])
    assert mem["description"] == 'memory only, <external> & "quoted"'
    grand = listed["int-grandchild"]
    assert grand["current"] is True and grand["state"] == "paused" and grand["parent"] == "int-child"
    assert grand["description"] == ""
    # the node-wide listing holds the same rows (one VM here), in the same tree order
    assert [s["name"] for s in api.ok("list-snapshots", {"node": NODE})["snapshots"]] == order
