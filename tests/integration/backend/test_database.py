"""What Debian trixie's TimescaleDB build offers (the facts docs/backend.md states), on the real server."""

from __future__ import annotations

import psycopg
import pytest


def test_server_is_postgresql_17_with_apache_licensed_timescaledb(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        assert conn.info.server_version // 10000 == 17
        conn.execute("CREATE EXTENSION timescaledb")
        assert conn.execute("SHOW timescaledb.license").fetchone()[0] == "apache"
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]
        assert version.startswith("2.")


def test_apache_edition_lacks_retention_policies_but_drop_chunks_works(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION timescaledb")
        conn.execute("CREATE TABLE t (time timestamptz NOT NULL, v int)")
        conn.execute("SELECT create_hypertable('t', by_range('time', INTERVAL '1 day'))")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="apache"):
            conn.execute("SELECT add_retention_policy('t', INTERVAL '7 days')")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="apache"):
            conn.execute("ALTER TABLE t SET (timescaledb.compress)")
        conn.execute("INSERT INTO t VALUES (now() - INTERVAL '30 days', 1), (now(), 2)")
        dropped = conn.execute("SELECT drop_chunks('t', older_than => now() - INTERVAL '7 days')").fetchall()
        assert len(dropped) == 1
        assert conn.execute("SELECT array_agg(v) FROM t").fetchone()[0] == [2]
