"""Fakes for the template service: the node gateway's template and storage operations over in-memory pools,
volumes and a usage snapshot the test sets (no libvirt, no patched module paths)."""
from __future__ import annotations

from jvp.domain.template import NodeUsage
from tests.unit.fakes.fan_out import SequentialFanOut
from tests.unit.fakes.storage import FakeNodes, FakeStorageGateway, FakeTasks  # noqa: F401 - re-exported


class FakeTemplateGateway(SequentialFanOut, FakeStorageGateway):
    """FakeStorageGateway plus template_usage: the snapshot of domains and volumes the test gives (`usage`),
    or, when none is given, one computed from the fake's volumes (no domains)."""

    def __init__(self, *args, usage: NodeUsage | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.usage = usage

    def template_usage(self, node: str) -> NodeUsage:
        if self.usage is not None:
            return self.usage
        active = {n for n, p in self.pools.items() if p.active}
        return NodeUsage(volumes=[v for (p, _), v in sorted(self.vols.items()) if p in active],
                         skipped_pools=sorted(set(self.pools) - active))
