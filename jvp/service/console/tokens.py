"""One-time console tokens, shared by every gunicorn worker through the metadata store.

A token is 256 random bits (`jvpc_` + urlsafe base64). Only its SHA-256 is stored, as the file name
`consoles/<sha256>.yaml` (kind `console_token`, 0600) holding the grant: node, VM, console type, the role
and name of the API token that asked, and the expiry. Redeeming deletes the file: the delete, done under the
file's lock, succeeds for exactly one caller, in whichever worker process, so a token opens at most one
console even when two requests race with it. The document is written once and never changed, so reading
it before the delete needs no lock. Expired files are swept whenever a token is issued.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Callable

from jvp.domain.console import ConsoleGrant
from jvp.errors import Unauthorized
from jvp.service.auth import token_digest
from jvp.store import MetadataStore
from jvp.timeutil import now, parse_rfc3339, rfc3339

log = logging.getLogger(__name__)
KIND = "console_token"
TOKEN_PREFIX = "jvpc_"
MAX_TOKEN_LEN = 128


class ConsoleTokens:
    def __init__(self, store: MetadataStore, ttl_s: int, clock: Callable[[], datetime] = now):
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock

    def issue(self, node: str, vm: str, type_: str, role: str, token_name: str | None) -> tuple[str, ConsoleGrant]:
        self.sweep()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        # rfc3339 keeps whole seconds: rounding down makes the lifetime at most ttl_s, never more
        grant = ConsoleGrant(node=node, vm=vm, type=type_, role=role, token_name=token_name,
                             expires_at=rfc3339(self.clock() + timedelta(seconds=self.ttl_s)))
        if not self.store.create(KIND, token_digest(token), doc=grant.to_doc()):
            raise RuntimeError("console token collision")  # 256 random bits: not expected in this universe
        return token, grant

    def redeem(self, token: str | None) -> ConsoleGrant:
        """The grant of a valid token, which is used up by this call. Unauthorized when the token is missing,
        malformed, unknown, already used (by anyone, in any worker) or expired."""
        if not token:
            raise Unauthorized("a console websocket needs ?token=...: ask get-vm-console for one",
                               code="ConsoleTokenMissing")
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LEN:
            raise Unauthorized("this is not a console token (they start with 'jvpc_'): ask get-vm-console for one",
                               code="InvalidConsoleToken")
        digest = token_digest(token)
        doc = self.store.get(KIND, digest)
        if doc is None or not self.store.delete(KIND, digest):
            raise Unauthorized("unknown or already used console token: each token opens one console once; "
                               "ask get-vm-console for a new one", code="InvalidConsoleToken")
        grant = ConsoleGrant.from_doc(doc)
        if parse_rfc3339(grant.expires_at) <= self.clock():
            raise Unauthorized(f"the console token expired at {grant.expires_at} (tokens live {self.ttl_s}s): "
                               "ask get-vm-console for a new one and connect at once",
                               code="ConsoleTokenExpired", details={"expires_at": grant.expires_at})
        return grant

    def sweep(self) -> int:
        """Remove expired tokens that nobody redeemed; a corrupt file is logged and left for the admin."""
        removed = 0
        listing = self.store.list(KIND)
        for err in listing.errors:
            log.warning("console token file %s is unreadable: %s", err["path"], err["message"])
        stamp = self.clock()
        for key, doc in listing.items:
            try:
                expired = parse_rfc3339(doc["expires_at"]) <= stamp
            except (KeyError, ValueError):
                expired = True
            if expired and self.store.delete(KIND, *key):
                removed += 1
        return removed
