"""API tokens: random bearer tokens stored only as SHA-256 hashes in auth/tokens.yaml.

Tokens carry 256 bits of randomness, so a plain SHA-256 is enough to make a stolen tokens.yaml useless
(no password-style stretching needed). Lookups compare digests in constant time. A digest that verified is
kept with the token list it was found in (its name, expiry and Principal), so the next request with the same
token skips the scan; tokens.yaml is still checked by one stat per request, and a changed file is a new
list, against which the token is verified again (a revocation, even by the CLI, applies at once). Only the
SHA-256 of tokens that verified is kept, never a token.

Last use: `authenticate` notes when each token was used in auth/token-usage.yaml (kind `token_usage`), but
at most once per `USAGE_INTERVAL_S` (60 s) per token and server process, never a write per request. So
`last_used_at` is exact to about a minute (and to the interval of the busiest worker); a failed write only
logs (the request goes on). The file holds no secret: names and times.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from jvp.domain.principal import Principal, Role
from jvp.errors import Unauthorized, already_exists, not_found
from jvp.store import FILE_MODE, MetadataStore, private_dirs
from jvp.timeutil import rfc3339, now, parse_rfc3339

log = logging.getLogger(__name__)
TOKEN_PREFIX = "jvp_"
USAGE_INTERVAL_S = 60.0


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenService:
    def __init__(self, store: MetadataStore, data_dir: str | Path, *, usage_interval_s: float = USAGE_INTERVAL_S,
                 clock=time.monotonic):
        self.store = store
        self.data_dir = Path(data_dir)
        self.usage_interval_s = usage_interval_s
        self._clock = clock
        self._noted: dict[str, float] = {}  # token name -> clock of this process's last usage write
        self._noted_lock = threading.Lock()
        self._cache: tuple[Any, list[dict[str, Any]]] | None = None
        self._cache_lock = threading.Lock()
        self._path: Path | None = None
        # a verified token's hash -> (the token list it was found in, name, expiry, Principal): a request with
        # a known token skips the scan, the expiry's parse and the Principal (the list is checked by one stat)
        self._verified: dict[str, tuple[list[dict[str, Any]], str, tuple[str, Any] | None, Principal]] = {}

    def _tokens(self) -> list[dict[str, Any]]:
        """The token records, re-read only when tokens.yaml changed (revocations by the CLI show at once)."""
        path = self._path
        if path is None:
            path = self._path = self.store.path("tokens")  # checked by the store once, not per request
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return []
        with self._cache_lock:
            if self._cache and self._cache[0] == stamp:
                return self._cache[1]
        doc = self.store.get("tokens") or {"tokens": []}
        with self._cache_lock:
            self._cache = (stamp, doc["tokens"])
        return doc["tokens"]

    def info(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.list() if t["name"] == name), None)

    def list(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in t.items() if k != "sha256"} for t in self._tokens()]

    def list_with_usage(self) -> list[dict[str, Any]]:
        """The tokens (never their hashes) with `last_used_at` (None: not used since it was created)."""
        used = (self.store.get("token_usage") or {}).get("last_used", {})
        return [{**t, "last_used_at": used.get(t["name"]) if used.get(t["name"], "") >= t["created_at"] else None}
                for t in self.list()]

    def _note_use(self, name: str) -> None:
        """Record the use of a token, at most once per usage_interval_s per token in this process."""
        stamp = self._clock()
        last = self._noted.get(name)
        if last is not None and stamp - last < self.usage_interval_s:
            return  # the usual case, without the lock (the check below is repeated under it)
        with self._noted_lock:
            last = self._noted.get(name)
            if last is not None and stamp - last < self.usage_interval_s:
                return
            self._noted[name] = stamp
        when = rfc3339()
        try:
            self.store.update("token_usage", fn=lambda doc: {
                "last_used": {**(doc or {}).get("last_used", {}), name: when}})
        except Exception:  # noqa: BLE001 - a failed usage note must not refuse the request
            log.exception("could not record the use of token %s", name)

    def _forget_use(self, name: str) -> None:
        with self._noted_lock:
            self._noted.pop(name, None)

        def drop(doc: dict | None) -> dict | None:
            if not doc or name not in doc.get("last_used", {}):
                return doc
            return {"last_used": {k: v for k, v in doc["last_used"].items() if k != name}}
        try:
            self.store.update("token_usage", fn=drop)
        except Exception:  # noqa: BLE001 - the token is revoked; a stale usage time is only cosmetic
            log.exception("could not drop the usage record of token %s", name)

    @staticmethod
    def _new(name: str, role: str, ttl_days: int | None) -> tuple[str, dict[str, Any]]:
        Role.parse(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return token, {"name": name, "role": role, "sha256": token_digest(token), "created_at": rfc3339(),
                       "expires_at": rfc3339(now() + timedelta(days=ttl_days)) if ttl_days else None}

    def create(self, name: str, role: str, ttl_days: int | None = None) -> tuple[str, dict[str, Any]]:
        """A new token; the plain value is returned here once and never stored."""
        token, record = self._new(name, role, ttl_days)

        def add(doc: dict | None) -> dict:
            doc = doc or {"tokens": []}
            if any(t["name"] == name for t in doc["tokens"]):
                raise already_exists("token", name, code="TokenExists")
            return {**doc, "tokens": [*doc["tokens"], record]}

        self.store.update("tokens", fn=add)
        return token, {k: v for k, v in record.items() if k != "sha256"}

    def revoke(self, name: str) -> None:
        def remove(doc: dict | None) -> dict:
            tokens = (doc or {"tokens": []})["tokens"]
            if not any(t["name"] == name for t in tokens):
                raise not_found("token", name, code="TokenNotFound")
            return {**doc, "tokens": [t for t in tokens if t["name"] != name]}

        self.store.update("tokens", fn=remove)
        self._forget_use(name)

    def authenticate(self, header: str | None) -> Principal:
        if not header:
            raise Unauthorized("missing credentials: send 'Authorization: Bearer <token>' "
                               "(create one with `jvp token create`)", code="Unauthorized")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'", code="Unauthorized")
        digest = token_digest(value.strip())
        tokens = self._tokens()  # one stat: a revocation or a new token shows at once
        known = self._verified.get(digest)
        if known is not None and known[0] is tokens:
            _, name, expires, principal = known
        else:
            match = None
            for t in tokens:
                if hmac.compare_digest(t["sha256"], digest):
                    match = t
            if match is None:
                raise Unauthorized("invalid or revoked token", code="InvalidToken")
            name = match["name"]
            expires = (match["expires_at"], parse_rfc3339(match["expires_at"])) if match.get("expires_at") else None
            principal = Principal(name=name, role=Role.parse(match["role"]))
            if len(self._verified) >= 1024:  # bounded: only tokens that verified are kept
                self._verified.clear()
            # kept for this very token list: when tokens.yaml changes, _tokens() answers a new list and this
            # entry no longer applies (checked again against the new list)
            self._verified[digest] = (tokens, name, expires, principal)
        self._check_expiry(name, expires)
        self._note_use(name)
        return principal

    @staticmethod
    def _check_expiry(name: str, expires: tuple[str, Any] | None) -> None:
        if expires is not None and expires[1] < now():
            raise Unauthorized(f"token '{name}' expired at {expires[0]}", code="TokenExpired")

    def ensure_initial_admin(self) -> Path | None:
        """On first start with no token at all, create an admin token and write it to a 0600 file.
        Returns the file's path when a token was created, else None (checked and written under the lock,
        so several starting processes create one token between them)."""
        token, record = self._new("admin", "admin", None)
        created = []

        def add_if_none(doc: dict | None) -> dict | None:
            if doc and doc["tokens"]:
                return doc  # saved again in the current version (v1's token prefixes are dropped)
            created.append(True)
            return {"tokens": [record]}

        self.store.update("tokens", fn=add_if_none)
        if not created:
            return None
        path = self.data_dir / "auth" / "admin-token"
        private_dirs(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        os.chmod(path, FILE_MODE)
        log.warning("no API token existed: created admin token 'admin', written to %s (mode 0600)", path)
        return path
