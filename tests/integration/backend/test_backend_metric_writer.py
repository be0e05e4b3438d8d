"""The group commit of ``POST /metric`` (``ingest.metric.MetricWriter``) on the real database: requests
written together are each answered only after the commit, the last report of a (host, name) wins,
a row the database refuses fails only its own request, and a database error reaches every request
of the group (the endpoint answers 503), with nothing answered as stored that is not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from ansible_collections.quadstats.stack.services.backend import migrations
from ansible_collections.quadstats.stack.services.backend.ingest.metric import MetricRow, MetricWriter

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# A trigger standing in for any row the database refuses (not a connection problem).
REFUSE_NAME = """
CREATE FUNCTION refuse_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'refused' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_name BEFORE INSERT OR UPDATE ON metrics FOR EACH ROW EXECUTE FUNCTION refuse_name();
"""


def row(name, value, host="web1"):
    return MetricRow(host, name, "disk", value, AT)


def run(db_dsn, scenario):
    """Run ``scenario(writer, statements)`` on a migrated database; ``statements()`` counts upserts so far."""

    async def go():
        async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
            await migrations.apply_migrations(conn)
            await conn.execute(REFUSE_NAME)
        pool = AsyncConnectionPool(db_dsn, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False)
        await pool.open(wait=True)
        try:
            return await scenario(MetricWriter(pool), pool)
        finally:
            await pool.close()

    return asyncio.run(go())


def stored(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        return conn.execute("SELECT host, name, value FROM metrics ORDER BY host, name").fetchall()


def test_concurrent_requests_are_stored_before_they_are_answered(db_dsn):
    async def scenario(writer, _pool):
        async def one(i):
            count = await writer.upsert([row(f"/fs{i}", str(i)), row(f"/fs{i}", str(i + 1000))])
            # answered: the row is committed, visible to another connection
            async with await psycopg.AsyncConnection.connect(db_dsn) as other:
                cur = await other.execute("SELECT value FROM metrics WHERE name = %s", (f"/fs{i}",))
                return count, await cur.fetchone()

        return await asyncio.gather(*(one(i) for i in range(40)))

    answers = run(db_dsn, scenario)
    assert answers == [(1, (str(i + 1000),)) for i in range(40)]  # merged within a request: its last wins
    assert len(stored(db_dsn)) == 40


def test_later_request_of_one_group_wins(db_dsn):
    async def scenario(writer, _pool):
        # queued in this order before the writer runs: one group, the later report wins
        return await asyncio.gather(writer.upsert([row("/", "10")]), writer.upsert([row("/", "20"), row("/a", "1")]))

    assert run(db_dsn, scenario) == [1, 2]
    assert stored(db_dsn) == [("web1", "/", "20"), ("web1", "/a", "1")]


def test_a_refused_row_fails_only_its_own_request(db_dsn):
    async def scenario(writer, _pool):
        return await asyncio.gather(
            writer.upsert([row("/", "1")]),
            writer.upsert([row("refused", "2"), row("/b", "3")]),
            writer.upsert([row("/c", "4", host="web2")]),
            return_exceptions=True,
        )

    first, refused, third = run(db_dsn, scenario)
    assert (first, third) == (1, 1)
    assert isinstance(refused, psycopg.errors.RaiseException)
    # the refused request's other row is not stored either: its statement failed as a whole
    assert stored(db_dsn) == [("web1", "/", "1"), ("web2", "/c", "4")]


def test_a_database_error_reaches_every_request_of_the_group(db_dsn):
    async def scenario(writer, pool):
        await writer.upsert([row("/before", "1")])
        await pool.close()  # every checkout now fails as the pool does when the database is away
        return await asyncio.gather(*(writer.upsert([row(f"/x{i}", "1")]) for i in range(5)), return_exceptions=True)

    answers = run(db_dsn, scenario)
    assert all(isinstance(a, psycopg.OperationalError) for a in answers), answers
    assert stored(db_dsn) == [("web1", "/before", "1")]


@pytest.mark.parametrize("rows", [[], [row("/", "1")] * 3])
def test_empty_and_repeated_rows(db_dsn, rows):
    async def scenario(writer, _pool):
        return await writer.upsert(rows)

    assert run(db_dsn, scenario) == len({(r.host, r.name) for r in rows})
