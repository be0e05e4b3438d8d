"""The alert engine on the real database with a controllable clock: reminders (per host/name overrides,
none while muted), Alertmanager-API alerts as engine transitions (dedup, silences, outbox -> Telegram
exactly once, resolve by endsAt and by resolve timeout) and the public_url link. Telegram is the
local HTTPS stand-in of the Bot API (tests/harness/telegram_standin.py), not Telegram itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from test_alerts import migrate, report, run_eval, telegram_section

from ansible_collections.quadstats.stack.services.backend.alerts.rules import Override, Rules
from harness.backend_testing import Clock, bearer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def minutes(n):
    return NOW + timedelta(minutes=n)


def silence(query, host, start, end):
    query(
        "INSERT INTO silences (host_pattern, name_pattern, starts_at, ends_at, created_by, reason)"
        " VALUES (%s, '*', %s, %s, 'ops', 'test')",
        (host, start, end),
    )


@pytest.fixture
def schema(db_dsn):
    return migrate(db_dsn)


def outbox(query):
    return [r[0] for r in query("SELECT text FROM outbox ORDER BY id")]


def test_reminders_repeat_firing_unmuted_alerts(schema, query):
    rules = Rules(reminder_minutes=10, overrides=(Override(host="db*", reminder_minutes=0),))
    report(query, "web1", "/", "disk", "95", at=NOW)
    report(query, "db1", "/", "disk", "95", at=NOW)
    assert sorted(t.host for t in run_eval(schema, NOW, rules)) == ["db1", "web1"]
    assert run_eval(schema, minutes(9), rules) == []
    reminded = run_eval(schema, minutes(10), rules)
    assert [(t.host, t.transition) for t in reminded] == [("web1", "reminder")]  # db* overridden: never
    assert run_eval(schema, minutes(15), rules) == []
    assert [t.transition for t in run_eval(schema, minutes(20), rules)] == ["reminder"]
    silence(query, "web*", minutes(25), minutes(35))
    assert run_eval(schema, minutes(30), rules) == []  # muted: no reminder
    # The silence is over: the reminder that is due goes out at once, then every 10 minutes again.
    assert [t.transition for t in run_eval(schema, minutes(35), rules)] == ["reminder"]
    assert run_eval(schema, minutes(44), rules) == []
    report(query, "web1", "/", "disk", "50", at=minutes(45))
    assert [t.transition for t in run_eval(schema, minutes(45), rules)] == ["ok"]
    assert run_eval(schema, minutes(80), rules) == []  # recovered: no more reminders
    assert outbox(query) == [
        "<b>Alert:</b> db1 - / Value: 95",
        "<b>Alert:</b> web1 - / Value: 95",
        "<b>Still firing:</b> web1 - / Value: 95 (since 2026-11-30 12:00 UTC)",
        "<b>Still firing:</b> web1 - / Value: 95 (since 2026-11-30 12:00 UTC)",
        "<b>Still firing:</b> web1 - / Value: 95 (since 2026-11-30 12:00 UTC)",
        "<b>OK again:</b> web1 - / Value: 50",
    ]
    # Reminders are no transitions: the events stay the two alerts and the recovery.
    assert query("SELECT host, transition FROM alert_events ORDER BY id") == [
        ("db1", "alert"), ("web1", "alert"), ("web1", "ok"),
    ]  # fmt: skip


def test_an_alert_muted_when_it_fired_is_reminded_once_unmuted(schema, query):
    rules = Rules(reminder_minutes=30)
    silence(query, "*", NOW, minutes(10))
    report(query, "web1", "/", "disk", "95", at=NOW)
    assert [t.silenced for t in run_eval(schema, NOW, rules)] == [True]
    assert run_eval(schema, minutes(20), rules) == []  # unmuted, but 30 minutes have not passed since it fired
    assert [t.transition for t in run_eval(schema, minutes(30), rules)] == ["reminder"]
    assert outbox(query) == ["<b>Still firing:</b> web1 - / Value: 95 (since 2026-11-30 12:00 UTC)"]


def test_public_url_links_the_host_view_escaped(schema, query):
    report(query, "web 1&<x>", "/", "disk", "95", at=NOW)
    run_eval(schema, NOW, public_url="https://stats.example.org/q&s")
    assert outbox(query) == [
        "<b>Alert:</b> web 1&amp;&lt;x&gt; - / Value: 95\n"
        '<a href="https://stats.example.org/q&amp;s/hosts/web%201%26%3Cx%3E">host view</a>'
    ]


# -- Alertmanager API through the engine, delivered to the Telegram stand-in by the running app ---------


@pytest.fixture
def engine(app_factory, standin, tmp_path):
    clock = Clock(NOW)
    client = app_factory(
        clock=clock,
        alerts={"evaluation_interval_seconds": 1, "alertmanager_resolve_minutes": 5},
        telegram=telegram_section(standin, tmp_path),
        public_url="https://stats.example.org",
    )  # fmt: skip
    client.clock = clock
    return client


def sent(standin):
    return [r["json"]["text"] for r in standin.requests if r["answer"] == "ok"]


def wait_sent(standin, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while len(sent(standin)) < count:
        assert time.monotonic() < deadline, f"waited for {count} messages, got {sent(standin)}"
        time.sleep(0.1)
    time.sleep(1.5)  # more rounds of evaluation and delivery: nothing more may arrive
    assert len(sent(standin)) == count, sent(standin)
    return sent(standin)


DISK_FULL = {
    "labels": {"alertname": "DiskFull", "instance": "web1:9100", "mountpoint": "/"},
    "annotations": {"summary": "disk <full> & 95%"},
    "startsAt": "2026-11-30T11:50:00Z",
    "endsAt": "2026-11-30T12:10:00Z",
}
LINK = '\n<a href="https://stats.example.org/hosts/web1">host view</a>'


def test_alertmanager_alerts_notify_once_through_the_engine(engine, standin, make_token, query):
    token = make_token("*")

    def post(alerts):
        return engine.post("/api/v2/alerts", json=alerts, headers=bearer(token))

    for _resend in range(3):  # Prometheus re-sends a firing alert every evaluation
        assert post([DISK_FULL]).status_code == 200
    assert wait_sent(standin, 1) == ["<b>Alert:</b> web1 - DiskFull Value: disk &lt;full&gt; &amp; 95%" + LINK]
    resolved = {**DISK_FULL, "endsAt": "2026-11-30T11:59:00Z"}
    assert post([resolved]).status_code == 200
    assert post([resolved]).status_code == 200
    assert wait_sent(standin, 2)[1] == "<b>OK again:</b> web1 - DiskFull Value: disk &lt;full&gt; &amp; 95%" + LINK
    # Fires again later: a new transition.
    engine.clock.now = minutes(30)
    assert (
        post([{**DISK_FULL, "startsAt": "2026-11-30T12:29:00Z", "endsAt": "2026-11-30T12:45:00Z"}]).status_code == 200
    )
    assert wait_sent(standin, 3)[2].startswith("<b>Alert:</b> web1 - DiskFull")
    # ... and resolves when its endsAt passes without a resolved post (the evaluation round does it).
    engine.clock.now = minutes(46)
    assert wait_sent(standin, 4)[3].startswith("<b>OK again:</b> web1 - DiskFull")
    events = query("SELECT host, name, transition, source, silenced FROM alert_events ORDER BY id")
    assert events == [("web1", "DiskFull", t, "alertmanager", False) for t in ("alert", "ok", "alert", "ok")]


def test_alertmanager_alerts_follow_silences_and_the_resolve_timeout(engine, standin, make_token, query):
    token = make_token("*")
    silence(query, "db*", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    noisy = {"labels": {"alertname": "Load", "host": "db1"}}  # no endsAt: firing until 5 min after the last post
    quiet = {"labels": {"alertname": "Load", "host": "web2"}}
    assert engine.post("/api/v2/alerts", json=[noisy, quiet], headers=bearer(token)).status_code == 200
    assert wait_sent(standin, 1) == [
        '<b>Alert:</b> web2 - Load\n<a href="https://stats.example.org/hosts/web2">host view</a>'
    ]
    engine.clock.now = minutes(4)
    assert engine.post("/api/v2/alerts", json=[quiet], headers=bearer(token)).status_code == 200  # still firing
    engine.clock.now = minutes(6)  # db1's last post was 6 minutes ago: resolved (muted); web2 still firing
    wait_sent(standin, 1)
    engine.clock.now = minutes(9)
    assert wait_sent(standin, 2)[1].startswith("<b>OK again:</b> web2 - Load")
    events = query("SELECT host, transition, silenced FROM alert_events ORDER BY id")
    assert sorted(events) == [
        ("db1", "alert", True),
        ("db1", "ok", True),
        ("web2", "alert", False),
        ("web2", "ok", False),
    ]
