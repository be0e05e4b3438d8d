# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One evaluation round in the database: rules over every metric, transitions, events, outbox rows.

The round is one transaction that first takes a transaction-scoped try-advisory-lock, so with
several replicas exactly one evaluates at a time (the others skip the round). A transition
updates the metric, records an ``alert_events`` row and, unless a silence or maintenance window
mutes it, an ``outbox`` row — all committed together or not at all (the transactional outbox): a
crash never loses a notification of a committed transition, and never notifies one that did not
commit. Alerts posted through the Alertmanager API (``external_alerts``) take the same path: a
state per label set, so a re-sent firing alert is no new transition. Firing, unmuted alerts are
repeated as reminders every ``reminder_minutes`` (per host/name overrides), muted ones never.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from ansible_collections.quadstats.stack.services.backend.alerts.rules import (
    ALERT,
    OK,
    REMINDER,
    Metric,
    Rules,
    Subject,
    decide,
    message_html,
)
from ansible_collections.quadstats.stack.services.backend.alerts.silences import (
    MaintenanceWindow,
    Silence,
    active_mutes,
    muted,
)
from ansible_collections.quadstats.stack.services.backend.ingest.labels import host_of

log = logging.getLogger("quadstats.backend")
ENGINE_LOCK = int.from_bytes(hashlib.sha256(b"quadstats.backend.alerts").digest()[:8], "big", signed=True)
METRIC, ALERTMANAGER = "metric", "alertmanager"
KEEP_RESOLVED_EXTERNAL = timedelta(days=7)  # resolved Alertmanager alerts are forgotten after this


class Transition(NamedTuple):
    host: str
    name: str
    transition: str  # "alert", "ok", or "reminder"
    value: str | None
    silenced: bool
    source: str = METRIC


@dataclass(frozen=True)
class Round:
    """What one round (or one Alertmanager post) decides with: the time, the mutes, where messages go."""

    conn: object
    now: datetime
    mutes: list[Silence | MaintenanceWindow]
    notify: bool = True
    public_url: str | None = None

    async def record(self, source: str, subject: Subject, transition: str) -> Transition:
        """An ``alert_events`` row and, unless muted (or notifications are off), an outbox row."""
        silenced = muted(self.mutes, subject.host, subject.name, self.now)
        cur = await self.conn.execute(
            "INSERT INTO alert_events (at, host, name, transition, value, silenced, source)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (self.now, subject.host, subject.name, transition, subject.value, silenced, source),
        )
        event_id = (await cur.fetchone())[0]
        if self.notify and not silenced:
            await self._queue(event_id, message_html(transition, subject, public_url=self.public_url))
        return Transition(subject.host, subject.name, transition, subject.value, silenced, source)

    async def remind(
        self, source: str, subject: Subject, every: timedelta | None, since: datetime, last: datetime | None
    ) -> Transition | None:
        """A reminder of a firing alert when one is due (``every`` after the last message) and it is not muted."""
        if every is None or not self.notify or (last or since) + every > self.now:
            return None
        if muted(self.mutes, subject.host, subject.name, self.now):
            return None
        await self._queue(None, message_html(REMINDER, subject, public_url=self.public_url, since=since))
        return Transition(subject.host, subject.name, REMINDER, subject.value, False, source)

    async def _queue(self, event_id: int | None, text: str) -> None:
        await self.conn.execute(
            "INSERT INTO outbox (event_id, text, created_at, next_attempt_at) VALUES (%s, %s, %s, %s)",
            (event_id, text, self.now, self.now),
        )


def notified(t: Transition) -> bool:
    return t.transition != OK and not t.silenced


async def evaluate(
    conn, rules: Rules, now: datetime, *, notify: bool = True, public_url: str | None = None
) -> list[Transition] | None:
    """Run one round on an autocommit connection; the transitions made, or None when another replica holds the lock."""
    async with conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ENGINE_LOCK,))
        if not (await cur.fetchone())[0]:
            return None
        if rules.expire_after_days > 0:
            cur = await conn.execute(
                "DELETE FROM metrics WHERE reported_at < %s RETURNING host, name",
                (now - timedelta(days=rules.expire_after_days),),
            )
            gone = await cur.fetchall()
            if gone:
                log.info("forgot %d metric(s) not reported for %s days: %s", len(gone), rules.expire_after_days,
                         ", ".join(f"{h}/{n}" for h, n in gone[:20]))  # fmt: skip
        round_ = Round(conn, now, await active_mutes(conn, now), notify, public_url)
        made = await _metrics_round(round_, rules)
        made += await external_round(round_, rules)
        if made:
            log.info("alert transitions: %s", ", ".join(f"{t.host}/{t.name} -> {t.transition}" for t in made))
        return made


async def _metrics_round(round_: Round, rules: Rules) -> list[Transition]:
    conn, now = round_.conn, round_.now
    # Byte order (COLLATE "C") = Python's sort order, the order ingest locks rows in: no deadlocks.
    cur = await conn.execute(
        "SELECT host, name, type, value, reported_at, state, condition_since, state_since, notified_at FROM metrics"
        ' ORDER BY host COLLATE "C", name COLLATE "C" FOR UPDATE'
    )
    made = []
    for row in await cur.fetchall():
        m, (state_since, last) = Metric(*row[:7]), row[7:]
        d = decide(m, rules, now)
        if d.transition is not None:
            t = await round_.record(METRIC, m, d.transition)
            made.append(t)
            await conn.execute(
                "UPDATE metrics SET state = %s, condition_since = %s, state_since = %s, notified_at = %s"
                " WHERE host = %s AND name = %s",
                (d.state, d.condition_since, now, now if notified(t) else None, m.host, m.name),
            )
            continue
        if d.state != m.state or d.condition_since != m.condition_since:
            await conn.execute(
                "UPDATE metrics SET state = %s, condition_since = %s WHERE host = %s AND name = %s",
                (d.state, d.condition_since, m.host, m.name),
            )
        if m.state == ALERT:
            every = rules.reminder_for(m.host, m.name)
            t = await round_.remind(METRIC, m, every, state_since or now, last)
            if t is not None:
                made.append(t)
                await conn.execute(
                    "UPDATE metrics SET notified_at = %s WHERE host = %s AND name = %s", (now, m.host, m.name)
                )
    return made


def external_subject(labels: dict, annotations: dict) -> Subject:
    """Host (``host``/``hostname``/``instance`` label), name (``alertname``) and value (summary) of a posted alert."""
    value = annotations.get("summary") or annotations.get("description") or None
    return Subject(host_of(labels) or "", labels.get("alertname") or "alert", value)


async def external_round(round_: Round, rules: Rules, fingerprints: list[bytes] | None = None) -> list[Transition]:
    """Transitions and reminders of Alertmanager-API alerts (those in ``fingerprints``, or every one that may change).

    A posted alert fires until its ``endsAt`` or, without one, ``alertmanager_resolve_minutes`` after it was
    last posted (Alertmanager's ``resolve_timeout``). Rows are locked in fingerprint order, as the post locks them.
    """
    conn, now = round_.conn, round_.now
    resolve = timedelta(minutes=rules.alertmanager_resolve_minutes)
    if fingerprints is None:
        await conn.execute(
            "DELETE FROM external_alerts WHERE state = 'ok' AND coalesce(ends_at, received_at + %s) < %s",
            (resolve, now - KEEP_RESOLVED_EXTERNAL),
        )
        where, params = "state = 'alert' OR coalesce(ends_at, received_at + %s) > %s", (resolve, now)
    else:
        where, params = "fingerprint = ANY(%s)", (fingerprints,)
    cur = await conn.execute(
        "SELECT fingerprint, labels, annotations, ends_at, received_at, state, state_since, notified_at"  # noqa: S608
        f" FROM external_alerts WHERE {where} ORDER BY fingerprint FOR UPDATE",
        params,
    )
    made = []
    for key, labels, notes, ends_at, received_at, state, state_since, last in await cur.fetchall():
        firing = now < (ends_at if ends_at is not None else received_at + resolve)
        subject = external_subject(labels, notes)
        if firing != (state == ALERT):
            t = await round_.record(ALERTMANAGER, subject, ALERT if firing else OK)
            made.append(t)
            await conn.execute(
                "UPDATE external_alerts SET state = %s, state_since = %s, notified_at = %s WHERE fingerprint = %s",
                (t.transition, now, now if notified(t) else None, key),
            )
        elif firing:
            every = rules.reminder_for(subject.host, subject.name)
            t = await round_.remind(ALERTMANAGER, subject, every, state_since or now, last)
            if t is not None:
                made.append(t)
                await conn.execute("UPDATE external_alerts SET notified_at = %s WHERE fingerprint = %s", (now, key))
    return made
