# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the pages read and change in the database apart from journal queries and silences.

Journal queries are ``journal_query``'s, silences and maintenance windows ``alerts.silences``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MetricRow:
    host: str
    name: str
    type: str
    value: str | None
    reported_at: datetime
    state: str
    state_since: datetime | None
    silenced: bool = False


async def list_metrics(conn, *, host: str | None = None) -> list[MetricRow]:
    """Current metrics, alerts first, then by host and name."""
    sql = "SELECT host, name, type, value, reported_at, state, state_since FROM metrics"
    params: tuple = ()
    if host:
        sql += " WHERE host = %s"
        params = (host,)
    cur = await conn.execute(sql + " ORDER BY state = 'alert' DESC, host, name", params)
    return [MetricRow(*row) for row in await cur.fetchall()]


async def list_hosts(conn) -> list[str]:
    cur = await conn.execute("SELECT DISTINCT host FROM metrics ORDER BY host")
    return [row[0] for row in await cur.fetchall()]


async def delete_metric(conn, host: str, name: str) -> bool:
    """Forget a metric (the seed's delete button); False when there was none."""
    cur = await conn.execute("DELETE FROM metrics WHERE host = %s AND name = %s", (host, name))
    return cur.rowcount > 0


@dataclass(frozen=True)
class AlertEvent:
    id: int
    at: datetime
    host: str
    name: str
    transition: str
    value: str | None
    silenced: bool
    outbox_id: int | None
    channel: str | None
    attempts: int | None
    sent_at: datetime | None
    failed_at: datetime | None
    last_error: str | None
    next_attempt_at: datetime | None

    @property
    def delivery(self) -> str:
        """One word for the notification's fate: silenced, unsent, sent, failed or pending."""
        if self.silenced:
            return "silenced"
        if self.outbox_id is None:
            return "unsent"
        if self.sent_at is not None:
            return "sent"
        if self.failed_at is not None:
            return "failed"
        return "pending"


async def alert_history(
    conn, *, host: str | None = None, before_id: int | None = None, limit: int = 50
) -> tuple[list[AlertEvent], bool]:
    """Transitions newest first with their notification, keyset-paged on the event id; (events, more)."""
    where, params = [], []
    if host:
        where.append("e.host = %s")
        params.append(host)
    if before_id is not None:
        where.append("e.id < %s")
        params.append(before_id)
    sql = (
        "SELECT e.id, e.at, e.host, e.name, e.transition, e.value, e.silenced,"  # noqa: S608 - fixed fragments
        " o.id, o.channel, o.attempts, o.sent_at, o.failed_at, o.last_error, o.next_attempt_at"
        " FROM alert_events e LEFT JOIN outbox o ON o.event_id = e.id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY e.id DESC LIMIT %s"
    )
    cur = await conn.execute(sql, (*params, limit + 1))
    rows = await cur.fetchall()
    return [AlertEvent(*row) for row in rows[:limit]], len(rows) > limit
