"""Template operations of the node gateway (see base.py for the rules every operation follows).

A template's image is an ordinary volume of JVP's `<pool>_templates_` pool, so creating, copying, streaming
and deleting it are the storage operations (storage.py); what is the templates' own is the usage scan.
"""
from __future__ import annotations

from jvp.domain.template import NodeUsage
from jvp.hypervisor import template_usage
from jvp.hypervisor.gateway.base import GatewayBase


class TemplateOps(GatewayBase):
    def template_usage(self, node: str) -> NodeUsage:
        """One snapshot of the node for template usage: each domain's template facts and disk paths (with
        their backing chains), each volume of the running pools, and the pools whose volumes are unseen."""
        return self._check(node, template_usage.scan, kind="node", obj=node)
