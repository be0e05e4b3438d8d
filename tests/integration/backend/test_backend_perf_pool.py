"""The pool's checkout check: no round trip for a quiet idle connection, a new one for a dead one."""

from __future__ import annotations

import asyncio

import psycopg

from ansible_collections.quadstats.stack.services.backend.app import open_pool
from ansible_collections.quadstats.stack.services.backend.settings import parse_settings


def test_quiet_connection_is_reused_dead_one_replaced(settings_data, db_dsn):
    data = {**settings_data, "database": {**settings_data["database"], "pool_min_size": 1, "pool_max_size": 1}}

    async def go():
        pool = await open_pool(parse_settings(data))
        try:
            async with pool.connection() as conn:
                first = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
            async with pool.connection() as conn:  # quiet socket: the same server process answers
                assert (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0] == first
            with psycopg.connect(db_dsn, autocommit=True) as admin:  # what a database restart does to it
                assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone()[0]
            await asyncio.sleep(0.5)  # the server's error and close reach the idle socket
            async with pool.connection(timeout=30) as conn:
                second = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
            assert second != first
        finally:
            await pool.close()

    asyncio.run(go())
