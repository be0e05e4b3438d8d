# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP plumbing shared by the endpoints: body size limits, decompression, authentication, errors.

Bad input is the client's problem and must never surface as a 5xx: every size, encoding and
shape problem becomes a 4xx whose ``detail`` names the field (``{"detail": "<field>: <problem>"}``).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ansible_collections.quadstats.stack.services.backend.auth import (
    ANY_HOST,
    Principal,
    lookup_principal,
    token_from_authorization,
    token_hash,
)

AUTH_CHALLENGE = 'Bearer realm="quadstats", Basic realm="quadstats"'


def bad_request(field: str, problem: str, status: int = 400) -> HTTPException:
    return HTTPException(status_code=status, detail=f"{field}: {problem}")


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``limit`` bytes with 413, by header and by counting."""

    def __init__(self, app, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_error(send, 413, f"body: larger than {limit} bytes (ingest.max_body_bytes)")
                    return
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_error(send, 413, f"body: larger than {limit} bytes (ingest.max_body_bytes)")


async def _send_error(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def snappy_uncompressed_length(data: bytes) -> int:
    """The length a snappy *block* announces in its varint preamble (checked before decompressing)."""
    result = shift = 0
    for i, byte in enumerate(data[:10]):
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result
        shift += 7
        if i == 9:
            break
    raise bad_request("body", "not snappy block format (bad length preamble)")


def snappy_decode(data: bytes, limit: int) -> bytes:
    import snappy  # noqa: PLC0415 - python3-snappy, only needed by protobuf endpoints

    size = snappy_uncompressed_length(data)
    if size > limit:
        raise bad_request(
            "body", f"decompresses to {size} bytes, more than {limit} (ingest.max_decompressed_bytes)", 413
        )
    try:
        return snappy.uncompress(data)
    except Exception as exc:  # python-snappy raises its own error types, varying by version
        raise bad_request("body", f"not valid snappy block data ({type(exc).__name__})") from None


def gzip_decode(data: bytes, limit: int) -> bytes:
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decomp.decompress(data, limit + 1)
    except zlib.error as exc:
        raise bad_request("body", f"not valid gzip data ({exc})") from None
    if len(out) > limit or decomp.unconsumed_tail:
        raise bad_request("body", f"decompresses to more than {limit} bytes (ingest.max_decompressed_bytes)", 413)
    if not decomp.eof:
        raise bad_request("body", "gzip data is truncated")
    return out


def decode_content(data: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after ``Content-Encoding`` (identity, gzip or snappy) within ``limit`` bytes."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return data
    if enc in ("gzip", "x-gzip"):
        return gzip_decode(data, limit)
    if enc == "snappy":
        return snappy_decode(data, limit)
    raise bad_request("Content-Encoding", f"{enc!r} is not supported (identity, gzip, snappy)", 415)


async def authenticated(request: Request) -> Principal:
    """Authenticate the request by its token (401 with a challenge when missing or unknown)."""
    token = token_from_authorization(request.headers.get("authorization"))
    if token is None:
        detail = "Authorization: send an ingest token as Bearer or basic-auth password"
        raise HTTPException(401, detail, {"WWW-Authenticate": AUTH_CHALLENGE})
    digest, now = token_hash(token), time.monotonic()
    cache = request.app.state.token_cache
    found = cache.get(digest, now)
    if found is None:
        async with request.app.state.pool.connection() as conn:
            found = await lookup_principal(conn, token)
        if found is not None:
            cache.put(digest, found, now)
    if found is None:
        raise HTTPException(401, "Authorization: unknown token", {"WWW-Authenticate": AUTH_CHALLENGE})
    return found


# What every ingest endpoint declares: the authenticated sender, and its two refusals in OpenAPI.
Sender = Annotated[Principal, Depends(authenticated)]
AUTH_RESPONSES: dict[int | str, dict] = {
    401: {"description": "no or unknown token"},
    403: {"description": "token of another host"},
}


def binary_body(*content_types: str) -> dict:
    """``openapi_extra`` for an endpoint that reads its raw body (protobuf and friends)."""
    return {
        "requestBody": {
            "required": True,
            "content": {ct: {"schema": {"type": "string", "format": "binary"}} for ct in content_types},
        }
    }


def require_host(principal: Principal, host: str | None, field: str = "host") -> str | None:
    """The host a record is stored under: its own, else the token's host; 403 when the token may not report for it.

    A ``*`` token may report for any host, and for none (``host`` stays None).
    """
    if principal.host == ANY_HOST:
        return host
    host = host or principal.host
    if not principal.may_report_for(host):
        raise bad_request(field, f"this token may only report for host {principal.host!r}", 403)
    return host


def clean_text(value: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL: replace it (and lone surrogates) with U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", errors="replace").decode("utf-8")
    return value


def clean_json(value):
    """:func:`clean_text` applied to every string (keys too) of a JSON-like value."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN/inf are not JSON
        return None
    return value
