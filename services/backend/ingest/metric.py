# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``POST /metric``: the seed's metric JSON (one object, or a list of them), upserted per (host, name).

The seed's shape exactly: ``host``, ``name``, ``type`` (disk|ping), ``timestamp`` (RFC 3339;
missing, null or Go's zero time mean "now"), ``value`` (string; numbers accepted and stored as
text), ``state`` (accepted and ignored: the alert engine owns the state). Other keys (the Go
struct's ``Id``) are ignored, as the seed ignores them. The body is read as JSON whatever its
``Content-Type`` says, as the seed does.

The busiest endpoint, so it is a plain Starlette route (:func:`post_metric`): the token check,
one pydantic ``validate_json`` and a :class:`MetricWriter` that writes concurrent requests as one
statement. FastAPI's dependency solving, its JSON parse plus a second validation pass and the
response model cost nearly as much CPU as the database call (docs/performance.md).
:data:`described` holds the route's OpenAPI description (FastAPI generates it; it serves nothing).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

import psycopg
from fastapi import APIRouter, Body, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from starlette.responses import Response
from starlette.routing import Route

from ansible_collections.quadstats.stack.services.backend.http import (
    AUTH_RESPONSES,
    Sender,
    authenticated,
    bad_request,
    clean_text,
    require_host,
)

described = APIRouter(tags=["ingest"])
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
# Many rows in one statement (one round trip, one plan): the columns as arrays.
UPSERT_MANY = """
INSERT INTO metrics (host, name, type, value, reported_at, received_at)
SELECT host, name, type, value, reported_at, now()
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
    AS given (host, name, type, value, reported_at)
ON CONFLICT (host, name) DO UPDATE SET
    type = EXCLUDED.type, value = EXCLUDED.value,
    reported_at = EXCLUDED.reported_at, received_at = EXCLUDED.received_at
"""


def latest_per_key(rows: Iterable[MetricRow]) -> list[MetricRow]:
    """The last row of each (host, name), sorted by it: a fixed lock order, so concurrent writers never
    deadlock, and no key twice (``ON CONFLICT DO UPDATE`` cannot touch a row twice in one statement)."""
    latest = {(r.host, r.name): r for r in rows}
    return [latest[key] for key in sorted(latest)]


async def write_rows(conn, rows: list[MetricRow]) -> None:
    """Upsert ``rows`` (from :func:`latest_per_key`) in one autocommitted statement."""
    if len(rows) == 1:
        await conn.execute(UPSERT, rows[0])
    elif rows:
        await conn.execute(UPSERT_MANY, [list(column) for column in zip(*rows, strict=True)])


class MetricWriter:
    """Upserts of concurrent requests written together: a group commit.

    A request's rows wait in a queue; one writer task takes everything queued, writes it as one
    autocommitted statement on one pooled connection and only then answers each waiting request,
    so an answer still means "stored". At a steady trickle a group is one request; after a stall
    (a busy machine) the requests that piled up cost one round trip instead of one pool checkout
    and statement each. A database error reaches every request of its group (503); any other
    error (the database refusing a row) is retried request by request, so it reaches only its own.
    """

    MAX_GROUP_ROWS = 10_000

    def __init__(self, pool) -> None:
        self.pool = pool
        self._queue: deque[tuple[list[MetricRow], asyncio.Future]] = deque()
        self._writer: asyncio.Task | None = None

    async def upsert(self, rows: Iterable[MetricRow]) -> int:
        """Store ``rows`` (the last of each (host, name) wins); returns how many after merging."""
        ordered = latest_per_key(rows)
        if not ordered:
            return 0
        done = asyncio.get_running_loop().create_future()
        self._queue.append((ordered, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_groups(), name="quadstats-metric-writer")
        await done
        return len(ordered)

    async def _write_groups(self) -> None:
        group: list[tuple[list[MetricRow], asyncio.Future]] = []
        try:
            while self._queue:
                group = [self._queue.popleft()]
                size = len(group[0][0])
                while self._queue and size + len(self._queue[0][0]) <= self.MAX_GROUP_ROWS:
                    group.append(self._queue.popleft())
                    size += len(group[-1][0])
                for (_rows, done), outcome in zip(group, await self._write_group(group), strict=True):
                    _settle(done, outcome)
        except BaseException as exc:  # cancelled at shutdown: nobody may wait for ever
            for _rows, done in [*group, *self._queue]:
                _settle(done, exc)
            self._queue.clear()
            raise
        finally:
            self._writer = None

    async def _write_group(self, group: list[tuple[list[MetricRow], asyncio.Future]]) -> list[Exception | None]:
        """Each request's outcome: None (stored) or the exception its request raises."""
        if len(group) == 1:
            return [await self._try_write(group[0][0])]
        outcome = await self._try_write(latest_per_key(row for rows, _done in group for row in rows))
        if outcome is None or isinstance(outcome, psycopg.OperationalError):
            return [outcome] * len(group)  # stored, or the database is away: the same for all
        return [await self._try_write(rows) for rows, _done in group]  # a refused row: only its request fails

    async def _try_write(self, rows: list[MetricRow]) -> Exception | None:
        try:
            async with self.pool.connection() as conn:
                await write_rows(conn, rows)
        except Exception as exc:  # handed to the waiting request, which raises it
            return exc
        return None


def _settle(done: asyncio.Future, exc: BaseException | None) -> None:
    if done.done():  # its request was cancelled (the client went away); the rows are written anyway
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)


class Accepted(BaseModel):
    accepted: int = Field(description="metrics stored (after merging repeats of one host and name)")


METRIC_BODY: TypeAdapter = TypeAdapter(MetricBody)


async def post_metric(request: Request) -> Response:
    """``POST /metric`` (a plain Starlette endpoint; the app's exception handlers shape its errors)."""
    who = await authenticated(request)  # before the body is looked at
    try:
        body = METRIC_BODY.validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    items = body if isinstance(body, list) else [body]
    state = request.app.state
    limit = state.settings.ingest.max_batch_items
    if len(items) > limit:
        raise bad_request("body", f"{len(items)} metrics, more than {limit} (ingest.max_batch_items)", 413)
    now = state.clock()
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
    accepted = await state.metric_writer.upsert(rows)
    return Response(b'{"accepted":%d}' % accepted, media_type="application/json")


# The OpenAPI description of post_metric (this router is never mounted); the operation id is the one
# FastAPI gave the route when it served it.
@described.post(
    "/metric",
    response_model=Accepted,
    summary="Report metrics (the seed's JSON: one object or a list)",
    responses=AUTH_RESPONSES,
    operation_id="post_metric_metric_post",
)
async def post_metric_described(body: Annotated[MetricBody, Body()], who: Sender) -> Accepted:
    raise NotImplementedError  # never called: FastAPI reads the signature and the decorator


def install(app) -> None:
    """Serve ``POST /metric`` with :func:`post_metric` and describe it in the app's OpenAPI document."""
    app.router.routes.append(Route("/metric", post_metric, methods=["POST"]))

    def openapi() -> dict:
        if not app.openapi_schema:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*described.routes, *app.routes],
            )
        return app.openapi_schema

    app.openapi = openapi
