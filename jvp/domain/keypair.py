"""Keypair: the public half of an SSH key, kept by name; the private half is returned once at creation."""
from __future__ import annotations

from marshmallow import fields

from jvp.domain.base import ResponseSchema


class KeypairSchema(ResponseSchema):
    name = fields.String(required=True)
    algorithm = fields.String(required=True, metadata={"description": "ssh-ed25519, ssh-rsa, ecdsa-sha2-..."})
    bits = fields.Integer(allow_none=True)
    fingerprint = fields.String(required=True, metadata={"description": "SHA256:... as `ssh-keygen -l` prints"})
    public_key = fields.String(required=True)
    comment = fields.String(allow_none=True)
    imported = fields.Boolean()
    created_at = fields.String(required=True)


class KeypairResponse(ResponseSchema):
    keypair = fields.Nested(KeypairSchema, required=True)


class NewKeypairResponse(ResponseSchema):
    keypair = fields.Nested(KeypairSchema, required=True)
    private_key = fields.String(required=True, metadata={
        "description": "OpenSSH private key; shown only in this answer, never stored"})


class KeypairListResponse(ResponseSchema):
    keypairs = fields.List(fields.Nested(KeypairSchema), required=True)
    errors = fields.List(fields.Dict(), required=True)
