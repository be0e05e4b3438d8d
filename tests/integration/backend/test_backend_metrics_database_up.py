"""/metrics says whether the service reaches its database (``quadstats_backend_database_up``): the
real database refusing new connections (``ALLOW_CONNECTIONS false`` and its sessions ended) turns
it to 0 while /metrics still answers, and it returns to 1 when the database takes connections."""

from __future__ import annotations

import time

import psycopg

from harness.backend_testing import bearer

UP = "quadstats_backend_database_up"


def gauge(client, name):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    [line] = [line for line in answer.text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def test_database_up_follows_the_database(client, make_token, timescaledb, database):
    token = make_token("web1")
    assert gauge(client, UP) == 1.0
    with psycopg.connect(timescaledb.dsn(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        try:
            assert gauge(client, UP) == 0.0
            refused = client.post("/metric", json={"host": "web1", "name": "/", "type": "disk"}, headers=bearer(token))
            assert refused.status_code == 503  # not stored, and not answered as if it were
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    # the pool reconnects in the background, with its own backoff: wait for it, generously
    deadline = time.monotonic() + 90
    while gauge(client, UP) != 1.0:
        assert time.monotonic() < deadline, "database_up stayed 0 after the database took connections again"
        time.sleep(0.5)
    stored = client.post("/metric", json={"host": "web1", "name": "/", "type": "disk"}, headers=bearer(token))
    assert stored.status_code == 200
