"""The event hub's own rules (jvp/service/events/): filters, role rules, the bounded queue, the stream limit,
libvirt's event names, and the task follower's reading of task files (one more process's writes)."""
from __future__ import annotations

import pytest

from jvp.domain.principal import Principal, Role
from jvp.errors import JvpError
from jvp.hypervisor.events import DomainEvent
from jvp.hypervisor.gateway.vm import vm_event
from jvp.service.events import hub as hub_mod
from jvp.service.events.hub import EventHub, Stream, StreamClosed
from jvp.service.events.sources import TaskFollower
from jvp.service.task.service import TaskService
from jvp.store import YamlMetadataStore
from jvp.settings import default_schema_dir


class Nodes:
    def names(self):
        return ["local", "n2"]

    def record(self, name):
        if name not in self.names():
            raise JvpError(f"node '{name}' not found", code="NodeNotFound", status=404)


class Health:
    def dead_nodes(self):
        return []


class Gateway:
    health = Health()

    def __init__(self):
        self.followed = []

    def fan_out(self, nodes, fn, timeout_s, **_kw):
        return [fn(n) for n in nodes]

    def follow_vm_events(self, node, key, fn):
        self.followed.append(node)
        return True


@pytest.fixture
def hub(tmp_path):
    from jvp.service.audit import AuditLog
    store = YamlMetadataStore(tmp_path, default_schema_dir())
    h = EventHub(Nodes(), Gateway(), store, AuditLog(tmp_path, store.schemas), max_streams=2, poll_interval_s=60)
    yield h
    h.close()


def who(role: str) -> Principal:
    return Principal(name=f"t-{role}", role=Role.parse(role))


def test_kinds_default_to_what_the_role_may_read_and_audit_needs_admin(hub):
    assert hub.check(who("viewer"), [], None) == (frozenset({"vm", "task", "node"}), None)
    assert hub.check(who("admin"), [], None)[0] == frozenset({"vm", "task", "node", "audit"})
    with pytest.raises(JvpError) as exc:
        hub.check(who("operator"), ["vm", "audit"], None)
    assert exc.value.code == "Forbidden" and exc.value.details["required_role"] == "admin"
    with pytest.raises(JvpError) as exc:
        hub.check(who("admin"), ["vms"], None)
    assert exc.value.code == "ValidationFailed"
    with pytest.raises(JvpError) as exc:
        hub.check(who("admin"), [], ["nope"])
    assert exc.value.code == "NodeNotFound"


def test_messages_reach_only_the_streams_whose_filter_wants_them(hub):
    every = hub.open(who("admin"), *hub.check(who("admin"), [], None))
    n2_vms = hub.open(who("viewer"), *hub.check(who("viewer"), ["vm"], ["n2"]))
    hub.publish({"type": "vm", "node": "local", "name": "a", "event": "started"})
    hub.publish({"type": "vm", "node": "n2", "name": "b", "event": "stopped"})
    hub.publish({"type": "audit", "action": "start-vm"})
    assert [every.next(0).get("name") for _ in range(2)] == ["a", "b"] and every.next(0)["type"] == "audit"
    got = n2_vms.next(0)
    assert got["name"] == "b" and got["time"] and n2_vms.next(0) is None


def test_a_client_that_reads_nothing_is_closed_instead_of_growing_memory(hub, monkeypatch):
    stream = Stream(who("viewer"), frozenset({"vm"}), None)
    for i in range(hub_mod.QUEUE_SIZE + 5):
        stream.put({"type": "vm", "i": i})
    with pytest.raises(StreamClosed) as end:
        while True:
            stream.next(0)
    assert end.value.code == 4429 and end.value.reason.startswith("EventQueueOverflow")


def test_the_stream_limit_is_a_503(hub):
    with hub.slot(), hub.slot():
        with pytest.raises(JvpError) as exc:
            with hub.slot():
                pass
    assert exc.value.code == "EventStreamLimitReached" and exc.value.status == 503
    with hub.slot():
        pass  # released again


def test_the_first_round_follows_every_node_and_node_changes_are_reported(hub):
    s = hub.open(who("viewer"), *hub.check(who("viewer"), ["node"], None))
    hub.round()
    assert hub.gateway.followed == ["local", "n2"]
    hub.nodes.names = lambda: ["local", "n3"]
    hub._next_node_round = 0
    hub.round()
    assert [(m["node"], m["event"]) for m in (s.next(0), s.next(0))] == [("n3", "added"), ("n2", "removed")]


@pytest.mark.parametrize("change, detail, event, reason", [
    ("started", "booted", "started", "booted"),
    ("started", "migrated", "migrated", "incoming"),
    ("stopped", "migrated", "migrated", "outgoing"),
    ("stopped", "crashed", "crashed", "crashed"),
    ("crashed", "panicked", "crashed", "panicked"),
    ("stopped", "shutdown", "stopped", "shutdown"),
])
def test_libvirt_lifecycle_events_get_the_streams_names(change, detail, event, reason):
    ev = vm_event("local", DomainEvent("u-1", "web", "lifecycle", change, detail))
    assert (ev.node, ev.name, ev.event, ev.reason) == ("local", "web", event, reason)
    dev = vm_event("local", DomainEvent("u-1", "web", "device-added", "net1"))
    assert (dev.event, dev.device) == ("device-added", "net1")


def test_the_task_follower_reports_changes_after_its_baseline_and_every_final_state(tmp_path):
    store = YamlMetadataStore(tmp_path, default_schema_dir())
    writer = TaskService(YamlMetadataStore(tmp_path, default_schema_dir()), tmp_path)
    try:
        old = writer.submit("create-vm", {"kind": "vm", "node": "local", "name": "a"}, lambda h: {})
        writer.wait(old["id"])
        follower = TaskFollower(store)
        follower.baseline()
        assert follower.poll() == []  # what was there before is not news
        new = writer.submit("delete-vm", {"kind": "vm", "node": "local", "name": "b"}, lambda h: {})
        writer.wait(new["id"])
        got = follower.poll()
        assert [(m["id"], m["state"], m["action"]) for m in got] == [(new["id"], "succeeded", "delete-vm")]
        assert follower.poll() == []  # reported once
    finally:
        writer.close()
