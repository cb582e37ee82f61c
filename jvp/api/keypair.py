"""Keypair actions (SPEC 2.8)."""
from __future__ import annotations

from marshmallow import fields, validate

from jvp.api.actions import Role, registry
from jvp.api.schemas import Name, NameRequest, OkResponse, RequestSchema, EmptyRequest, Text
from jvp.domain.keypair import KeypairListResponse, KeypairResponse, NewKeypairResponse

TAG = "keypair"


class CreateKeypairRequest(RequestSchema):
    name = Name()
    algorithm = fields.String(load_default="ed25519", validate=validate.OneOf(["ed25519", "rsa"]))
    bits = fields.Integer(strict=True, load_default=3072, validate=validate.OneOf([2048, 3072, 4096]),
                          metadata={"description": "RSA only"})


class ImportKeypairRequest(RequestSchema):
    name = Name()
    public_key = Text(multiline=True, required=True, min_length=16, max_length=16384)


@registry.action("create-keypair", request=CreateKeypairRequest, response=NewKeypairResponse,
                 role=Role.OPERATOR, tag=TAG, errors=("KeypairExists",))
def create_keypair(ctx, req):
    """Generate a keypair; the private key is in this answer only (OpenSSH format) and never stored."""
    keypair, private = ctx.services.keypairs.create(req["name"], req["algorithm"], req["bits"])
    return {"keypair": keypair, "private_key": private}


@registry.action("import-keypair", request=ImportKeypairRequest, response=KeypairResponse, role=Role.OPERATOR,
                 tag=TAG, errors=("KeypairExists", "InvalidPublicKey", "DuplicateKey"))
def import_keypair(ctx, req):
    """Store an existing OpenSSH public key under a name."""
    return {"keypair": ctx.services.keypairs.import_key(req["name"], req["public_key"])}


@registry.action("list-keypairs", request=EmptyRequest, response=KeypairListResponse, role=Role.VIEWER, tag=TAG)
def list_keypairs(ctx, req):
    """Every stored keypair (public halves)."""
    return ctx.services.keypairs.list()


@registry.action("describe-keypair", request=NameRequest, response=KeypairResponse, role=Role.VIEWER, tag=TAG,
                 errors=("KeypairNotFound",))
def describe_keypair(ctx, req):
    """One keypair with its fingerprint."""
    return {"keypair": ctx.services.keypairs.get(req["name"])}


@registry.action("delete-keypair", request=NameRequest, response=OkResponse, role=Role.OPERATOR, tag=TAG,
                 errors=("KeypairNotFound",))
def delete_keypair(ctx, req):
    """Forget a keypair (VMs that received its key keep it)."""
    ctx.services.keypairs.delete(req["name"])
    return {"ok": True}
