# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Journal retention: drop hypertable chunks older than ``retention.journal_days``.

Debian's TimescaleDB is the Apache-licensed edition, which has no ``add_retention_policy``; the
service therefore drops old chunks itself with ``drop_chunks`` every
``retention.interval_seconds``. Several replicas may run this loop: a try-advisory-lock makes one
of them do the work each round and the others skip it. With a full (``timescale``-licensed)
edition connected, a retention policy is installed instead and TimescaleDB's own job does it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

log = logging.getLogger("quadstats.backend")
RETENTION_LOCK = int.from_bytes(hashlib.sha256(b"quadstats.backend.retention").digest()[:8], "big", signed=True)


async def timescaledb_license(conn) -> str:
    cur = await conn.execute("SHOW timescaledb.license")
    return (await cur.fetchone())[0]


def uses_retention_policy(license_: str) -> bool:
    """Only the full (``timescale``-licensed) edition runs retention policies; anything else drops chunks itself."""
    return license_ == "timescale"


async def install_retention_policy(conn, days: int) -> None:
    """Replace the journal's retention policy by one dropping chunks older than ``days`` (full edition only)."""
    await conn.execute("SELECT remove_retention_policy('journal', if_exists => true)")
    await conn.execute("SELECT add_retention_policy('journal', drop_after => %s)", (timedelta(days=days),))


async def apply_retention(conn, days: int, now: datetime) -> int | None:
    """One retention round on an autocommit connection: chunks dropped, 0 with a policy, None when skipped.

    Skipped (None) when another session holds the retention lock.
    """
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (RETENTION_LOCK,))
    if not (await cur.fetchone())[0]:
        return None
    try:
        if uses_retention_policy(await timescaledb_license(conn)):
            await install_retention_policy(conn, days)
            return 0
        cur = await conn.execute("SELECT drop_chunks('journal', older_than => %s)", (now - timedelta(days=days),))
        dropped = len(await cur.fetchall())
        if dropped:
            log.info("retention: dropped %d journal chunk(s) older than %d days", dropped, days)
        return dropped
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK,))


async def retention_round(pool, days: int, clock: Callable[[], datetime]) -> None:
    async with pool.connection() as conn:
        await apply_retention(conn, days, clock())
