"""Schema migrations on the real database: from empty, from the previous version, concurrently, guarded."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from ansible_collections.quadstats.stack.services.backend import migrations
from ansible_collections.quadstats.stack.services.backend.migrations import (
    LATEST,
    MIGRATIONS,
    Migration,
    MigrationError,
    apply_migrations,
)


def run(dsn, target=None, migs=MIGRATIONS):
    async def go():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await apply_migrations(conn, target, migs)

    return asyncio.run(go())


def tables(query):
    return {r[0] for r in query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_from_empty_database_to_latest_and_idempotent(db_dsn, query):
    assert run(db_dsn) == list(range(1, LATEST + 1))
    assert {"metrics", "ingest_tokens", "journal", "external_alerts", "schema_migrations"} <= tables(query)
    hypertables = {r[0] for r in query("SELECT hypertable_name FROM timescaledb_information.hypertables")}
    assert hypertables == {"journal"}
    assert run(db_dsn) == []
    assert [r[0] for r in query("SELECT version FROM schema_migrations ORDER BY version")] == list(range(1, LATEST + 1))


def test_from_previous_version_keeps_data(db_dsn, query):
    assert run(db_dsn, target=LATEST - 1) == list(range(1, LATEST))
    query("INSERT INTO metrics (host, name, type, value, reported_at) VALUES ('h1', '/', 'disk', '42', now())")
    assert run(db_dsn) == [LATEST]
    assert query("SELECT host, name, value FROM metrics") == [("h1", "/", "42")]


def test_every_step_applies_on_its_predecessor(db_dsn):
    for version in range(1, LATEST + 1):
        assert run(db_dsn, target=version) == [version]


def test_concurrent_starts_apply_each_migration_once(db_dsn, query):
    async def go():
        conns = [await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) for _number in range(4)]
        try:
            return await asyncio.gather(*(apply_migrations(c) for c in conns))
        finally:
            for c in conns:
                await c.close()

    results = asyncio.run(go())
    applied = sorted(v for result in results for v in result)
    assert applied == list(range(1, LATEST + 1))
    assert query("SELECT count(*) FROM schema_migrations") == [(LATEST,)]


def test_a_changed_released_migration_is_refused(db_dsn):
    run(db_dsn)
    edited = (*MIGRATIONS[:-1], Migration(LATEST, MIGRATIONS[-1].name, MIGRATIONS[-1].sql + "\n-- edited"))
    with pytest.raises(MigrationError, match=f"migration {LATEST} .* differs"):
        run(db_dsn, migs=edited)


def test_a_database_newer_than_the_release_is_refused(db_dsn):
    run(db_dsn)
    with pytest.raises(MigrationError, match=f"schema is at version {LATEST}, newer than this release knows"):
        run(db_dsn, migs=MIGRATIONS[:-1])


def test_a_failing_migration_leaves_the_previous_version_and_releases_the_lock(db_dsn, query):
    broken = (*MIGRATIONS, Migration(LATEST + 1, "broken", "CREATE TABLE x (a int); SELECT no_such_function();"))
    with pytest.raises(psycopg.errors.UndefinedFunction):
        run(db_dsn, migs=broken)
    assert query("SELECT max(version) FROM schema_migrations") == [(LATEST,)]
    assert "x" not in tables(query)
    locks = query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
        (migrations.MIGRATION_LOCK & 0xFFFFFFFF,),
    )
    assert locks == [(0,)]
