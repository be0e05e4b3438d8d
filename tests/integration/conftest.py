"""Fixtures shared by the integration tests of several directories."""

from __future__ import annotations

import pytest

from harness.telegram_standin import TelegramStandIn
from harness.timescaledb import TimescaleDB, podman_available


@pytest.fixture(scope="session")
def timescaledb():
    """One PostgreSQL 17 + TimescaleDB server for the whole run (tests make their own databases)."""
    if not podman_available():
        pytest.skip("needs rootful podman and runc on this machine (scripts/bootstrap.sh installs them)")
    server = TimescaleDB().start()
    yield server
    server.stop()


@pytest.fixture
def standin():
    """The local HTTPS stand-in of Telegram's Bot API (records messages; can answer 429, 5xx or hang)."""
    server = TelegramStandIn().start()
    yield server
    server.stop()
