# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ingest authentication: per-host tokens, stored only as their sha256, sent as Bearer or basic-auth password.

A token belongs to one host (or to ``*``: any host, for a central Prometheus or Alertmanager).
The seed's metrics-sender works unchanged with ``https://<host>:<token>@backend/``: the basic-auth
user name is ignored, the password is the token. Tokens are random 32-byte strings, so a plain
sha256 (not a slow password hash) is the right store: nothing to brute-force.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import NamedTuple

ANY_HOST = "*"
MAX_TOKEN_CHARS = 512


class Principal(NamedTuple):
    """Who sent a request: the host its token belongs to (``*`` for any)."""

    host: str

    def may_report_for(self, host: str) -> bool:
        return self.host in (ANY_HOST, host)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).digest()


def token_from_authorization(header: str | None) -> str | None:
    """The token in an ``Authorization`` header (``Bearer <t>`` or ``Basic base64(user:<t>)``), else None."""
    if not header:
        return None
    scheme, _space, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    token = None
    if scheme == "bearer":
        token = value
    elif scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        _user, sep, password = decoded.partition(":")
        token = password if sep else None
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token


class TokenCache:
    """Known tokens for ``ttl`` seconds (one database round trip less per request).

    Only accepted tokens are kept (unknown ones would let a guesser fill memory), at most
    ``max_entries``; a deleted token keeps working for at most ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def get(self, digest: bytes, now: float) -> Principal | None:
        hit = self._entries.get(digest)
        if hit is None or hit[1] <= now:
            self._entries.pop(digest, None)
            return None
        return hit[0]

    def put(self, digest: bytes, principal: Principal, now: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (principal, now + self.ttl)


async def lookup_principal(conn, token: str) -> Principal | None:
    cur = await conn.execute("SELECT host FROM ingest_tokens WHERE token_sha256 = %s", (token_hash(token),))
    row = await cur.fetchone()
    return Principal(row[0]) if row else None


async def add_token(conn, host: str, description: str = "") -> str:
    """Create a token for ``host`` (``*`` = any host); returns the token, which is stored only hashed."""
    token = new_token()
    await conn.execute(
        "INSERT INTO ingest_tokens (token_sha256, host, description) VALUES (%s, %s, %s)",
        (token_hash(token), host, description),
    )
    return token
