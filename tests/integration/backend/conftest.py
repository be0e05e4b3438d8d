"""Fixtures: one real PostgreSQL 17 + TimescaleDB per session, a fresh database per test, the app on it."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from ansible_collections.quadstats.stack.services.backend.app import create_app
from ansible_collections.quadstats.stack.services.backend.auth import add_token
from ansible_collections.quadstats.stack.services.backend.settings import parse_settings


@pytest.fixture
def database(timescaledb):
    """The name of a new, empty database (dropped after the test)."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(timescaledb.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(timescaledb.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def db_dsn(timescaledb, database):
    return timescaledb.dsn(database)


@pytest.fixture
def settings_data(timescaledb, database, tmp_path):
    """A settings mapping for ``database`` (the password in a 0600 file, as LoadCredential gives it)."""
    pwfile = tmp_path / "db-password"
    pwfile.write_text(timescaledb.password + "\n")
    pwfile.chmod(0o600)
    return {
        "database": {
            "host": timescaledb.host,
            "port": timescaledb.port,
            "dbname": database,
            "user": "postgres",
            "password_file": str(pwfile),
            "sslmode": "disable",
            "pool_min_size": 1,
            "pool_max_size": 4,
        }
    }


@pytest.fixture
def app_factory(settings_data):
    """``make(clock=None, **setting_overrides) -> TestClient`` with the lifespan (pool, migrations) running."""
    clients = []

    def make(clock=None, **sections):
        data = {**settings_data, **sections}
        app = create_app(parse_settings(data), **({"clock": clock} if clock else {}))
        client = TestClient(app, raise_server_exceptions=True)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_factory):
    return app_factory()


@pytest.fixture
def make_token(db_dsn):
    """``make_token(host) -> token`` stored (hashed) in the test database (after the app migrated it)."""

    def make(host):
        async def run():
            async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
                return await add_token(conn, host)

        return asyncio.run(run())

    return make


@pytest.fixture
def query(db_dsn):
    """``query(sql, params=()) -> list of rows`` (``[]`` for a statement without rows) on the test database."""

    def run(sql, params=()):
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    return run
