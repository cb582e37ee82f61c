"""Node actions (SPEC 2.1)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import Labels, Name, NameRequest, OkResponse, RequestSchema, Text
from jvp.domain.node import (STATES, NodeDisksResponse, NodeGpuResponse, NodeListResponse, NodeNetResponse,
                             NodePciResponse, NodeResponse, NodeSummaryResponse, NodeUsbResponse,
                             NodeVmsResponse)

TAG = "node"


class ListNodesRequest(RequestSchema):
    state = fields.String(validate=validate.OneOf(STATES))


class CreateNodeRequest(RequestSchema):
    name = Name()
    uri = Text(required=True, min_length=1, max_length=1024, metadata={
        "description": "libvirt URI, e.g. qemu+ssh://root@host/system or qemu+tcp://host/system"})
    description = Text(multiline=True, load_default="", max_length=1024)
    labels = Labels(load_default=dict)


class ModifyNodeRequest(RequestSchema):
    name = Name()
    uri = Text(min_length=1, max_length=1024)
    description = Text(multiline=True, max_length=1024)
    labels = Labels()


@registry.action("list-nodes", request=ListNodesRequest, response=NodeListResponse, role=Role.VIEWER, tag=TAG)
def list_nodes(ctx, req):
    """Every node with its state and figures, probed concurrently (a dead node never slows the list)."""
    return ctx.services.nodes.list(state=req.get("state"))


@registry.action("describe-node", request=NameRequest, response=NodeResponse, role=Role.VIEWER, tag=TAG,
                 errors=("NodeNotFound",))
def describe_node(ctx, req):
    """One node: state, URI, labels and figures."""
    return {"node": ctx.services.nodes.describe(req["name"])}


@registry.action("describe-node-summary", request=NameRequest, response=NodeSummaryResponse,
                 role=Role.VIEWER, tag=TAG, errors=("NodeNotFound", "NodeUnreachable"))
def describe_node_summary(ctx, req):
    """CPU, memory, NUMA cells, huge pages and virtualization support, as libvirt reports them."""
    return {"summary": ctx.services.nodes.summary(req["name"])}


def _device_action(kind: str, response, summary: str) -> None:
    @registry.action(f"describe-node-{kind}", request=NameRequest, response=response, role=Role.VIEWER,
                     tag=TAG, summary=summary, errors=("NodeNotFound", "NodeUnreachable"))
    def handler(ctx, req):
        return {"node": req["name"], kind: ctx.services.nodes.devices(req["name"], kind)}


_device_action("pci", NodePciResponse, "PCI devices with driver, IOMMU group and the VM holding each")
_device_action("usb", NodeUsbResponse, "USB devices of the node")
_device_action("net", NodeNetResponse, "Network interfaces of the node")
_device_action("disks", NodeDisksResponse, "Block storage devices of the node")
_device_action("gpu", NodeGpuResponse, "GPUs: PCI devices of class 0x03xxxx")


@registry.action("describe-node-vms", request=NameRequest, response=NodeVmsResponse, role=Role.VIEWER,
                 tag=TAG, errors=("NodeNotFound", "NodeUnreachable"))
def describe_node_vms(ctx, req):
    """The node's VMs with state, vCPUs and memory."""
    return {"node": req["name"], "vms": ctx.services.nodes.vms(req["name"])}


@registry.action("create-node", request=CreateNodeRequest, response=NodeResponse, role=Role.ADMIN, tag=TAG,
                 errors=("NodeExists", "NodeUriInUse", "InvalidUri", "InvalidName", "NodeUnreachable"))
def create_node(ctx, req):
    """Add a libvirt host by URI; JVP connects first and refuses an unreachable URI."""
    return {"node": ctx.services.nodes.create(req["name"], req["uri"], req["description"], req["labels"])}


@registry.action("modify-node", request=ModifyNodeRequest, response=NodeResponse, role=Role.ADMIN, tag=TAG,
                 errors=("NodeNotFound", "InvalidUri", "NodeUriInUse", "NodeUnreachable", "LocalNodeUri"))
def modify_node(ctx, req):
    """Change a node's URI, description or labels."""
    return {"node": ctx.services.nodes.modify(req["name"], req.get("uri"), req.get("description"),
                                              req.get("labels"))}


@registry.action("delete-node", request=NameRequest, response=OkResponse, role=Role.ADMIN, tag=TAG,
                 errors=("NodeNotFound", "NodeIsLocal"))
def delete_node(ctx, req):
    """Forget a node (its VMs are never touched); `local` cannot be deleted."""
    ctx.services.nodes.delete(req["name"])
    return {"ok": True}


@registry.action("enable-node", request=NameRequest, response=NodeResponse, role=Role.ADMIN, tag=TAG,
                 errors=("NodeNotFound",))
def enable_node(ctx, req):
    """Leave maintenance: placement and creation on the node are allowed again."""
    return {"node": ctx.services.nodes.set_maintenance(req["name"], False)}


@registry.action("disable-node", request=NameRequest, response=NodeResponse, role=Role.ADMIN, tag=TAG,
                 errors=("NodeNotFound",))
def disable_node(ctx, req):
    """Enter maintenance: new resources on the node are refused; running VMs stay manageable."""
    return {"node": ctx.services.nodes.set_maintenance(req["name"], True)}
