# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Silences and maintenance windows: what mutes notifications (never transitions) of which alerts, when.

A **silence** mutes alerts whose host and name match its glob patterns from ``starts_at`` until
``ends_at``; it records who made it and why, and can be expired early (``expired_by``).
A **maintenance window** does the same on a schedule: one-off (``starts_at``..``ends_at``) or
weekly (ISO weekdays, 1 = Monday, a local start time in an IANA time zone, and a duration), so
"every Sunday 02:00-04:00 Europe/Berlin" follows daylight saving time. A weekly start time that
falls into a DST gap begins at the same instant as the hour before it would (``fold=0``), an
ambiguous one at its first occurrence.

Functions take a psycopg ``AsyncConnection`` (the app's pool hands them out) and raise
:class:`InvalidInput` — a 400 ``HTTPException`` whose detail is ``<field>: <problem>`` — on bad
input, so API routes and pages can let it through or show ``field``/``problem`` next to a form.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import HTTPException

log = logging.getLogger("quadstats.backend")
MAX_PATTERN = 256
MAX_WHO = 200
MAX_REASON = 2000
MAX_WINDOW_DURATION = timedelta(days=7)  # a weekly window longer than the week would overlap itself
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index + 1 = ISO weekday
MAX_ID = 2**63 - 1
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class InvalidInput(HTTPException):
    """Bad input for a silence or window: 400 with ``<field>: <problem>``; ``field`` and ``problem`` for forms."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(status_code=400, detail=f"{field}: {problem}")
        self.field, self.problem = field, problem


def _matches(host_pattern: str, name_pattern: str, host: str, name: str) -> bool:
    return fnmatch.fnmatchcase(host, host_pattern) and fnmatch.fnmatchcase(name, name_pattern)


@dataclass(frozen=True)
class Silence:
    id: int
    host_pattern: str
    name_pattern: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    reason: str
    created_at: datetime
    expired_by: str | None

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def matches(self, host: str, name: str, at: datetime) -> bool:
        """True when this silence mutes the alert ``host``/``name`` at ``at``."""
        return self.active(at) and _matches(self.host_pattern, self.name_pattern, host, name)


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    host_pattern: str
    name_pattern: str
    created_by: str
    reason: str
    created_at: datetime
    starts_at: datetime | None = None  # one-off
    ends_at: datetime | None = None
    weekdays: tuple[int, ...] = ()  # weekly: ISO weekdays
    start_time: time | None = None
    duration: timedelta | None = None
    time_zone: str | None = None

    @property
    def recurring(self) -> bool:
        return self.starts_at is None

    def _starts_between(self, first_day, days: int):
        """(start, end) in UTC of the weekly occurrences starting on ``days`` local days from ``first_day``."""
        zone = ZoneInfo(self.time_zone)
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            if day.isoweekday() in self.weekdays:
                start = datetime.combine(day, self.start_time, tzinfo=zone).astimezone(UTC)
                yield start, start + self.duration

    def occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) of the occurrence active at ``at``, else None."""
        if not self.recurring:
            return (self.starts_at, self.ends_at) if self.starts_at <= at < self.ends_at else None
        back = self.duration.days + 2  # occurrences that started up to that many local days earlier
        local_day = at.astimezone(ZoneInfo(self.time_zone)).date()
        for start, end in self._starts_between(local_day - timedelta(days=back), back + 1):
            if start <= at < end:
                return start, end
        return None

    def next_occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence active at ``at`` or the next one to start; None when a one-off window is over."""
        if not self.recurring:
            return (self.starts_at, self.ends_at) if at < self.ends_at else None
        current = self.occurrence(at)
        if current is not None:
            return current
        local_day = at.astimezone(ZoneInfo(self.time_zone)).date()
        return next((s, e) for s, e in self._starts_between(local_day, 9) if s > at)

    def active(self, at: datetime) -> bool:
        return self.occurrence(at) is not None

    def matches(self, host: str, name: str, at: datetime) -> bool:
        """True when this window mutes the alert ``host``/``name`` at ``at``."""
        return _matches(self.host_pattern, self.name_pattern, host, name) and self.active(at)


def muted(mutes: Iterable[Silence | MaintenanceWindow], host: str, name: str, at: datetime) -> bool:
    return any(m.matches(host, name, at) for m in mutes)


# -- validation ---------------------------------------------------------------------------------------


def _text(field: str, value, max_len: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"at most {max_len} characters")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode text") from None
    return value


def _pattern(field: str, value) -> str:
    return _text(field, value, MAX_PATTERN)


def _when(field: str, value) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(field, "must be a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "needs a time zone offset (e.g. 2026-12-01T02:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(field, "out of range") from None


def _window(starts_at, ends_at) -> tuple[datetime, datetime]:
    starts_at, ends_at = _when("starts_at", starts_at), _when("ends_at", ends_at)
    if ends_at <= starts_at:
        raise InvalidInput("ends_at", "must be after starts_at")
    return starts_at, ends_at


def parse_weekdays(value) -> tuple[int, ...]:
    """``["mon", "sun"]`` or ISO numbers ``[1, 7]`` (mixed is fine) to sorted ISO weekdays."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("weekdays", "must be a list such as [mon, wed] or [1, 3] (1 = Monday)")
    days = set()
    for item in value:
        if isinstance(item, str) and item.strip().lower()[:3] in WEEKDAYS:
            days.add(WEEKDAYS.index(item.strip().lower()[:3]) + 1)
        elif isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 7:
            days.add(item)
        else:
            raise InvalidInput("weekdays", f"{item!r} is not a weekday: use mon..sun or 1..7 (1 = Monday)")
    if not days:
        raise InvalidInput("weekdays", "name at least one weekday")
    return tuple(sorted(days))


def parse_start_time(value) -> time:
    """``"02:30"``, ``"02:30:15"`` or a naive ``datetime.time``."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    match = _HH_MM.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput("start_time", "must be a local time HH:MM (00:00 to 23:59), without a zone")
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def parse_time_zone(value) -> str:
    """An IANA time zone name known to this system (``Europe/Berlin``, ``UTC``)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput("time_zone", "must be an IANA time zone name such as Europe/Berlin or UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput("time_zone", f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return value


def _duration(value) -> timedelta:
    if not isinstance(value, timedelta):
        raise InvalidInput("duration", "must be a duration")
    if value <= timedelta(0):
        raise InvalidInput("duration", "must be positive")
    if value > MAX_WINDOW_DURATION:
        raise InvalidInput("duration", "at most 7 days (a weekly window must not overlap the next week's)")
    return value


def _valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


# -- silences -----------------------------------------------------------------------------------------

_SILENCE_COLUMNS = "id, host_pattern, name_pattern, starts_at, ends_at, created_by, reason, created_at, expired_by"


async def list_silences(conn, now: datetime, *, include_expired: bool = False) -> list[Silence]:
    """Silences not over at ``now`` (active and future ones), or all of them; by start time."""
    cur = await conn.execute(
        f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE %s OR ends_at > %s ORDER BY starts_at, id",  # noqa: S608
        (include_expired, now),
    )
    return [Silence(*row) for row in await cur.fetchall()]


async def create_silence(
    conn,
    *,
    host_pattern: str,
    name_pattern: str,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    reason: str,
) -> Silence:
    """Store a silence; :class:`InvalidInput` names the field when the input is wrong."""
    values = (
        _pattern("host_pattern", host_pattern),
        _pattern("name_pattern", name_pattern),
        *_window(starts_at, ends_at),
        _text("created_by", created_by, MAX_WHO),
        _text("reason", reason, MAX_REASON),
    )
    cur = await conn.execute(
        "INSERT INTO silences (host_pattern, name_pattern, starts_at, ends_at, created_by, reason)"  # noqa: S608
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_SILENCE_COLUMNS}",
        values,
    )
    return Silence(*await cur.fetchone())


async def expire_silence(conn, silence_id: int, now: datetime, by: str) -> bool:
    """End a silence at ``now`` (one not started yet becomes empty: starts and ends at ``now``); False when unknown or
    already over."""
    by = _text("expired_by", by, MAX_WHO)
    if not _valid_id(silence_id):
        return False
    cur = await conn.execute(
        "UPDATE silences SET starts_at = least(starts_at, %s), ends_at = %s, expired_by = %s"
        " WHERE id = %s AND ends_at > %s",
        (now, now, by, silence_id, now),
    )
    return cur.rowcount == 1


async def get_silence(conn, silence_id: int) -> Silence | None:
    if not _valid_id(silence_id):
        return None
    cur = await conn.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = %s", (silence_id,))  # noqa: S608
    row = await cur.fetchone()
    return Silence(*row) if row else None


# -- maintenance windows ------------------------------------------------------------------------------

_WINDOW_COLUMNS = (
    "id, host_pattern, name_pattern, created_by, reason, created_at,"
    " starts_at, ends_at, weekdays, start_time, duration, time_zone"
)


def _window_of(row: Sequence) -> MaintenanceWindow:
    values = list(row)
    values[8] = tuple(values[8] or ())
    return MaintenanceWindow(*values)


async def list_windows(conn, now: datetime, *, include_expired: bool = False) -> list[MaintenanceWindow]:
    """Weekly windows and one-off windows not over at ``now`` (or all); one-off ones first, by start."""
    cur = await conn.execute(
        f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows"  # noqa: S608
        " WHERE %s OR ends_at IS NULL OR ends_at > %s ORDER BY starts_at NULLS LAST, id",
        (include_expired, now),
    )
    return [_window_of(row) for row in await cur.fetchall()]


async def create_window(
    conn,
    *,
    host_pattern: str = "*",
    name_pattern: str = "*",
    created_by: str,
    reason: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    weekdays: Iterable[str | int] | None = None,
    start_time: time | str | None = None,
    duration: timedelta | None = None,
    time_zone: str | None = None,
) -> MaintenanceWindow:
    """A one-off window (``starts_at``, ``ends_at``) or a weekly one (``weekdays``, ``start_time``,
    ``duration``, ``time_zone``), never both."""
    one_off = starts_at is not None or ends_at is not None
    weekly = any(v is not None for v in (weekdays, start_time, duration, time_zone))
    if one_off == weekly:
        raise InvalidInput(
            "starts_at", "give either starts_at and ends_at (one-off) or weekdays, start_time, duration and time_zone"
        )
    common = (
        _pattern("host_pattern", host_pattern),
        _pattern("name_pattern", name_pattern),
        _text("created_by", created_by, MAX_WHO),
        _text("reason", reason, MAX_REASON),
    )
    if one_off:
        schedule = (*_window(starts_at, ends_at), None, None, None, None)
    else:
        for field, value in (("weekdays", weekdays), ("start_time", start_time), ("duration", duration)):
            if value is None:
                raise InvalidInput(field, "needed for a weekly window")
        if time_zone is None:
            raise InvalidInput("time_zone", "needed for a weekly window (an IANA name such as Europe/Berlin or UTC)")
        schedule = (
            None, None, list(parse_weekdays(weekdays)), parse_start_time(start_time), _duration(duration),
            parse_time_zone(time_zone),
        )  # fmt: skip
    cur = await conn.execute(
        "INSERT INTO maintenance_windows (host_pattern, name_pattern, created_by, reason,"  # noqa: S608
        " starts_at, ends_at, weekdays, start_time, duration, time_zone)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_WINDOW_COLUMNS}",
        (*common, *schedule),
    )
    return _window_of(await cur.fetchone())


async def delete_window(conn, window_id: int, now: datetime | None = None, by: str | None = None) -> bool:
    """Remove a window (``now``/``by`` for the log line); False when unknown."""
    if not _valid_id(window_id):
        return False
    cur = await conn.execute("DELETE FROM maintenance_windows WHERE id = %s", (window_id,))
    if cur.rowcount == 1 and by:
        log.info("maintenance window %d deleted by %s at %s", window_id, by, now)
    return cur.rowcount == 1


async def get_window(conn, window_id: int) -> MaintenanceWindow | None:
    if not _valid_id(window_id):
        return None
    cur = await conn.execute(
        f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows WHERE id = %s",  # noqa: S608
        (window_id,),
    )
    row = await cur.fetchone()
    return _window_of(row) if row else None


async def active_mutes(conn, now: datetime) -> list[Silence | MaintenanceWindow]:
    """Silences active at ``now`` and every window that may be (the evaluation round checks each alert)."""
    silences = [s for s in await list_silences(conn, now) if s.active(now)]
    windows = [w for w in await list_windows(conn, now) if w.active(now)]
    return [*silences, *windows]
