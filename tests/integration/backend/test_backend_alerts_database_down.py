"""The database-unreachable meta-alert, for real: a running service process, the test database's
container stopped and started again, Telegram messages to the local HTTPS stand-in of the Bot API
(not Telegram itself). One alert per outage (even when Telegram fails at first), one resolve, no flood."""

from __future__ import annotations

import time

import pytest
import yaml
from test_alerts import telegram_section
from test_replicas import Replica, wait_for

from harness.telegram_standin import TelegramStandIn
from harness.timescaledb import free_tcp_port

pytestmark = pytest.mark.slow
THRESHOLD = 3


@pytest.fixture
def standin():
    server = TelegramStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def replica(settings_data, standin, tmp_path):
    port = free_tcp_port()
    config = tmp_path / "backend.yml"
    config.write_text(
        yaml.safe_dump({
            **settings_data,
            "listen": {"host": "127.0.0.1", "port": port},
            "alerts": {"evaluation_interval_seconds": 1, "database_unreachable_seconds": THRESHOLD},
            "telegram": telegram_section(standin, tmp_path, timeout_seconds=2),
        })
    )  # fmt: skip
    service = Replica(config, port)
    try:
        wait_for(service.healthy, timeout=60, what="the service")
        yield service
    finally:
        errors = service.stop()
        assert "canary-bot-token" not in errors


def watchdog_messages(standin):
    return [r for r in standin.requests if "database" in r["json"]["text"]]


def test_one_alert_and_one_resolve_per_outage(replica, standin, timescaledb):
    standin.script(["500"])  # Telegram fails the first attempt: retried, still one message
    timescaledb.podman("stop", "--time", "5", timescaledb.name)
    try:
        wait_for(lambda: any(r["answer"] == "ok" for r in watchdog_messages(standin)), timeout=60, what="the alert")
        time.sleep(4 * THRESHOLD)  # many more checks while the database stays down: no second message
        down = watchdog_messages(standin)
        assert [r["answer"] for r in down] == ["500", "ok"]
        text = down[-1]["json"]["text"]
        assert text.startswith("<b>Alert:</b> quadstats backend on ")
        assert f"database postgres@127.0.0.1:{timescaledb.port}/" in text
        assert "unreachable for" in text
        assert not replica.healthy()
    finally:
        timescaledb.podman("start", timescaledb.name)
        timescaledb.wait_ready()
    wait_for(lambda: len(watchdog_messages(standin)) == 3, timeout=60, what="the resolve")
    wait_for(replica.healthy, timeout=60, what="the service healthy again")
    time.sleep(2 * THRESHOLD)
    after = watchdog_messages(standin)
    assert len(after) == 3
    assert after[-1]["json"]["text"].startswith("<b>OK again:</b> quadstats backend on ")
    assert "reachable again after" in after[-1]["json"]["text"]
    assert after[-1]["json"]["parse_mode"] == "HTML"
