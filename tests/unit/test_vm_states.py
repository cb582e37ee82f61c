"""Issue 13's pure parts: the one state mapping (states, reasons, counts), the figures of a VM row, problems of
a row (a NIC on a missing network, an unreadable definition), and the two kinds of names."""
from __future__ import annotations

import libvirt
import pytest

from jvp.api.schemas import REF_MAX, valid_name, valid_ref
from jvp.domain.vm import STATES
from jvp.hypervisor import domain_state, domain_summary
from jvp.hypervisor.domain_cache import DomainFactsCache
from jvp.hypervisor.xml import parse


@pytest.mark.parametrize("state,reason,shown", [
    (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED, ("running", "booted")),
    (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_WAKEUP, ("running", "wakeup")),
    (libvirt.VIR_DOMAIN_BLOCKED, 0, ("running", "blocked")),
    (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR, ("paused", "ioerror")),
    (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER, ("paused", "user")),
    (libvirt.VIR_DOMAIN_SHUTDOWN, libvirt.VIR_DOMAIN_SHUTDOWN_USER, ("shutting-down", "user")),
    (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED, ("stopped", "destroyed")),
    (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, ("stopped", "crashed")),
    (libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED, ("crashed", "panicked")),
    (libvirt.VIR_DOMAIN_PMSUSPENDED, 0, ("pmsuspended", "unknown")),
    (libvirt.VIR_DOMAIN_NOSTATE, 0, ("unknown", None)),
    (99, 0, ("unknown", None)),                                       # a state a newer libvirt adds
    (libvirt.VIR_DOMAIN_PAUSED, 99, ("paused", "unknown")),           # a reason a newer libvirt adds
    (libvirt.VIR_DOMAIN_RUNNING, None, ("running", None)),
])
def test_libvirt_states_and_reasons(state, reason, shown):
    assert domain_state.of(state, reason) == shown
    assert shown[0] in STATES


def test_the_reason_tables_follow_libvirts_numbers():
    """The tables are libvirt's enums by number: spot-check the last of each against the binding's constants."""
    assert domain_state.reason_name(libvirt.VIR_DOMAIN_PAUSED,
                                    libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED) == "postcopy-failed"
    assert domain_state.reason_name(libvirt.VIR_DOMAIN_PAUSED, 14) == "api-error"  # newer than this binding
    assert domain_state.reason_name(libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DAEMON) == "daemon"
    assert domain_state.reason_name(libvirt.VIR_DOMAIN_RUNNING,
                                    libvirt.VIR_DOMAIN_RUNNING_POSTCOPY_FAILED) == "postcopy-failed"


class _Conn:
    def __init__(self, states, bulk=True):
        self.states, self.bulk = states, bulk

    def getAllDomainStats(self, flags, _):
        if not self.bulk:
            raise libvirt.libvirtError("no bulk stats")
        return [(None, {"state.state": s}) for s in self.states]


def test_counts_use_the_listing_mapping():
    conn = _Conn([libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED,
                  libvirt.VIR_DOMAIN_PMSUSPENDED, libvirt.VIR_DOMAIN_SHUTOFF])
    assert domain_state.counts(conn) == (2, 5)


class _OldDriver:
    """A driver without bulk domain stats: each domain's state asked on its own; one is undefined meanwhile."""

    def __init__(self, states, refuse=libvirt.VIR_ERR_NO_SUPPORT):
        self.states, self.refuse = states, refuse

    def getAllDomainStats(self, flags, _):  # noqa: N802
        raise _libvirt_error(self.refuse)

    def listAllDomains(self, flags=0):  # noqa: N802
        return [_StateOnly(s) for s in self.states]


class _StateOnly:
    def __init__(self, state):
        self.st = state

    def state(self):
        if self.st is None:
            raise _libvirt_error(libvirt.VIR_ERR_NO_DOMAIN)
        return [self.st, 1]


def test_without_bulk_stats_each_domain_is_asked_its_state_and_a_vanished_one_is_left_out():
    conn = _OldDriver([libvirt.VIR_DOMAIN_RUNNING, None, libvirt.VIR_DOMAIN_SHUTOFF])
    stats = domain_state.bulk_stats(conn, libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU)
    assert [st for _dom, st in stats] == [{"state.state": libvirt.VIR_DOMAIN_RUNNING, "state.reason": 1},
                                          {"state.state": libvirt.VIR_DOMAIN_SHUTOFF, "state.reason": 1}]
    assert domain_state.counts(conn) == (1, 2)


def test_a_bulk_stats_failure_that_is_not_a_missing_feature_is_raised():
    with pytest.raises(libvirt.libvirtError):
        domain_state.bulk_stats(_OldDriver([libvirt.VIR_DOMAIN_RUNNING], refuse=libvirt.VIR_ERR_INTERNAL_ERROR),
                                libvirt.VIR_DOMAIN_STATS_STATE)


DOMAIN = """<domain type='kvm'><name>a</name><uuid>u-1</uuid>
  <memory unit='KiB'>4194304</memory><currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu current='2'>8</vcpu>
  <devices>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='gone'/></interface>
    <interface type='network'><mac address='52:54:00:00:00:02'/><source network='here'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:03'/><source bridge='br0'/></interface>
  </devices></domain>"""


def test_figures_current_and_maximum():
    facts = domain_summary.static_facts(parse(DOMAIN))
    # from the definition when libvirt gives no live figures (a stopped VM, a driver without bulk stats)
    assert domain_summary.figures(facts, {}) == {"vcpus": 2, "max_vcpus": 8, "memory_mib": 1024,
                                                 "max_memory_mib": 4096}
    live = {"vcpu.current": 3, "vcpu.maximum": 8, "balloon.current": 2 * 1024 * 1024,
            "balloon.maximum": 4 * 1024 * 1024}
    assert domain_summary.figures(facts, live) == {"vcpus": 3, "max_vcpus": 8, "memory_mib": 2048,
                                                   "max_memory_mib": 4096}


def test_a_nic_on_a_missing_network_is_a_problem_of_the_row():
    facts = domain_summary.static_facts(parse(DOMAIN))
    (problem,) = domain_summary.network_problems(facts, {"here", "default"})
    assert problem["code"] == "NetworkNotFound" and "'gone'" in problem["message"]
    assert "52:54:00:00:00:01" in problem["message"]
    row = domain_summary.summary(facts, node="n", state="running", ips={}, problems=[problem])
    assert row["problems"] == [problem] and row["name"] == "a" and row["state_reason"] is None
    assert domain_summary.network_problems(facts, {"here", "gone"}) == []


class _Dom:
    def __init__(self, uuid, xml=None, error=None):
        self.uuid, self.xml, self.error = uuid, xml, error

    def UUIDString(self):  # noqa: N802 - libvirt's name
        return self.uuid

    def name(self):
        return f"dom-{self.uuid}"

    def XMLDesc(self, _flags):  # noqa: N802
        if self.error is not None:
            raise self.error
        return self.xml


class _NoEvents(DomainFactsCache):
    def _watch(self, conn, cc):
        return False


def _libvirt_error(code: int) -> libvirt.libvirtError:
    exc = libvirt.libvirtError("boom")
    exc.err = (code, 0, "the driver failed", 0, "", None, None, 0, 0)
    return exc


def test_a_domain_whose_xml_cannot_be_read_is_listed_with_a_problem():
    good = _Dom("1", DOMAIN)
    broken = _Dom("2", error=_libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR))
    garbage = _Dom("3", "<domain><name>x</name")
    gone = _Dom("4", error=_libvirt_error(libvirt.VIR_ERR_NO_DOMAIN))
    facts = _NoEvents().facts(_Conn([]), [good, broken, garbage, gone])
    assert facts[0]["name"] == "a" and "problems" not in facts[0]
    assert facts[3] is None  # undefined meanwhile: not listed
    for f, uuid in ((facts[1], "2"), (facts[2], "3")):
        assert f["name"] == f"dom-{uuid}" and f["uuid"] == uuid and f["vcpus"] is None
        assert [p["code"] for p in f["problems"]] == ["VmDefinitionUnreadable"]
    row = domain_summary.summary(facts[1], node="n", state="running", ips={}, problems=facts[1]["problems"])
    assert row["memory_mib"] is None and row["problems"][0]["message"].startswith("its XML could not be read")


@pytest.mark.parametrize("name,ok", [
    ("web1", True), ("a" * 63, True), ("web1\n", False), ("a" * 64, False), ("-x", False), ("a..b", False),
    ("a/b", False), ("foo bar", False), ("", False)])
def test_creation_names(name, ok):
    assert valid_name(name) is ok


@pytest.mark.parametrize("name,ok", [
    ("foo bar", True), ("ünïcode", True), ("internal-root-child1&", True), ("a\tb", True), ("../x", True),
    ("x" * REF_MAX, True), ("x" * (REF_MAX + 1), False), ("", False), ("a\x00", False), ("a\n", False),
    ("a\r", False), ("a\x1b[0m", False), ("a\x85", False), ("a\ud800", False), ("\ufffe", False)])
def test_references(name, ok):
    assert valid_ref(name) is ok


class _DescribeConn:
    """What domain_describe.describe asks a connection, for a domain whose XML libvirt will not give."""

    def __init__(self, dom):
        self.dom = dom

    def lookupByName(self, name):  # noqa: N802
        return self.dom

    def domainListGetStats(self, doms, flags, _):  # noqa: N802
        raise _libvirt_error(libvirt.VIR_ERR_NO_SUPPORT)

    def listAllDomains(self, flags=0):  # noqa: N802 - the transient domains (persistence: listing_memo)
        assert flags == libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT
        return []


class _StatefulDom(_Dom):
    def state(self):
        return [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR]

    def autostart(self):
        return 0


def test_describe_of_a_domain_whose_xml_cannot_be_read_answers_with_a_problem():
    from jvp.hypervisor import domain_describe
    dom = _StatefulDom("9", error=_libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR))
    view = domain_describe.describe(_DescribeConn(dom), "n", "dom-9")
    assert (view.name, view.uuid, view.state, view.state_reason) == ("dom-9", "9", "paused", "ioerror")
    assert view.persistent is True and view.disks == [] and view.memory_mib is None
    assert [p.code for p in view.problems] == ["VmDefinitionUnreadable"]
    assert "the driver failed" in view.problems[0].message
