# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One evaluation round in the database: rules over every metric, transitions, events, outbox rows.

The round is one transaction that first takes a transaction-scoped try-advisory-lock, so with
several replicas exactly one evaluates at a time (the others skip the round). A transition
updates the metric, records an ``alert_events`` row and, unless a silence mutes it, an ``outbox``
row — all committed together or not at all (the transactional outbox): a crash never loses a
notification of a committed transition, and never notifies one that did not commit.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from ansible_collections.quadstats.stack.services.backend.alerts.rules import (
    Metric,
    Rules,
    decide,
    message_html,
)
from ansible_collections.quadstats.stack.services.backend.alerts.silences import active_mutes, muted

log = logging.getLogger("quadstats.backend")
ENGINE_LOCK = int.from_bytes(hashlib.sha256(b"quadstats.backend.alerts").digest()[:8], "big", signed=True)


class Transition(NamedTuple):
    host: str
    name: str
    transition: str
    value: str | None
    silenced: bool


async def evaluate(conn, rules: Rules, now: datetime, *, notify: bool = True) -> list[Transition] | None:
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
        mutes = await active_mutes(conn, now)
        # Byte order (COLLATE "C") = Python's sort order, the order ingest locks rows in: no deadlocks.
        cur = await conn.execute(
            "SELECT host, name, type, value, reported_at, state, condition_since FROM metrics"
            ' ORDER BY host COLLATE "C", name COLLATE "C" FOR UPDATE'
        )
        metrics = [Metric(*row) for row in await cur.fetchall()]
        made = []
        for m in metrics:
            d = decide(m, rules, now)
            if d.state == m.state and d.condition_since == m.condition_since:
                continue
            await conn.execute(
                "UPDATE metrics SET state = %s, condition_since = %s,"
                " state_since = CASE WHEN %s THEN %s ELSE state_since END WHERE host = %s AND name = %s",
                (d.state, d.condition_since, d.transition is not None, now, m.host, m.name),
            )
            if d.transition is None:
                continue
            silenced = muted(mutes, m.host, m.name, now)
            cur = await conn.execute(
                "INSERT INTO alert_events (at, host, name, transition, value, silenced)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (now, m.host, m.name, d.transition, m.value, silenced),
            )
            event_id = (await cur.fetchone())[0]
            if notify and not silenced:
                await conn.execute(
                    "INSERT INTO outbox (event_id, text, created_at, next_attempt_at) VALUES (%s, %s, %s, %s)",
                    (event_id, message_html(d.transition, m), now, now),
                )
            made.append(Transition(m.host, m.name, d.transition, m.value, silenced))
        if made:
            log.info("alert transitions: %s", ", ".join(f"{t.host}/{t.name} -> {t.transition}" for t in made))
        return made
