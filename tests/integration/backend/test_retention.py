"""Journal retention on the Apache-licensed TimescaleDB: drop_chunks by the service, one replica at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg

from ansible_collections.quadstats.stack.services.backend.retention import RETENTION_LOCK, apply_retention

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def run(dsn, days, now=NOW):
    async def go():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await apply_retention(conn, days, now)

    return asyncio.run(go())


def add_rows(query, ages_in_days):
    for i, age in enumerate(ages_in_days):
        query(
            "INSERT INTO journal (time, hash, message, source) VALUES (%s, %s, 'm', 'journal')",
            (NOW - timedelta(days=age), bytes([i]) * 32),
        )


def test_old_chunks_are_dropped_recent_rows_kept(client, db_dsn, query):
    assert not client.app.state.tasks["retention"].done()
    add_rows(query, [30, 20, 8.5, 6, 0.1])
    dropped = run(db_dsn, days=7)
    assert dropped == 3
    ages = sorted(round((NOW - t).total_seconds() / 86400, 1) for (t,) in query("SELECT time FROM journal"))
    assert ages == [0.1, 6.0]
    assert run(db_dsn, days=7) == 0


def test_another_replica_holding_the_lock_means_skip(client, db_dsn, query):
    add_rows(query, [30])
    with psycopg.connect(db_dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK,))
        assert run(db_dsn, days=7) is None
    assert query("SELECT count(*) FROM journal") == [(1,)]
    assert run(db_dsn, days=7) == 1
