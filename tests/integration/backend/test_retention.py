"""Journal retention on the Apache-licensed TimescaleDB: drop_chunks by the service, one replica at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ansible_collections.quadstats.stack.services.backend.retention import (
    RETENTION_LOCK,
    apply_retention,
    install_retention_policy,
    uses_retention_policy,
)

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


@pytest.mark.parametrize(
    ("license_", "policy"), [("timescale", True), ("apache", False), ("", False), ("Timescale", False)]
)
def test_the_license_value_decides_policy_or_drop_chunks(license_, policy):
    assert uses_retention_policy(license_) is policy


def test_this_server_is_the_apache_edition_and_cannot_become_the_full_one(client, db_dsn, query):
    """What the full-edition branch would meet here: the server says apache, refuses to switch, and
    refuses the policy calls by license. The calls themselves resolve (names and argument types
    match TimescaleDB's functions: a wrong one is UndefinedFunction); that a full edition then
    runs the policy's job is not proven here (no such edition runs on Debian's packages)."""
    assert query("SHOW timescaledb.license") == [("apache",)]
    with psycopg.connect(db_dsn, autocommit=True) as conn, pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SET timescaledb.license = 'timescale'")

    async def install():
        async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
            await install_retention_policy(conn, 7)

    with pytest.raises(psycopg.errors.FeatureNotSupported, match='not supported under the current "apache" license'):
        asyncio.run(install())
    with psycopg.connect(db_dsn, autocommit=True) as conn, pytest.raises(psycopg.errors.UndefinedFunction):
        conn.execute("SELECT add_retention_policy('journal', drop_afterx => interval '7 days')")
