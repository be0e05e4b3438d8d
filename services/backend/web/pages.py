# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server-rendered pages (Jinja2 + HTMX): dashboard, host view, journal, silences, alert history.

Every page needs a signed-in user (``session.require_user``) and every change a CSRF token
(``session.require_csrf``). Forms post URL-encoded bodies read by ``web.forms``. HTMX requests
(header ``HX-Request``) get fragments; the same URLs work as plain links and forms without it.
docs/backend.md ("Pages") describes them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ansible_collections.quadstats.stack.services.backend.alerts import silences
from ansible_collections.quadstats.stack.services.backend.http import clean_text
from ansible_collections.quadstats.stack.services.backend.ingest.metric import to_utc
from ansible_collections.quadstats.stack.services.backend.journal_query import (
    JournalPage,
    journal_fields,
    query_journal,
)
from ansible_collections.quadstats.stack.services.backend.web import page_queries
from ansible_collections.quadstats.stack.services.backend.web.forms import read_form
from ansible_collections.quadstats.stack.services.backend.web.render import (
    STATIC_DIR,
    SecurityHeadersMiddleware,
    local_text,
    relative,
    templates,
    viewer_zone,
    zone,
)
from ansible_collections.quadstats.stack.services.backend.web.session import (
    User,
    csrf_token,
    require_csrf,
    require_user,
)

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[User, Depends(require_user)]
Changing = [Depends(require_csrf)]

PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE_SIZE = 50
JOURNAL_DEFAULT_SPAN = timedelta(minutes=15)
# Durations offered for "silence for …"; the text field also takes e.g. 90m, 2h, 3d, 1w.
SILENCE_CHOICES = ("30m", "1h", "2h", "4h", "8h", "1d", "3d", "1w")
_DURATION = re.compile(r"^\s*(\d{1,5})\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SILENCE = timedelta(days=366)
STATES = ("alert", "ok", "silenced")


def install_pages(app, settings) -> None:
    """The pages, their static files and the security headers, when ``web.enabled`` (after ``install_web_auth``)."""
    if not settings.web.enabled:
        return
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.add_middleware(SecurityHeadersMiddleware)


class PageInputError(Exception):
    """A page's input is wrong: shown next to the form (status 400), never a 5xx."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _now(request: Request) -> datetime:
    return request.app.state.clock()


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, user: User | None, *, status: int = 200, **context) -> HTMLResponse:
    """A page or fragment with the layout's variables: user, CSRF token, viewer's zone, time helpers."""
    tz, now = viewer_zone(request), _now(request)
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf_token": csrf_token(request),
            "tz": tz,
            "now": now,
            "local": lambda when: local_text(when, tz),
            "ago": lambda when: relative(when, now),
            "priorities": PRIORITIES,
            **context,
        },
        status_code=status,
    )


def back_to(request: Request, default: str) -> str:
    """Where a plain form goes after a change: its ``return_to`` when that is a path of ours."""
    target = request.query_params.get("return_to") or default
    return target if target.startswith("/") and not target.startswith("//") else default


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """``30m``, ``2h``, ``1d``, ``1w`` (at most a year)."""
    match = _DURATION.match(text or "")
    if match is None:
        raise PageInputError(field, "a number and a unit: 30m, 2h, 1d or 1w")
    length = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    if not timedelta(0) < length <= MAX_SILENCE:
        raise PageInputError(field, "between 1 minute and 366 days")
    return length


def parse_local(text: str, field: str, tz: ZoneInfo, *, inclusive_end: bool = False) -> datetime | None:
    """A ``datetime-local`` value (or one with an offset) in ``tz``; None for empty.

    ``inclusive_end`` makes the end cover its last shown unit: ``14:05`` means up to 14:05:59.999999.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise PageInputError(field, "a date and time such as 2026-11-30T14:05 or 2026-11-30T14:05:30") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    if inclusive_end and when.microsecond == 0:
        time_part = text.split("T", 1)[-1] if "T" in text else text.split(" ", 1)[-1]
        whole_minutes = time_part.count(":") == 1
        when += timedelta(seconds=59 if whole_minutes else 0, microseconds=999999)
    try:
        return to_utc(when)
    except ValueError:
        raise PageInputError(field, "out of range") from None


def input_value(when: datetime | None, tz: ZoneInfo) -> str:
    """``when`` as a ``datetime-local`` input shows it in ``tz`` (seconds kept)."""
    return "" if when is None else when.astimezone(tz).replace(tzinfo=None, microsecond=0).isoformat()


def exact_pattern(value: str) -> str:
    """A glob pattern matching exactly ``value`` (``*``, ``?`` and ``[`` bracketed)."""
    return re.sub(r"([*?\[])", r"[\1]", value)


def _text_param(value: str | None, limit: int = 255) -> str | None:
    value = (value or "").strip()
    return clean_text(value[:limit]) if value else None


# -- dashboard and host view ----------------------------------------------------------------------------


async def _metric_rows(request: Request, *, host: str | None, state: str | None) -> list[page_queries.MetricRow]:
    now = _now(request)
    async with request.app.state.pool.connection() as conn:
        rows = await page_queries.list_metrics(conn, host=host)
        mutes = await silences.active_mutes(conn, now)
    marked = [
        page_queries.MetricRow(**{**row.__dict__, "silenced": silences.muted(mutes, row.host, row.name, now)})
        for row in rows
    ]
    if state == "silenced":
        return [row for row in marked if row.silenced]
    if state in ("alert", "ok"):
        return [row for row in marked if row.state == state]
    return marked


def _dashboard_filters(request: Request) -> tuple[str | None, str | None]:
    host = _text_param(request.query_params.get("host"))
    state = request.query_params.get("state") or None
    if state is not None and state not in STATES:
        state = None
    return host, state


@router.get("/", response_class=HTMLResponse)
@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, user: SignedIn):
    host, state = _dashboard_filters(request)
    async with request.app.state.pool.connection() as conn:
        hosts = await page_queries.list_hosts(conn)
    rows = await _metric_rows(request, host=host, state=state)
    query = urlencode({k: v for k, v in (("host", host), ("state", state)) if v})
    return render(
        request,
        "dashboard.html",
        user,
        rows=rows,
        hosts=hosts,
        host=host,
        state=state,
        states=STATES,
        rows_url="/dashboard/rows" + (f"?{query}" if query else ""),
        silence_choices=SILENCE_CHOICES,
    )


@router.get("/dashboard/rows", response_class=HTMLResponse)
async def dashboard_rows(request: Request, user: SignedIn):
    """The metric rows alone: what the dashboard and host view poll for their live refresh."""
    host, state = _dashboard_filters(request)
    rows = await _metric_rows(request, host=host, state=state)
    return render(request, "_metric_rows.html", user, rows=rows, silence_choices=SILENCE_CHOICES)


@router.post("/metrics/delete", dependencies=Changing)
async def delete_metric(request: Request, user: SignedIn):
    form = await read_form(request)
    host, name = form.get("host", ""), form.get("name", "")
    if not host or not name:
        raise HTTPException(400, "host, name: both are needed to delete a metric")
    async with request.app.state.pool.connection() as conn:
        await page_queries.delete_metric(conn, host, name)
    if is_htmx(request):
        return Response(status_code=200)  # the row is swapped for nothing
    return RedirectResponse(back_to(request, "/"), status_code=303)


@router.post("/metrics/silence", dependencies=Changing)
async def silence_metric(request: Request, user: SignedIn):
    """A "silence for …" from a dashboard row: a silence of exactly this host and name, from now."""
    form = await read_form(request)
    host, name = form.get("host", ""), form.get("name", "")
    now = _now(request)
    try:
        length = parse_duration(form.get("duration", ""))
        async with request.app.state.pool.connection() as conn:
            await silences.create_silence(
                conn,
                host_pattern=exact_pattern(host),
                name_pattern=exact_pattern(name),
                starts_at=now,
                ends_at=now + length,
                created_by=user.name,
                reason=form.get("reason", ""),
            )
    except (PageInputError, silences.InvalidInput) as exc:
        if is_htmx(request):
            return render(request, "_flash.html", user, status=400, error=f"{exc.field}: {exc.problem}")
        raise HTTPException(400, f"{exc.field}: {exc.problem}") from None
    if is_htmx(request):
        rows = [r for r in await _metric_rows(request, host=host, state=None) if r.name == name]
        return render(request, "_metric_rows.html", user, rows=rows, silence_choices=SILENCE_CHOICES)
    return RedirectResponse(back_to(request, "/"), status_code=303)


@router.get("/hosts/{host}", response_class=HTMLResponse)
async def host_view(request: Request, host: str, user: SignedIn):
    """One host: its metrics, open alerts, recent journal lines and transitions (Telegram links here)."""
    host = clean_text(host[:255])
    rows = await _metric_rows(request, host=host, state=None)
    async with request.app.state.pool.connection() as conn:
        journal = await query_journal(conn, host=host, limit=30)
        events, _more = await page_queries.alert_history(conn, host=host, limit=10)
    return render(
        request,
        "host.html",
        user,
        host=host,
        rows=rows,
        alerts=[r for r in rows if r.state == "alert"],
        entries=journal.entries,
        events=events,
        rows_url="/dashboard/rows?" + urlencode({"host": host}),
        journal_url="/journal?" + urlencode({"host": host}),
        silence_choices=SILENCE_CHOICES,
    )


# -- journal ------------------------------------------------------------------------------------------


def _journal_filters(request: Request, now: datetime) -> tuple[dict, dict, str | None]:
    """(query arguments, form values, error) of the journal page's URL."""
    params = request.query_params
    tz = zone(params.get("tz")) or viewer_zone(request)
    form = {
        "tz": tz.key,
        **{k: params.get(k, "") for k in ("start", "end", "host", "unit", "container", "priority", "message")},
        "limit": params.get("limit", ""),
        "follow": params.get("follow") == "1",
    }
    error = None
    query: dict = {}
    try:
        start = parse_local(form["start"], "start", tz)
        end = parse_local(form["end"], "end", tz, inclusive_end=True)
        if start is None and end is None:  # the default: the last 15 minutes
            start = now - JOURNAL_DEFAULT_SPAN
            form["start"] = input_value(start, tz)
        if start is not None and end is not None and end < start:
            raise PageInputError("end", "must not be before start")
        priority = None
        if form["priority"]:
            if form["priority"] not in [str(i) for i in range(8)]:
                raise PageInputError("priority", "0 (emerg) to 7 (debug)")
            priority = int(form["priority"])
        limit = DEFAULT_PAGE_SIZE
        if form["limit"]:
            if not form["limit"].isdigit() or int(form["limit"]) not in PAGE_SIZES:
                raise PageInputError("limit", "one of " + ", ".join(map(str, PAGE_SIZES)))
            limit = int(form["limit"])
        query = {
            "start": start,
            "end": None if form["follow"] else end,
            "priority": priority,
            "limit": limit,
            **{k: _text_param(form[k], 1000 if k == "message" else 255) for k in ("host", "unit", "container")},
            "message": _text_param(form["message"], 1000),
        }
    except PageInputError as exc:
        error = f"{exc.field}: {exc.problem}"
    return query, form, error


def _journal_link(form: dict, **extra) -> str:
    keep = {k: v for k, v in form.items() if k not in ("follow",) and v}
    keep.update({k: v for k, v in extra.items() if v})
    return "/journal?" + urlencode(keep)


async def _journal_page(request: Request, query: dict) -> tuple[JournalPage, list, str | None, str | None]:
    """(page, entries newest first, cursor of the newer page, cursor of the older page)."""
    after = request.query_params.get("after") or None
    before = request.query_params.get("before") or None
    async with request.app.state.pool.connection() as conn:
        if before and not after:  # newer lines than ``before``: read upwards, show newest first
            page = await query_journal(conn, order="oldest", cursor=before, **query)
            entries = list(reversed(page.entries))
            newer = entries[0].cursor if page.next and entries else None
            older = entries[-1].cursor if entries else before
            return page, entries, newer, older
        page = await query_journal(conn, order="newest", cursor=after, **query)
    entries = page.entries
    older = entries[-1].cursor if page.next and entries else None
    newer = (entries[0].cursor if entries else after) if after else None
    return page, entries, newer, older


@router.get("/journal", response_class=HTMLResponse)
async def journal(request: Request, user: SignedIn):
    now = _now(request)
    query, form, error = _journal_filters(request, now)
    entries, newer, older = [], None, None
    if error is None:
        try:
            _page, entries, newer, older = await _journal_page(request, query)
        except HTTPException as exc:  # a cursor that is not ours
            error = str(exc.detail)
    rows_query = {k: v for k, v in form.items() if v and k not in ("end", "follow")}
    return render(
        request,
        "journal.html",
        user,
        status=400 if error else 200,
        form=form,
        error=error,
        entries=entries,
        page_sizes=PAGE_SIZES,
        default_page_size=DEFAULT_PAGE_SIZE,
        newer_url=_journal_link(form, before=newer) if newer else None,
        older_url=_journal_link(form, after=older) if older else None,
        first_url=_journal_link(form),
        follow_url=_journal_link(form, follow="1"),
        unfollow_url=_journal_link(form),
        tail_url="/journal/rows?" + urlencode({**rows_query, "follow": "1"}),
    )


@router.get("/journal/rows", response_class=HTMLResponse)
async def journal_rows(request: Request, user: SignedIn):
    """The newest lines from the filters' start on: what follow mode polls."""
    query, _form, error = _journal_filters(request, _now(request))
    if error:
        return render(request, "_flash.html", user, status=400, error=error)
    query["end"] = None
    async with request.app.state.pool.connection() as conn:
        page = await query_journal(conn, order="newest", **query)
    return render(request, "_journal_rows.html", user, entries=page.entries)


@router.get("/journal/fields", response_class=HTMLResponse)
async def journal_entry_fields(request: Request, user: SignedIn, cursor: str = ""):
    """All journal fields of one line (what expanding a line shows); a gone line says so."""
    fields = None
    try:
        async with request.app.state.pool.connection() as conn:
            fields = await journal_fields(conn, cursor[:200]) if cursor else None
    except HTTPException:  # a cursor that is not ours: nothing to show
        fields = None
    return render(request, "_journal_fields.html", user, fields=fields)


# -- silences and maintenance windows --------------------------------------------------------------------


async def _silences_page(request: Request, user: User, *, status: int = 200, **context) -> HTMLResponse:
    now = _now(request)
    async with request.app.state.pool.connection() as conn:
        current = await silences.list_silences(conn, now)
        windows = await silences.list_windows(conn, now)
        recent = [s for s in await silences.list_silences(conn, now, include_expired=True) if s.ends_at <= now][-20:]
    return render(
        request,
        "silences.html",
        user,
        status=status,
        silences=current,
        expired=list(reversed(recent)),
        windows=windows,
        weekdays=silences.WEEKDAYS,
        silence_choices=SILENCE_CHOICES,
        **context,
    )


@router.get("/silences", response_class=HTMLResponse)
async def silences_page(request: Request, user: SignedIn):
    return await _silences_page(request, user, form={}, window_form={})


@router.post("/silences", dependencies=Changing)
async def create_silence(request: Request, user: SignedIn):
    """A silence for a duration from now, or for a window (start and end in the viewer's zone)."""
    form = await read_form(request)
    tz = zone(form.get("tz")) or viewer_zone(request)
    now = _now(request)
    try:
        starts_at = parse_local(form.get("starts_at", ""), "starts_at", tz) or now
        ends_at = parse_local(form.get("ends_at", ""), "ends_at", tz)
        if ends_at is None:
            if not form.get("duration"):
                raise PageInputError("duration", "choose a duration, or give the window's end")
            ends_at = starts_at + parse_duration(form["duration"])
        async with request.app.state.pool.connection() as conn:
            await silences.create_silence(
                conn,
                host_pattern=form.get("host_pattern", ""),
                name_pattern=form.get("name_pattern", ""),
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=user.name,
                reason=form.get("reason", ""),
            )
    except (PageInputError, silences.InvalidInput) as exc:
        return await _silences_page(
            request, user, status=400, error=f"{exc.field}: {exc.problem}", form=form, window_form={}
        )
    return RedirectResponse("/silences", status_code=303)


@router.post("/silences/{silence_id}/expire", dependencies=Changing)
async def expire_silence(request: Request, silence_id: int, user: SignedIn):
    await read_form(request)
    async with request.app.state.pool.connection() as conn:
        done = await silences.expire_silence(conn, silence_id, _now(request), user.name)
    if not done:
        return await _silences_page(
            request, user, status=404, error=f"silence {silence_id}: unknown or already over", form={}, window_form={}
        )
    return RedirectResponse("/silences", status_code=303)


@router.post("/maintenance", dependencies=Changing)
async def create_window(request: Request, user: SignedIn):
    """A weekly window (weekdays, local start time, duration, zone) or a one-off one (start and end)."""
    form = await read_form(request)
    tz = zone(form.get("tz")) or viewer_zone(request)
    weekdays = [day for day in silences.WEEKDAYS if form.get(f"weekday_{day}")]
    try:
        common = {
            "host_pattern": form.get("host_pattern", ""),
            "name_pattern": form.get("name_pattern", ""),
            "created_by": user.name,
            "reason": form.get("reason", ""),
        }
        async with request.app.state.pool.connection() as conn:
            if not weekdays and not (form.get("starts_at") or form.get("ends_at")):
                raise PageInputError(
                    "weekdays", "tick at least one weekday, or give from and until for a one-off window"
                )
            if not weekdays:
                await silences.create_window(
                    conn,
                    **common,
                    starts_at=parse_local(form.get("starts_at", ""), "starts_at", tz),
                    ends_at=parse_local(form.get("ends_at", ""), "ends_at", tz),
                )
            else:
                await silences.create_window(
                    conn,
                    **common,
                    weekdays=weekdays,
                    start_time=form.get("start_time", ""),
                    duration=parse_duration(form.get("duration", ""), "duration"),
                    time_zone=form.get("time_zone") or tz.key,
                )
    except (PageInputError, silences.InvalidInput) as exc:
        window_form = {**form, "weekdays": weekdays}
        return await _silences_page(
            request, user, status=400, window_error=f"{exc.field}: {exc.problem}", form={}, window_form=window_form
        )
    return RedirectResponse("/silences", status_code=303)


@router.post("/maintenance/{window_id}/delete", dependencies=Changing)
async def delete_window(request: Request, window_id: int, user: SignedIn):
    await read_form(request)
    async with request.app.state.pool.connection() as conn:
        await silences.delete_window(conn, window_id, _now(request), user.name)
    return RedirectResponse("/silences", status_code=303)


# -- alert history ------------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse)
async def alert_history(request: Request, user: SignedIn):
    host = _text_param(request.query_params.get("host"))
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 19 else None
    async with request.app.state.pool.connection() as conn:
        events, more = await page_queries.alert_history(conn, host=host, before_id=before_id)
        hosts = await page_queries.list_hosts(conn)
    older = (
        "/alerts?" + urlencode({k: v for k, v in (("host", host), ("before", events[-1].id)) if v}) if more else None
    )
    return render(request, "alerts.html", user, events=events, host=host, hosts=hosts, older_url=older)
