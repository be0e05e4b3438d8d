"""The alert engine on the real database: transitions with a controllable clock, silences, the outbox,
one evaluator among replicas, and Telegram delivery to a local HTTPS stand-in of the Bot API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from ansible_collections.quadstats.stack.services.backend.alerts.evaluate import evaluate
from ansible_collections.quadstats.stack.services.backend.alerts.rules import Rules
from ansible_collections.quadstats.stack.services.backend.alerts.telegram import TelegramClient, deliver_one
from ansible_collections.quadstats.stack.services.backend.migrations import apply_migrations

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BOT_TOKEN = "123456:canary-bot-token"  # noqa: S105 - a test canary, checked never to leak


def migrate(dsn):
    async def go():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await apply_migrations(conn)

    asyncio.run(go())
    return dsn


@pytest.fixture
def schema(db_dsn):
    return migrate(db_dsn)


def telegram_section(standin, directory, **extra):
    """``telegram`` settings for the stand-in, the bot token in a 0600 file in ``directory``."""
    token_file = directory / "bot-token"
    token_file.write_text("42:canary-bot-token\n")
    token_file.chmod(0o600)
    return {
        "enabled": True, "api_base_url": standin.base_url, "ca_file": str(standin.ca_file),
        "token_file": str(token_file), "chat_id": "-1001", "poll_interval_seconds": 0.2, **extra,
    }  # fmt: skip


def report(query, host, name, type_, value, *, at=NOW):
    query(
        "INSERT INTO metrics (host, name, type, value, reported_at) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (host, name) DO UPDATE SET value = EXCLUDED.value, reported_at = EXCLUDED.reported_at",
        (host, name, type_, value, at),
    )


def run_eval(dsn, now, rules=None, notify=True, public_url=None):
    async def go():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await evaluate(conn, rules or Rules(), now, notify=notify, public_url=public_url)

    return asyncio.run(go())


def test_ping_overdue_and_back_with_a_controllable_clock(schema, query):
    report(query, "web1", "host", "ping", None, at=NOW)
    assert run_eval(schema, NOW + timedelta(minutes=4)) == []
    fired = run_eval(schema, NOW + timedelta(minutes=5, seconds=30))
    assert [(t.host, t.name, t.transition) for t in fired] == [("web1", "host", "alert")]
    assert run_eval(schema, NOW + timedelta(minutes=6)) == []  # no repeats
    report(query, "web1", "host", "ping", None, at=NOW + timedelta(minutes=7))
    assert [t.transition for t in run_eval(schema, NOW + timedelta(minutes=7, seconds=10))] == ["ok"]
    events = query("SELECT transition, silenced FROM alert_events ORDER BY id")
    assert events == [("alert", False), ("ok", False)]
    texts = [r[0] for r in query("SELECT text FROM outbox ORDER BY id")]
    assert texts == ["<b>Alert:</b> web1 - host", "<b>OK again:</b> web1 - host"]
    assert query("SELECT state, state_since FROM metrics") == [("ok", NOW + timedelta(minutes=7, seconds=10))]


def test_sustained_window_and_silences(schema, query):
    rules = Rules(sustained_seconds=60)
    report(query, "web1", "/", "disk", "95", at=NOW)
    report(query, "db1", "/", "disk", "97", at=NOW)
    query(
        "INSERT INTO silences (host_pattern, name_pattern, starts_at, ends_at, created_by, reason)"
        " VALUES ('db*', '*', %s, %s, 'ops@example.org', 'disk swap tonight')",
        (NOW - timedelta(hours=1), NOW + timedelta(hours=1)),
    )
    assert run_eval(schema, NOW, rules) == []
    fired = run_eval(schema, NOW + timedelta(seconds=60), rules)
    assert sorted((t.host, t.silenced) for t in fired) == [("db1", True), ("web1", False)]
    assert [r[0] for r in query("SELECT text FROM outbox")] == ["<b>Alert:</b> web1 - / Value: 95"]


def test_metrics_not_reported_for_n_days_are_forgotten(schema, query):
    report(query, "web1", "container old-app", "ping", None, at=NOW - timedelta(days=3))
    report(query, "web1", "host", "ping", None, at=NOW)
    fired = run_eval(schema, NOW, Rules(expire_after_days=2))
    assert fired == []  # forgotten before it could alert
    assert query("SELECT name FROM metrics") == [("host",)]
    report(query, "web1", "container old-app", "ping", None, at=NOW - timedelta(days=3))
    assert [t.name for t in run_eval(schema, NOW, Rules())] == ["container old-app"]  # 0 = never forget


def test_one_evaluator_at_a_time_among_replicas(schema, query):
    for i in range(50):
        report(query, f"h{i:02d}", "/", "disk", "99", at=NOW)

    async def go():
        conns = [await psycopg.AsyncConnection.connect(schema, autocommit=True) for _replica in range(3)]
        try:
            return await asyncio.gather(*(evaluate(c, Rules(), NOW) for c in conns))
        finally:
            for c in conns:
                await c.close()

    results = asyncio.run(go())
    made = [len(r) for r in results if r is not None]
    assert sum(made) == 50
    assert query("SELECT count(*) FROM outbox") == [(50,)]


def deliver(dsn, standin, now, max_attempts=8, timeout=5.0):
    async def go():
        client = TelegramClient(standin.base_url, BOT_TOKEN, "-1001", timeout=timeout, verify=str(standin.ca_file))
        async with AsyncConnectionPool(dsn, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            try:
                return await deliver_one(pool, client, now, max_attempts)
            finally:
                await client.aclose()

    return asyncio.run(go())


def test_telegram_delivery_escaping_429_and_retries(schema, query, standin):
    report(query, "h&<b>", "/a#+%", "disk", "99&", at=NOW)
    run_eval(schema, NOW)
    standin.script(["429:7", "502", "ok"])
    first = deliver(schema, standin, NOW)
    assert first.retry_after == 7
    assert deliver(schema, standin, NOW + timedelta(seconds=6)) is None  # 429's retry_after honoured
    second = deliver(schema, standin, NOW + timedelta(seconds=7))
    assert not second.ok
    assert not second.permanent
    assert deliver(schema, standin, NOW + timedelta(seconds=7, milliseconds=500)) is None  # backoff
    assert deliver(schema, standin, NOW + timedelta(seconds=60)).ok
    assert deliver(schema, standin, NOW + timedelta(seconds=61)) is None  # sent once
    assert len(standin.requests) == 3
    sent = standin.requests[-1]
    assert sent["path"] == f"/bot{BOT_TOKEN}/sendMessage"
    assert sent["content_type"] == "application/json"
    assert sent["json"] == {
        "chat_id": "-1001",
        "text": "<b>Alert:</b> h&amp;&lt;b&gt; - /a#+% Value: 99&amp;",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    row = query("SELECT attempts, sent_at, failed_at, last_error FROM outbox")
    assert row[0][:3] == (3, NOW + timedelta(seconds=60), None)
    assert BOT_TOKEN not in (row[0][3] or "")


def test_telegram_hang_times_out_and_permanent_errors_give_up(schema, query, standin):
    report(query, "web1", "/", "disk", "99", at=NOW)
    run_eval(schema, NOW)
    standin.script(["hang:3", "400"])
    timed_out = deliver(schema, standin, NOW, timeout=0.5)
    assert timed_out.error == "timeout"
    gave_up = deliver(schema, standin, NOW + timedelta(minutes=5))
    assert gave_up.permanent
    assert query("SELECT attempts, failed_at IS NOT NULL, sent_at FROM outbox") == [(2, True, None)]
    assert deliver(schema, standin, NOW + timedelta(minutes=10)) is None


def test_bounded_attempts(schema, query, standin):
    report(query, "web1", "/", "disk", "99", at=NOW)
    run_eval(schema, NOW)
    standin.script(["500"] * 3)
    at = NOW
    for _attempt in range(3):
        at += timedelta(minutes=10)
        assert not deliver(schema, standin, at, max_attempts=3).ok
    assert query("SELECT attempts, failed_at FROM outbox") == [(3, at)]
