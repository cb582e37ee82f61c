"""What the server tells a client about itself (describe-server): whether it is the demo, and in the demo
which flows libvirt's test driver cannot carry, each with its one-line reason (the UI disables them with it)."""
from __future__ import annotations

from marshmallow import fields

from jvp.domain.base import ResponseSchema

# feature -> why the demo cannot do it. The server refuses these on a test:/// node anyway (with its own error
# code); this table lets the UI disable the flow up front instead of letting the user walk into the refusal.
DEMO_LIMITS: dict[str, str] = {
    "console": "libvirt's test driver has no console stream: VNC and serial consoles need a real hypervisor node",
    "cloud_init": "the test driver cannot upload the cloud-init seed ISO into a pool (it has no volume upload "
                  "streams): VMs in the demo are created without cloud-init",
    "volume_upload": "the test driver has no volume upload streams",
    "volume_download": "the test driver has no volume download streams",
    "template_register": "the test driver can neither upload an image nor copy a volume between pools: the "
                         "demo's templates were planted at start-up",
    "template_update": "the demo's templates were planted: the demo asks no image source on the network for a "
                       "newer image",
    "migrate": "the test driver's nodes are separate in-process fakes: a VM cannot move between them",
}


class DemoLimitSchema(ResponseSchema):
    feature = fields.String(required=True, metadata={"description": "a flow of the UI: " + ", ".join(DEMO_LIMITS)})
    reason = fields.String(required=True)


class ServerInfoSchema(ResponseSchema):
    demo = fields.Boolean(required=True, metadata={"description": "jvp serve --demo: libvirt's test driver"})
    demo_limits = fields.List(fields.Nested(DemoLimitSchema), required=True, metadata={
        "description": "in the demo, the flows the test driver cannot carry and why (empty otherwise)"})


class ServerInfoResponse(ResponseSchema):
    server = fields.Nested(ServerInfoSchema, required=True)


def server_info(demo: bool) -> dict:
    limits = [{"feature": k, "reason": v} for k, v in DEMO_LIMITS.items()] if demo else []
    return {"server": {"demo": demo, "demo_limits": limits}}
