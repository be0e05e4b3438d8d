# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Journal queries for the pages: filters, keyset pagination, newest- or oldest-first.

Filters: a time range (both ends inclusive, as the seed's UI), host, unit, container, the most
severe priority to include down to (``priority`` 3 = err and worse), and a case-insensitive
message substring in which ``%``, ``_`` and ``\\`` match themselves. Pages are keyset-paginated on
``(time, hash)`` — the dedup key, so unique — with an opaque cursor; no OFFSET scans.
``GET /api/v1/journal`` serves it to tokens of ``*`` until the pages (next issue) bring sessions.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ansible_collections.quadstats.stack.services.backend.auth import ANY_HOST
from ansible_collections.quadstats.stack.services.backend.http import AUTH_RESPONSES, Sender, bad_request, clean_text
from ansible_collections.quadstats.stack.services.backend.ingest.metric import to_utc

router = APIRouter(tags=["journal"])
MAX_PAGE = 1000
NEAR_ROWS = 10_000  # rows read in time order before a message search turns to the trigram index


def like_pattern(substring: str) -> str:
    """``%substring%`` for ILIKE with ``\\``, ``%`` and ``_`` escaped (they match themselves)."""
    escaped = substring.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def encode_cursor(time: datetime, hash_: bytes) -> str:
    return base64.urlsafe_b64encode(time.isoformat().encode() + b"|" + hash_).decode()


def decode_cursor(cursor: str) -> tuple[datetime, bytes]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode())
        time_text, _sep, hash_ = raw.partition(b"|")
        when = to_utc(datetime.fromisoformat(time_text.decode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request("cursor", "not a cursor this service gave out", 422) from None
    if when is None or len(hash_) != 32:
        raise bad_request("cursor", "not a cursor this service gave out", 422)
    return when, hash_


class JournalEntry(BaseModel):
    time: datetime
    host: str | None
    unit: str | None
    container: str | None
    priority: int | None
    message: str
    source: str
    cursor: str = Field(description="this entry's keyset position: pages before or after it start here")


class JournalPage(BaseModel):
    entries: list[JournalEntry]
    next: str | None = Field(description="cursor of the following page, null on the last one")


async def query_journal(
    conn,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    host: str | None = None,
    unit: str | None = None,
    container: str | None = None,
    priority: int | None = None,
    message: str | None = None,
    order: str = "newest",
    limit: int = 100,
    cursor: str | None = None,
) -> JournalPage:
    where, params = [], []
    for column, op, value in (
        ("time", ">=", start),
        ("time", "<=", end),
        ("host", "=", host),
        ("unit", "=", unit),
        ("container", "=", container),
        ("priority", "<=", priority),
    ):
        if value is not None:
            where.append(f"{column} {op} %s")
            params.append(value)
    newest = order == "newest"
    if cursor:
        where.append(f"(time, hash) {'<' if newest else '>'} (%s, %s)")
        params.extend(decode_cursor(cursor))
    direction = "DESC" if newest else "ASC"
    columns = "time, hash, host, unit, container, priority, message, source"
    ordered = f" ORDER BY time {direction}, hash {direction}"
    rows = None
    if message:
        pattern = like_pattern(message)
        # A common substring is found within the next rows in time order, while the trigram index
        # would fetch every match and sort them. So first search the next NEAR_ROWS rows in order:
        # when the page fills there, or those are all the rows the other filters leave, that is the
        # page (same rows, same order); otherwise matches are rare: the full query finds them by index.
        filters = " WHERE " + " AND ".join(where) if where else ""
        near = (  # fixed fragments and placeholders only
            f"SELECT * FROM (SELECT {columns} FROM journal{filters}{ordered} LIMIT %s) AS near"  # noqa: S608
            f" WHERE message ILIKE %s ESCAPE '\\'{ordered} LIMIT %s"
        )
        cur = await conn.execute(near, (*params, NEAR_ROWS, pattern, limit + 1))
        rows = await cur.fetchall()
        if len(rows) <= limit and where:  # without filters the candidates are the whole table
            count = f"SELECT count(*) FROM (SELECT 1 FROM journal{filters} LIMIT %s) AS near"  # noqa: S608
            cur = await conn.execute(count, (*params, NEAR_ROWS))
            if (await cur.fetchone())[0] >= NEAR_ROWS:
                rows = None
        elif len(rows) <= limit:
            rows = None
        where.append("message ILIKE %s ESCAPE '\\'")
        params.append(pattern)
    sql = (
        f"SELECT {columns} FROM journal"  # noqa: S608 - fixed fragments
        + (" WHERE " + " AND ".join(where) if where else "")
        + f"{ordered} LIMIT %s"
    )
    if rows is None and message:
        # Rare matches: read them by index and sort them. Left alone, the planner may walk the time
        # index hoping to meet them soon — through every row when there are none (seconds on 1 M).
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_indexscan = off")
            cur = await conn.execute(sql, (*params, limit + 1))
            rows = await cur.fetchall()
    elif rows is None:
        cur = await conn.execute(sql, (*params, limit + 1))
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        JournalEntry(
            time=r[0],
            host=r[2],
            unit=r[3],
            container=r[4],
            priority=r[5],
            message=r[6],
            source=r[7],
            cursor=encode_cursor(r[0], bytes(r[1])),
        )
        for r in rows
    ]
    return JournalPage(entries=entries, next=encode_cursor(rows[-1][0], bytes(rows[-1][1])) if more else None)


async def journal_fields(conn, cursor: str) -> dict | None:
    """Every journal field of the entry at ``cursor`` (as ingested), None when it is gone."""
    time, hash_ = decode_cursor(cursor)
    cur = await conn.execute("SELECT fields FROM journal WHERE time = %s AND hash = %s", (time, hash_))
    row = await cur.fetchone()
    return None if row is None else row[0]


@router.get(
    "/api/v1/journal",
    response_model=JournalPage,
    summary="Journal entries, filtered and keyset-paginated",
    responses=AUTH_RESPONSES,
)
async def get_journal(
    request: Request,
    who: Sender,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    host: Annotated[str | None, Query(max_length=255)] = None,
    unit: Annotated[str | None, Query(max_length=255)] = None,
    container: Annotated[str | None, Query(max_length=255)] = None,
    priority: Annotated[int | None, Query(ge=0, le=7, description="include this priority and more severe ones")] = None,
    message: Annotated[str | None, Query(max_length=1000, description="case-insensitive substring")] = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JournalPage:
    if who.host != ANY_HOST:
        raise bad_request("Authorization", "reading the journal needs a token for any host (*)", 403)
    try:
        start, end = to_utc(start), to_utc(end)
    except ValueError:
        raise bad_request("start/end", "out of range", 422) from None
    texts = {"host": host, "unit": unit, "container": container, "message": message}
    filters = {k: None if v is None else clean_text(v) for k, v in texts.items()}
    async with request.app.state.pool.connection() as conn:
        return await query_journal(
            conn, start=start, end=end, priority=priority, order=order, limit=limit, cursor=cursor, **filters
        )
