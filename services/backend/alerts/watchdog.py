# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The meta-alert when the service's own database is unreachable.

The outbox lives in the database, so this one message goes to Telegram directly: when a fresh
connection (``SELECT 1``) has failed for longer than ``alerts.database_unreachable_seconds``, one
alert; when the database answers again, one resolve; nothing in between (no flood), whatever the
outage's length. A failed send is retried at the next check (after Telegram's ``retry_after``).
The state lives in the process, so each replica sends its own pair, naming itself
(docs/backend.md, "When the database is unreachable").
"""

from __future__ import annotations

import asyncio
import html
import logging
import socket
import time
from collections.abc import Awaitable, Callable

import psycopg

from ansible_collections.quadstats.stack.services.backend.alerts.telegram import SendResult

log = logging.getLogger("quadstats.backend")
ALERT, RESOLVE = "alert", "resolve"


class OutageTracker:
    """When to send the alert and the resolve, from a series of reachability checks (pure)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.down_since: float | None = None
        self.alerted = False  # the alert was delivered, so a resolve is owed

    def due(self, reachable: bool, t: float) -> str | None:
        """The message to send after a check at ``t``, if any."""
        if reachable:
            if self.alerted:
                return RESOLVE
            self.down_since = None  # back before the threshold (or before the alert got out): nothing to say
            return None
        if self.down_since is None:
            self.down_since = t
        if not self.alerted and t - self.down_since >= self.threshold:
            return ALERT
        return None

    def delivered(self, kind: str) -> None:
        if kind == ALERT:
            self.alerted = True
        else:
            self.alerted, self.down_since = False, None


class DatabaseWatchdog:
    """``round()`` for :func:`tasks.periodic`: check the database, send what :class:`OutageTracker` says."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        describe: str,
        threshold: float,
        send: Callable[[str], Awaitable[SendResult]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conninfo, self._send, self._clock = conninfo, send, clock
        self.describe = describe  # user@host:port/dbname, for the message
        self.tracker = OutageTracker(threshold)
        self.interval = max(0.5, min(10.0, threshold / 4))
        self.check_timeout = max(1.0, min(10.0, threshold / 2))
        self.replica = socket.gethostname()
        self._retry_at = 0.0

    async def reachable(self) -> bool:
        """A fresh connection and ``SELECT 1`` (not the pool: its connections may be stale or all busy)."""
        try:
            async with asyncio.timeout(self.check_timeout):
                conn = await psycopg.AsyncConnection.connect(self._conninfo(), autocommit=True)
                async with conn:
                    await conn.execute("SELECT 1")
        except Exception as exc:  # every failure means "not reachable"; the round must not end
            log.debug("database check failed: %s", type(exc).__name__)
            return False
        return True

    def text(self, kind: str, seconds: float) -> str:
        who = html.escape(f"quadstats backend on {self.replica}", quote=False)
        db = html.escape(self.describe, quote=False)
        if kind == ALERT:
            return f"<b>Alert:</b> {who}: database {db} unreachable for {seconds:.0f} s"
        return f"<b>OK again:</b> {who}: database {db} reachable again after {seconds:.0f} s"

    async def round(self) -> bool:
        reachable = await self.reachable()
        t = self._clock()
        kind = self.tracker.due(reachable, t)
        if kind is None or t < self._retry_at:
            return False
        result = await self._send(self.text(kind, t - self.tracker.down_since))
        if result.ok:
            self.tracker.delivered(kind)
            log.warning("database %s: %s sent to Telegram", self.describe, kind)
        else:
            self._retry_at = t + (result.retry_after or self.interval)
            log.warning("database %s: the %s message failed (%s); retrying", self.describe, kind, result.error)
        return False
