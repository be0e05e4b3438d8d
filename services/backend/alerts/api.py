# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON API for silences and maintenance windows, for the admin API token only.

The token comes from the file named by ``api.admin_token_file`` and is kept only as its sha256,
compared in constant time. Ingest tokens are refused with 403 (they may report, never mute), an
unknown or missing token gets 401; without ``api.admin_token_file`` every request gets 403 saying so.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Annotated, get_type_hints

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model

from ansible_collections.quadstats.stack.services.backend.alerts import silences as sil
from ansible_collections.quadstats.stack.services.backend.alerts.silences import InvalidInput
from ansible_collections.quadstats.stack.services.backend.auth import lookup_principal, token_from_authorization
from ansible_collections.quadstats.stack.services.backend.settings import Settings, admin_token

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="quadstats admin"'}
MAX_MINUTES = 366 * 24 * 60


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"example": {"detail": "field: problem"}}}}


ADMIN_RESPONSES: dict[int | str, dict] = {
    400: _error("Bad input; `detail` names the field and the problem"),
    401: _error("No admin API token, or an unknown one"),
    403: _error("An ingest token, or the admin API is off (api.admin_token_file not set)"),
}


async def require_admin(request: Request) -> None:
    """Let only the admin API token through (401/403 naming the problem)."""
    expected: bytes | None = request.app.state.admin_token_sha256
    if expected is None:
        raise HTTPException(403, "Authorization: the admin API is off; set api.admin_token_file to use it")
    token = token_from_authorization(request.headers.get("authorization"))
    if token is None:
        raise HTTPException(401, "Authorization: send the admin API token (api.admin_token_file) as Bearer", CHALLENGE)
    if hmac.compare_digest(hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest(), expected):
        return
    async with request.app.state.pool.connection() as conn:
        ingest = await lookup_principal(conn, token)
    if ingest is not None:
        raise HTTPException(403, "Authorization: this is an ingest token; silences need the admin API token")
    raise HTTPException(401, "Authorization: unknown token", CHALLENGE)


router = APIRouter(
    prefix="/api/v1", tags=["silences"], dependencies=[Depends(require_admin)], responses=ADMIN_RESPONSES
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SilenceIn(_In):
    host_pattern: StrictStr = Field("*", description="host glob pattern (`*`, `?`, `[...]`)")
    name_pattern: StrictStr = Field("*", description="alert name glob pattern: metric name or alertname")
    starts_at: datetime | None = Field(None, description="with a zone offset; default now")
    ends_at: datetime | None = Field(None, description="with a zone offset; or give duration_minutes")
    duration_minutes: StrictInt | None = Field(None, ge=1, le=MAX_MINUTES, description="instead of ends_at")
    created_by: StrictStr = Field(description="who mutes")
    reason: StrictStr = Field(description="why")


# The stored silence's fields (silences.Silence) plus whether it is active now.
SilenceOut = create_model(
    "SilenceOut",
    **{name: (hint, ...) for name, hint in get_type_hints(sil.Silence).items()},
    active=(bool, ...),
)


class SilenceList(BaseModel):
    silences: list[SilenceOut]


class ExpireIn(_In):
    expired_by: StrictStr = Field(description="who ends the silence early")


class WindowIn(_In):
    host_pattern: StrictStr = "*"
    name_pattern: StrictStr = "*"
    created_by: StrictStr
    reason: StrictStr
    starts_at: datetime | None = Field(None, description="one-off window: start (with a zone offset)")
    ends_at: datetime | None = Field(None, description="one-off window: end")
    weekdays: list[StrictStr | StrictInt] | None = Field(
        None, max_length=7, description="weekly window: mon..sun or 1..7 (1 = Monday)"
    )
    start_time: StrictStr | None = Field(None, description="weekly window: local start time HH:MM")
    duration_minutes: StrictInt | None = Field(None, ge=1, le=7 * 24 * 60, description="weekly window: length")
    time_zone: StrictStr | None = Field(None, description="weekly window: IANA time zone, e.g. Europe/Berlin")


class WindowOut(BaseModel):
    id: int
    host_pattern: str
    name_pattern: str
    created_by: str
    reason: str
    created_at: datetime
    starts_at: datetime | None
    ends_at: datetime | None
    weekdays: list[str] | None
    start_time: str | None
    duration_minutes: float | None
    time_zone: str | None
    active: bool
    next_starts_at: datetime | None = Field(description="the current or next occurrence")
    next_ends_at: datetime | None


class WindowList(BaseModel):
    windows: list[WindowOut]


def _must_be_future(ends: datetime | None, now: datetime) -> None:
    """400 for an end in the past (naive or out-of-range ends are left to silences.py to name)."""
    try:
        past = ends is not None and ends.tzinfo is not None and ends <= now
    except OverflowError:
        raise InvalidInput("ends_at", "out of range") from None
    if past:
        raise InvalidInput("ends_at", "is in the past: it must end in the future")


def silence_out(s: sil.Silence, now: datetime) -> SilenceOut:
    return SilenceOut(**s.__dict__, active=s.active(now))


def window_out(w: sil.MaintenanceWindow, now: datetime) -> WindowOut:
    upcoming = w.next_occurrence(now) or (None, None)
    return WindowOut(
        id=w.id, host_pattern=w.host_pattern, name_pattern=w.name_pattern, created_by=w.created_by,
        reason=w.reason, created_at=w.created_at, starts_at=w.starts_at, ends_at=w.ends_at,
        weekdays=[sil.WEEKDAYS[d - 1] for d in w.weekdays] if w.recurring else None,
        start_time=w.start_time.strftime("%H:%M") if w.start_time else None,
        duration_minutes=w.duration.total_seconds() / 60 if w.duration else None, time_zone=w.time_zone,
        active=w.active(now), next_starts_at=upcoming[0], next_ends_at=upcoming[1],
    )  # fmt: skip


@router.get("/silences", summary="List silences (active and future; all with include_expired)")
async def get_silences(request: Request, include_expired: bool = False) -> SilenceList:
    now = request.app.state.clock()
    async with request.app.state.pool.connection() as conn:
        found = await sil.list_silences(conn, now, include_expired=include_expired)
    return SilenceList(silences=[silence_out(s, now) for s in found])


@router.post("/silences", status_code=201, summary="Mute alerts matching host/name patterns for a while")
async def post_silence(request: Request, body: SilenceIn) -> SilenceOut:
    now = request.app.state.clock()
    starts = body.starts_at or now
    if (body.ends_at is None) == (body.duration_minutes is None):
        raise InvalidInput("ends_at", "give either ends_at or duration_minutes")
    ends = body.ends_at
    if ends is None:
        try:
            ends = starts + timedelta(minutes=body.duration_minutes)
        except OverflowError:
            raise InvalidInput("duration_minutes", "the silence would end after the year 9999") from None
    _must_be_future(ends, now)
    async with request.app.state.pool.connection() as conn:
        made = await sil.create_silence(
            conn, host_pattern=body.host_pattern, name_pattern=body.name_pattern, starts_at=starts, ends_at=ends,
            created_by=body.created_by, reason=body.reason,
        )  # fmt: skip
    return silence_out(made, now)


SilenceId = Annotated[int, Path(description="the silence's id")]


@router.post(
    "/silences/{silence_id}/expire",
    summary="End a silence now",
    responses={404: _error("No such silence"), 409: _error("The silence is already over")},
)
async def expire(request: Request, silence_id: SilenceId, body: ExpireIn) -> SilenceOut:
    now = request.app.state.clock()
    async with request.app.state.pool.connection() as conn, conn.transaction():
        if not await sil.expire_silence(conn, silence_id, now, body.expired_by):
            found = await sil.get_silence(conn, silence_id)
            if found is None:
                raise HTTPException(404, f"silence_id: there is no silence {silence_id}")
            raise HTTPException(409, f"silence_id: silence {silence_id} is already over")
        return silence_out(await sil.get_silence(conn, silence_id), now)


@router.get("/maintenance-windows", summary="List maintenance windows (weekly and upcoming one-off ones)")
async def get_windows(request: Request, include_expired: bool = False) -> WindowList:
    now = request.app.state.clock()
    async with request.app.state.pool.connection() as conn:
        found = await sil.list_windows(conn, now, include_expired=include_expired)
    return WindowList(windows=[window_out(w, now) for w in found])


@router.post("/maintenance-windows", status_code=201, summary="Add a one-off or weekly maintenance window")
async def post_window(request: Request, body: WindowIn) -> WindowOut:
    now = request.app.state.clock()
    _must_be_future(body.ends_at, now)
    duration = None if body.duration_minutes is None else timedelta(minutes=body.duration_minutes)
    async with request.app.state.pool.connection() as conn:
        made = await sil.create_window(
            conn, host_pattern=body.host_pattern, name_pattern=body.name_pattern, created_by=body.created_by,
            reason=body.reason, starts_at=body.starts_at, ends_at=body.ends_at, weekdays=body.weekdays,
            start_time=body.start_time, duration=duration, time_zone=body.time_zone,
        )  # fmt: skip
    return window_out(made, now)


@router.delete(
    "/maintenance-windows/{window_id}",
    status_code=204,
    response_class=Response,
    summary="Remove a maintenance window",
    responses={404: _error("No such window")},
)
async def delete(
    request: Request,
    window_id: Annotated[int, Path(description="the window's id")],
    deleted_by: Annotated[str, Query(min_length=1, max_length=sil.MAX_WHO, description="who removes it")],
) -> Response:
    async with request.app.state.pool.connection() as conn:
        if not await sil.delete_window(conn, window_id, request.app.state.clock(), deleted_by):
            raise HTTPException(404, f"window_id: there is no maintenance window {window_id}")
    return Response(status_code=204)


def install_alerts_api(app: FastAPI, settings: Settings) -> None:
    """Read the admin token (ConfigError naming api.admin_token_file when wrong) and add the routes."""
    token = admin_token(settings)
    app.state.admin_token_sha256 = hashlib.sha256(token.encode()).digest() if token else None
    app.include_router(router)
