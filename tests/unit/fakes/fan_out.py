"""The gateway's fan_out for fakes: one node after another, a JvpError becoming the node's error entry (the
real one's parallelism, timeouts and health memory are tested on the real gateway, tests/unit/test_health.py)."""
from __future__ import annotations

from jvp.errors import JvpError
from jvp.hypervisor.gateway.base import NodeResult


class SequentialFanOut:
    def fan_out(self, nodes, fn, timeout_s, *, skip_dead=True, what="answer"):
        results = []
        for n in nodes:
            try:
                results.append(NodeResult(n, value=fn(n)))
            except JvpError as exc:
                results.append(NodeResult(n, error={"node": n, "code": exc.code, "message": exc.message}))
        return results
