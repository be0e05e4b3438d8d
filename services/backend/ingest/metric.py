# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``POST /metric``: the seed's metric JSON (one object, or a list of them), upserted per (host, name).

The seed's shape exactly: ``host``, ``name``, ``type`` (disk|ping), ``timestamp`` (RFC 3339;
missing, null or Go's zero time mean "now"), ``value`` (string; numbers accepted and stored as
text), ``state`` (accepted and ignored: the alert engine owns the state). Other keys (the Go
struct's ``Id``) are ignored, as the seed ignores them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictStr, Tag, field_validator

from ansible_collections.quadstats.stack.services.backend.http import (
    AUTH_RESPONSES,
    Sender,
    bad_request,
    clean_text,
    require_host,
)

router = APIRouter(tags=["ingest"])
MAX_TEXT = 255
MAX_VALUE = 1024
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def to_utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC (naive means UTC), None for None and for Go's zero time (an unset ``time.Time``).

    ValueError when the value leaves the representable range.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None
    return None if value == GO_ZERO_TIME else value


class MetricIn(BaseModel):
    """One metric report, as the seed's metrics-sender sends it."""

    model_config = ConfigDict(extra="ignore")

    host: StrictStr = Field(min_length=1, max_length=MAX_TEXT, description="host the metric belongs to")
    name: StrictStr = Field(
        min_length=1, max_length=MAX_TEXT, description="metric name, e.g. a filesystem or container"
    )
    type: Literal["disk", "ping"]
    timestamp: datetime | None = Field(None, description="RFC 3339; missing, null or 0001-01-01 mean now")
    value: str | None = Field(
        None, description="disk: used percent; ping: minutes until the ping is overdue (numbers are accepted too)"
    )
    state: Any = Field(None, description="ignored (the backend decides the state)")

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return to_utc(value)

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("must be a string or a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number or a string")
        text = value if isinstance(value, str) else repr(value)
        if len(text) > MAX_VALUE:
            raise ValueError(f"longer than {MAX_VALUE} characters")
        return text


# One object or a list: tagged so a validation error names ``host`` or ``[3].host``, not both readings.
MetricBody = Annotated[
    Annotated[MetricIn, Tag("object")] | Annotated[list[MetricIn], Tag("list")],
    Discriminator(lambda v: "list" if isinstance(v, list) else "object"),
]


class MetricRow(NamedTuple):
    host: str
    name: str
    type: str
    value: str | None
    reported_at: datetime


UPSERT = """
INSERT INTO metrics (host, name, type, value, reported_at, received_at)
VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (host, name) DO UPDATE SET
    type = EXCLUDED.type, value = EXCLUDED.value,
    reported_at = EXCLUDED.reported_at, received_at = EXCLUDED.received_at
"""


async def upsert_metrics(pool, rows: Iterable[MetricRow]) -> int:
    """Upsert the current state of each (host, name); the last row of a (host, name) wins. Returns the count."""
    latest = {(r.host, r.name): r for r in rows}
    ordered = [latest[key] for key in sorted(latest)]  # a fixed lock order: concurrent batches never deadlock
    if not ordered:
        return 0
    async with pool.connection() as conn:
        if len(ordered) == 1:
            await conn.execute(UPSERT, ordered[0])
        else:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(UPSERT, ordered)
    return len(ordered)


class Accepted(BaseModel):
    accepted: int = Field(description="metrics stored (after merging repeats of one host and name)")


@router.post(
    "/metric",
    response_model=Accepted,
    summary="Report metrics (the seed's JSON: one object or a list)",
    responses=AUTH_RESPONSES,
)
async def post_metric(
    request: Request,
    body: Annotated[MetricBody, Body()],
    who: Sender,
) -> Accepted:
    items = body if isinstance(body, list) else [body]
    limit = request.app.state.settings.ingest.max_batch_items
    if len(items) > limit:
        raise bad_request("body", f"{len(items)} metrics, more than {limit} (ingest.max_batch_items)", 413)
    now = request.app.state.clock()
    rows = []
    for i, item in enumerate(items):
        require_host(who, item.host, f"[{i}].host" if isinstance(body, list) else "host")
        rows.append(
            MetricRow(
                clean_text(item.host),
                clean_text(item.name),
                item.type,
                None if item.value is None else clean_text(item.value),
                item.timestamp or now,
            )
        )
    return Accepted(accepted=await upsert_metrics(request.app.state.pool, rows))
