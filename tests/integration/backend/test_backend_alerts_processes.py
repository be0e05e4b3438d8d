"""The alert engine in real service processes, with Telegram messages to the local HTTPS stand-in of
the Bot API (not Telegram itself):

- the database-unreachable meta-alert: the test database's container stopped and started again;
  one alert per outage (even when Telegram fails at first), one resolve, no flood;
- the same Alertmanager alerts posted concurrently to two replicas notify once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml
from test_alerts import telegram_section
from test_replicas import Replica, wait_for

from harness.timescaledb import free_tcp_port

pytestmark = pytest.mark.slow
THRESHOLD = 3


@pytest.fixture
def replicas(settings_data, standin, tmp_path):
    """``start(**alert_settings) -> Replica``: a service process on its own port, stopped at the end."""
    started = []

    def start(**alerts):
        port = free_tcp_port()
        config = tmp_path / f"backend-{port}.yml"
        config.write_text(
            yaml.safe_dump({
                **settings_data,
                "listen": {"host": "127.0.0.1", "port": port},
                "alerts": {"evaluation_interval_seconds": 1, **alerts},
                "telegram": telegram_section(standin, tmp_path, timeout_seconds=2),
            })
        )  # fmt: skip
        service = Replica(config, port)
        started.append(service)
        wait_for(service.healthy, timeout=60, what="the service")
        return service

    yield start
    errors = [service.stop() for service in started]
    assert not any("canary-bot-token" in err for err in errors)


@pytest.fixture
def replica(replicas):
    return replicas(database_unreachable_seconds=THRESHOLD)


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


def test_alerts_posted_to_two_replicas_at_once_notify_once(replicas, standin, make_token, query):
    first, second = replicas(), replicas()
    token = make_token("*")
    now = datetime.now(UTC)
    alerts = [{"labels": {"alertname": f"Load{i}", "host": "web1"}} for i in range(5)]

    def post_everywhere(ends_at):
        batch = [{**a, "endsAt": ends_at.isoformat()} for a in alerts]

        def post(base):
            answer = httpx.post(f"{base}/api/v2/alerts", json=batch, headers={"Authorization": f"Bearer {token}"})
            return answer.status_code

        with ThreadPoolExecutor(8) as pool:  # Prometheus HA pairs: the same alerts to both replicas at once
            assert set(pool.map(post, [first.base, second.base] * 8)) == {200}

    def delivered():
        return [r["json"]["text"] for r in standin.requests if r["answer"] == "ok"]

    post_everywhere(now + timedelta(hours=1))
    wait_for(lambda: len(delivered()) >= 5, what="5 alerts")
    post_everywhere(now + timedelta(hours=1))  # re-sent while firing: nothing new
    post_everywhere(now - timedelta(seconds=1))  # resolved
    wait_for(lambda: len(delivered()) >= 10, what="5 recoveries")
    time.sleep(3)  # more evaluation and delivery rounds on both replicas: nothing more may arrive
    texts = delivered()
    assert sorted(texts) == sorted(
        [f"<b>Alert:</b> web1 - Load{i}" for i in range(5)] + [f"<b>OK again:</b> web1 - Load{i}" for i in range(5)]
    )
    assert query("SELECT count(*) FROM alert_events WHERE source = 'alertmanager'") == [(10,)]
