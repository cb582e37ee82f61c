"""list-vms' and describe-vm's per-connection memo (hypervisor/listing_memo.py) on libvirt's test driver: the
transient domains and the node's network names are kept between requests, and a change made straight through
libvirt, outside JVP and without JVP's own drop, shows in the next answer once libvirt's event for it arrives
(a domain event for a new transient domain or one made persistent, a network event for a deleted network);
JVP's own change shows at once.

The test driver keeps one state per connection, so "outside JVP" is libvirt-python on JVP's own open
connection, taken from the connection pool (not `run_raw`, which counts as a change of JVP's).
"""
from __future__ import annotations

from lxml import etree

from tests.api.test_ref_index import eventually


def raw(api):
    return api.services.gateway.connection("local").get()


def rows(api) -> dict[str, dict]:
    return {v["name"]: v for v in api.ok("list-vms", {}, role="viewer")["vms"]}


def described(api, name: str) -> dict:
    return api.ok("describe-vm", {"name": name}, role="viewer")["vm"]


def codes(row: dict) -> list[str]:
    return [p["code"] for p in row.get("problems") or []]


def test_a_network_deleted_outside_jvp_shows_as_missing_once_its_event_arrives(api):
    assert codes(rows(api)["db1"]) == []  # listed (and the node's networks kept) before the change
    net = raw(api).networkLookupByName("demo-isolated")
    net.destroy()
    net.undefine()
    got = eventually(lambda: codes(rows(api)["db1"]), ["NetworkNotFound"])
    assert got == ["NetworkNotFound"]
    assert codes(described(api, "db1")) == ["NetworkNotFound"]


def domain_xml(name: str, network: str | None = None, uuid: str | None = None) -> str:
    dom = etree.Element("domain", type="test")
    etree.SubElement(dom, "name").text = name
    if uuid:
        etree.SubElement(dom, "uuid").text = uuid
    etree.SubElement(dom, "memory", unit="MiB").text = "64"
    etree.SubElement(etree.SubElement(dom, "os"), "type").text = "hvm"
    if network:
        nic = etree.SubElement(etree.SubElement(dom, "devices"), "interface", type="network")
        etree.SubElement(nic, "source", network=network)
    return etree.tostring(dom).decode()


def test_a_transient_domain_made_outside_jvp_is_listed_as_transient(api):
    assert "outsider" not in rows(api)
    raw(api).createXML(domain_xml("outsider"), 0)  # started, never defined: transient
    got = eventually(lambda: rows(api).get("outsider", {}).get("persistent"), False)
    assert got is False
    assert rows(api)["web1"]["persistent"] is True
    assert described(api, "outsider")["persistent"] is False and described(api, "web1")["persistent"] is True
    uuid = raw(api).lookupByName("outsider").UUIDString()
    raw(api).defineXML(domain_xml("outsider", uuid=uuid))  # made persistent by another client: a `defined` event
    assert eventually(lambda: described(api, "outsider")["persistent"], True) is True
    assert rows(api)["outsider"]["persistent"] is True


def test_jvps_own_network_change_shows_in_the_next_listing(api):
    raw(api).defineXML(domain_xml("outsider", network="later"))  # a NIC on a network the node lacks
    assert eventually(lambda: codes(rows(api).get("outsider", {})), ["NetworkNotFound"]) == ["NetworkNotFound"]
    api.ok("create-network", {"name": "later", "mode": "isolated", "ipv4_cidr": "198.18.9.1/24"})
    assert codes(rows(api)["outsider"]) == []  # the gateway's write dropped the kept names: no event awaited
