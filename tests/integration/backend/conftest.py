"""Fixtures: one real PostgreSQL 17 + TimescaleDB per session, a fresh database per test."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from harness.timescaledb import TimescaleDB, podman_available


@pytest.fixture(scope="session")
def timescaledb():
    if not podman_available():
        pytest.skip("needs rootful podman and runc on this machine (scripts/bootstrap.sh installs them)")
    server = TimescaleDB().start()
    yield server
    server.stop()


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
