"""Console operations of the node gateway (see base.py for the rules every operation follows)."""
from __future__ import annotations

from jvp.hypervisor.gateway.base import GatewayBase


class ConsoleOps(GatewayBase):
    pass
