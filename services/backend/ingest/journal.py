# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``POST /journal``: the seed's ``{"logs": "<journalctl -o json lines>"}``, and the one journal store.

Each line is one journal entry; its time is ``__REALTIME_TIMESTAMP`` (µs), its dedup hash the
sha256 of the line (as the seed computes it). ``MESSAGE`` may be a byte array (journald's form for
non-UTF-8 text): it is decoded, invalid bytes replaced. Rows go to the ``journal`` hypertable via
COPY into a per-connection staging table and one ``INSERT … ON CONFLICT DO NOTHING`` on the
unique ``(hash, time)`` index, so the seed's overlapping client windows cost nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictStr

from ansible_collections.quadstats.stack.services.backend.auth import Principal
from ansible_collections.quadstats.stack.services.backend.http import (
    AUTH_RESPONSES,
    Sender,
    bad_request,
    clean_json,
    clean_text,
    require_host,
)

router = APIRouter(tags=["ingest"])
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MICROS = int((datetime(9999, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()) * 1_000_000
COLUMNS = ("time", "hash", "host", "unit", "container", "priority", "message", "source", "fields")


class JournalRow(NamedTuple):
    time: datetime
    hash: bytes
    host: str | None
    unit: str | None
    container: str | None
    priority: int | None
    message: str
    source: str
    fields: dict | str  # a dict, or its JSON text


def time_from_micros(micros: int) -> datetime:
    if not 0 <= micros < MAX_MICROS:
        raise ValueError("out of range")
    return EPOCH + timedelta(microseconds=micros)


def journal_text(value: Any) -> str | None:
    """A journal field as text: a string, a byte array (decoded), or the first of repeated values."""
    if value is None:
        return None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        if value and all(isinstance(b, int) and not isinstance(b, bool) for b in value):
            if not all(0 <= b <= 255 for b in value):
                raise ValueError("byte array values must be 0..255")
            return clean_text(bytes(value).decode("utf-8", errors="replace"))
        return journal_text(value[0]) if value else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"must be a string or a byte array, not {type(value).__name__}")


def priority_of(value: Any) -> int | None:
    """Syslog priority 0..7, or None when absent or not a priority."""
    text = value if isinstance(value, str) else None
    if text is not None and text.strip().isdigit() and int(text) <= 7:
        return int(text)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 7:
        return value
    return None


def parse_journal_lines(logs: str, who: Principal, max_items: int) -> list[JournalRow]:
    """Rows from ``journalctl -o json`` output; 4xx naming the line and field on bad input."""
    rows = []
    for number, line in enumerate(logs.splitlines(), 1):
        if not line.strip():
            continue
        if len(rows) >= max_items:
            raise bad_request("logs", f"more than {max_items} entries (ingest.max_batch_items)", 413)
        field = f"logs line {number}"
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise bad_request(field, f"not JSON ({exc.msg})", 422) from None
        if not isinstance(entry, dict):
            raise bad_request(field, "must be a JSON object (journalctl -o json)", 422)
        raw_time = entry.get("__REALTIME_TIMESTAMP")
        try:
            when = time_from_micros(int(raw_time))
        except (TypeError, ValueError, OverflowError):
            raise bad_request(f"{field}: __REALTIME_TIMESTAMP", "must be microseconds since the epoch", 422) from None
        try:
            message = journal_text(entry.get("MESSAGE")) or ""
            host = journal_text(entry.get("_HOSTNAME"))
            unit = journal_text(entry.get("_SYSTEMD_UNIT"))
            container = journal_text(entry.get("CONTAINER_NAME"))
        except ValueError as exc:
            raise bad_request(field, str(exc), 422) from None
        host = require_host(who, host, f"{field}: _HOSTNAME")
        fields = clean_json(entry)
        fields["MESSAGE"] = message
        rows.append(
            JournalRow(
                when,
                hashlib.sha256(clean_text(line).encode("utf-8")).digest(),
                host,
                unit,
                container,
                priority_of(entry.get("PRIORITY")),
                message,
                "journal",
                fields,
            )
        )
    return rows


STAGING = "CREATE TEMP TABLE IF NOT EXISTS journal_staging (LIKE journal) ON COMMIT DELETE ROWS"

_COLS = ", ".join(COLUMNS)
COPY = f"COPY journal_staging ({_COLS}) FROM STDIN"
COPY_DIRECT = f"COPY journal ({_COLS}) FROM STDIN"
MERGE = f"INSERT INTO journal ({_COLS}) SELECT {_COLS} FROM journal_staging ON CONFLICT (hash, time) DO NOTHING"  # noqa: S608 - fixed names
# COPY's text format escapes these four characters in every value (NUL cannot occur: clean_text).
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_NULL = "\\N"
COPY_PIECE = 250  # rows per COPY write


def _copy_value(value: str | None) -> str:
    if value is None:
        return _NULL
    for char, escaped in _COPY_ESCAPES:  # `in` is a fast scan; most values need no replace at all
        if char in value:
            value = value.replace(char, escaped)
    return value


def copy_text(rows: Sequence[JournalRow]) -> bytes:
    """``rows`` in COPY's text format, in one piece (one write instead of one adapter call per value).

    ``fields`` is a dict or JSON text already encoded (the Loki path builds it per stream).
    """
    out = []
    for r in rows:
        fields = r.fields if isinstance(r.fields, str) else json.dumps(r.fields, ensure_ascii=False)
        out.append(
            f"{r.time.isoformat()}\t\\\\x{r.hash.hex()}\t{_copy_value(r.host)}\t{_copy_value(r.unit)}\t"
            f"{_copy_value(r.container)}\t{_NULL if r.priority is None else r.priority}\t{_copy_value(r.message)}\t"
            f"{r.source}\t{_copy_value(fields)}\n"
        )
    return "".join(out).encode("utf-8")


async def store_journal_rows(pool, rows: Sequence[JournalRow], *, duplicates_expected: bool = True) -> int:
    """Store ``rows`` once each (by ``(hash, time)``); returns how many were new.

    With ``duplicates_expected`` (the seed's overlapping windows) the rows go through COPY into a
    staging table and one ``INSERT … ON CONFLICT DO NOTHING``. Otherwise (Loki pushes: repeats only
    on a retry) they are copied straight into the hypertable, half the database's work, and only a
    batch that hits the unique index falls back to the staging merge (its COPY rolled back).
    """
    if not rows:
        return 0
    async with pool.connection() as conn, conn.transaction():
        if not duplicates_expected:
            try:
                async with conn.transaction(), conn.cursor() as cur:  # a savepoint
                    async with cur.copy(COPY_DIRECT) as copy:
                        # In pieces: the database stores one while the next is encoded.
                        for start in range(0, len(rows), COPY_PIECE):
                            await copy.write(copy_text(rows[start : start + COPY_PIECE]))
                    return len(rows)
            except psycopg.errors.UniqueViolation:
                pass
        await conn.execute(STAGING)
        async with conn.cursor() as cur:
            async with cur.copy(COPY) as copy:
                for start in range(0, len(rows), COPY_PIECE):
                    await copy.write(copy_text(rows[start : start + COPY_PIECE]))
            await cur.execute(MERGE)
            return cur.rowcount


class JournalIn(BaseModel):
    logs: StrictStr = Field(description="journalctl -o json output: one JSON object per line")


class JournalAccepted(BaseModel):
    accepted: int = Field(description="new entries stored")
    duplicates: int = Field(description="entries already stored (same line hash and time)")


@router.post(
    "/journal",
    response_model=JournalAccepted,
    summary="Journal lines as the seed's metrics-sender sends them",
    responses=AUTH_RESPONSES,
)
async def post_journal(request: Request, body: JournalIn, who: Sender) -> JournalAccepted:
    rows = parse_journal_lines(body.logs, who, request.app.state.settings.ingest.max_batch_items)
    new = await store_journal_rows(request.app.state.pool, rows)
    return JournalAccepted(accepted=new, duplicates=len(rows) - new)
