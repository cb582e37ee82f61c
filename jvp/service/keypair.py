"""SSH keypairs: generated (ed25519 or RSA) or imported; only public keys are stored (keypairs/<name>.yaml)."""
from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from jvp.errors import Conflict, InvalidInput, already_exists, not_found
from jvp.store import MetadataStore
from jvp.timeutil import rfc3339

RSA_BITS = (2048, 3072, 4096)
ED25519_BITS = 256  # what `ssh-keygen -l` prints for an ed25519 key


def fingerprint(public_key: str) -> str:
    """`SHA256:<base64 without padding>` of the key blob, exactly as `ssh-keygen -l` prints it."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(text: str) -> dict[str, Any]:
    """Validate an OpenSSH public key line; returns algorithm, bits, normalized key and comment."""
    line = " ".join(text.strip().split())
    if "\n" in text.strip() or not line:
        raise InvalidInput("public_key must be one OpenSSH public key line (ssh-ed25519 AAAA... comment)",
                           code="InvalidPublicKey", details={"field_errors": {"public_key": ["One line."]}})
    parts = line.split(" ", 2)
    try:
        key = serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
    except (ValueError, IndexError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(f"public_key is not a valid OpenSSH public key: {exc}", code="InvalidPublicKey",
                           details={"field_errors": {"public_key": ["Not an OpenSSH public key."]}}) from exc
    bits = None
    if isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if bits < 2048:
            raise InvalidInput(f"RSA keys shorter than 2048 bits are refused (this one has {bits})",
                               code="InvalidPublicKey", details={"field_errors": {"public_key": ["Too short."]}})
    elif isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        bits = ED25519_BITS
    elif isinstance(key, dsa.DSAPublicKey):
        bits = key.key_size
    normalized = " ".join(parts[:2])
    return {"algorithm": parts[0], "bits": bits, "public_key": normalized,
            "comment": parts[2] if len(parts) > 2 else None, "fingerprint": fingerprint(normalized)}


class KeypairService:
    def __init__(self, store: MetadataStore):
        self.store = store

    @staticmethod
    def _view(doc: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in doc.items() if k != "schema_version"}
        if view.get("bits") is None and view.get("algorithm") == "ssh-ed25519":
            view["bits"] = ED25519_BITS  # a file written before ed25519 keys had their size stored
        return view

    def _save(self, name: str, parsed: dict[str, Any], imported: bool) -> dict[str, Any]:
        for _, doc in self.store.list("keypair").items:
            if doc["fingerprint"] == parsed["fingerprint"]:
                raise Conflict(f"this public key is already stored as keypair '{doc['name']}'",
                               code="DuplicateKey", details={"keypair": doc["name"]})
        comment = parsed["comment"] or name
        doc = {"name": name, **parsed, "comment": comment, "public_key": f"{parsed['public_key']} {comment}",
               "imported": imported, "created_at": rfc3339()}
        if not self.store.create("keypair", name, doc=doc):
            raise already_exists("keypair", name, code="KeypairExists")
        return self._view(self.store.get("keypair", name))

    def create(self, name: str, algorithm: str = "ed25519", bits: int = 3072) -> tuple[dict[str, Any], str]:
        if self.store.get("keypair", name) is not None:
            raise already_exists("keypair", name, code="KeypairExists")
        if algorithm == "ed25519":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            if bits not in RSA_BITS:
                raise InvalidInput(f"RSA keys are {', '.join(map(str, RSA_BITS))} bits", code="InvalidInput",
                                   details={"field_errors": {"bits": ["Unsupported size."]}})
            private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()).decode()
        public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH).decode()
        keypair = self._save(name, parse_public_key(f"{public} {name}"), imported=False)
        return keypair, pem

    def import_key(self, name: str, public_key: str) -> dict[str, Any]:
        if self.store.get("keypair", name) is not None:
            raise already_exists("keypair", name, code="KeypairExists")
        return self._save(name, parse_public_key(public_key), imported=True)

    def get(self, name: str) -> dict[str, Any]:
        doc = self.store.get("keypair", name)
        if doc is None:
            raise not_found("keypair", name, code="KeypairNotFound")
        return self._view(doc)

    def list(self) -> dict[str, Any]:
        listing = self.store.list("keypair")
        return {"keypairs": [self._view(d) for _, d in listing.items], "errors": listing.errors}

    def delete(self, name: str) -> None:
        if not self.store.delete("keypair", name):
            raise not_found("keypair", name, code="KeypairNotFound")
