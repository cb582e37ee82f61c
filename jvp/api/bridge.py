"""Host bridge actions (SPEC 2.6): the local node only, through netlink; other nodes answer
NotSupportedOnRemoteNode (422)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import NodeRef, OkResponse, RequestSchema, Text
from jvp.domain.bridge import BridgeListResponse, BridgeResponse, HostInterfaceListResponse

TAG = "bridge"
_IFNAME = dict(min_length=1, max_length=64)  # the full rule (IFNAMSIZ, charset) is the service's
FORCE = dict(load_default=False, metadata={
    "description": "act on an interface that carries an address or the default route (may cut the host off)"})
REMOTE = ("NodeNotFound", "NotSupportedOnRemoteNode")


class BridgeNodeRequest(RequestSchema):
    node = NodeRef()


class CreateBridgeRequest(RequestSchema):
    node = NodeRef()
    name = Text(required=True, metadata={"description": "bridge name, at most 15 characters"}, **_IFNAME)
    interfaces = fields.List(Text(**_IFNAME), load_default=list, validate=validate.Length(max=32))
    stp = fields.Boolean(load_default=False, metadata={
        "description": "spanning tree (off by default: with STP on, ports wait ~30 s before forwarding)"})
    force = fields.Boolean(**FORCE)


class DeleteBridgeRequest(RequestSchema):
    node = NodeRef()
    name = Text(required=True, **_IFNAME)
    force = fields.Boolean(**FORCE)


@registry.action("list-bridges", request=BridgeNodeRequest, response=BridgeListResponse, role=Role.VIEWER, tag=TAG,
                 errors=REMOTE)
def list_bridges(ctx, req):
    """Host bridges with their interfaces, addresses, owning libvirt network and VMs."""
    return {"bridges": ctx.services.bridges.list(req["node"])}


@registry.action("list-available-interfaces", request=BridgeNodeRequest, response=HostInterfaceListResponse,
                 role=Role.VIEWER, tag=TAG, errors=REMOTE)
def list_available_interfaces(ctx, req):
    """Interfaces that can join a bridge; those carrying an address or the default route are marked protected."""
    return {"node": req["node"], "interfaces": ctx.services.bridges.available_interfaces(req["node"])}


@registry.action("create-bridge", request=CreateBridgeRequest, response=BridgeResponse, role=Role.ADMIN, tag=TAG,
                 errors=REMOTE + ("InvalidBridgeName", "InvalidInterface", "BridgeExists", "BridgeInUse",
                                  "InterfaceNotFound", "InterfaceInUse", "InterfaceProtected", "PermissionDenied"))
def create_bridge(ctx, req):
    """Create a host bridge and enslave interfaces to it (netlink); undone entirely on failure."""
    return {"bridge": ctx.services.bridges.create(req["node"], req["name"], req["interfaces"], stp=req["stp"],
                                                  force=req["force"])}


@registry.action("delete-bridge", request=DeleteBridgeRequest, response=OkResponse, role=Role.ADMIN, tag=TAG,
                 errors=REMOTE + ("InvalidBridgeName", "BridgeNotFound", "BridgeInUse", "InterfaceProtected",
                                  "PermissionDenied"))
def delete_bridge(ctx, req):
    """Release a bridge's interfaces and delete it; refused while a libvirt network or a VM uses it."""
    ctx.services.bridges.delete(req["node"], req["name"], force=req["force"])
    return {"ok": True}
