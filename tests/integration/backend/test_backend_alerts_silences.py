"""services/backend/alerts/silences.py on the real database: silences and maintenance windows stored,
listed, expired/deleted, refused with the field named, and muting notifications (never transitions)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from test_alerts import report, run_eval

from ansible_collections.quadstats.stack.services.backend.alerts import silences as sil
from ansible_collections.quadstats.stack.services.backend.migrations import apply_migrations

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def db(db_dsn):
    """``db(fn, *args, **kwargs)``: run ``await fn(conn, ...)`` on a migrated test database."""

    async def migrate():
        async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
            await apply_migrations(conn)

    asyncio.run(migrate())

    def call(fn, *args, **kwargs):
        async def go():
            async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
                return await fn(conn, *args, **kwargs)

        return asyncio.run(go())

    call.dsn = db_dsn
    return call


def make_silence(db, **overrides):
    args = {
        "host_pattern": "db*",
        "name_pattern": "*",
        "starts_at": NOW - timedelta(hours=1),
        "ends_at": NOW + timedelta(hours=1),
        "created_by": "ops@example.org",
        "reason": "disk swap tonight",
    }
    return db(sil.create_silence, **{**args, **overrides})


def test_silences_created_listed_and_expired_early(db):
    active = make_silence(db)
    assert (active.host_pattern, active.created_by, active.reason, active.expired_by) == (
        "db*", "ops@example.org", "disk swap tonight", None,
    )  # fmt: skip
    later = make_silence(db, starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=2), host_pattern="web1")
    over = make_silence(db, starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1))
    assert [s.id for s in db(sil.list_silences, NOW)] == [active.id, later.id]
    assert [s.id for s in db(sil.list_silences, NOW, include_expired=True)] == [over.id, active.id, later.id]
    assert active.matches("db7", "/", NOW)
    assert not later.active(NOW)

    assert db(sil.expire_silence, active.id, NOW + timedelta(minutes=5), "alice") is True
    assert db(sil.expire_silence, active.id, NOW + timedelta(minutes=6), "alice") is False  # already over
    assert db(sil.expire_silence, over.id, NOW, "alice") is False
    assert db(sil.expire_silence, 10**6, NOW, "alice") is False
    assert db(sil.expire_silence, 2**70, NOW, "alice") is False  # beyond bigint: unknown, not an error
    ended = db(sil.get_silence, active.id)
    assert (ended.ends_at, ended.expired_by) == (NOW + timedelta(minutes=5), "alice")
    # A silence not started yet, expired early, never becomes active.
    assert db(sil.expire_silence, later.id, NOW, "bob") is True
    never = db(sil.get_silence, later.id)
    assert never.starts_at == never.ends_at == NOW
    assert not never.active(never.starts_at)
    assert db(sil.list_silences, NOW + timedelta(minutes=10)) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"created_by": ""}, "created_by"),
        ({"host_pattern": ""}, "host_pattern"),
        ({"name_pattern": "x" * 300}, "name_pattern"),
        ({"name_pattern": "a\x00b"}, "name_pattern"),
        ({"reason": "\ud800"}, "reason"),
        ({"ends_at": NOW - timedelta(hours=1)}, "ends_at"),
        ({"starts_at": datetime(2026, 1, 1)}, "starts_at"),  # naive
        ({"ends_at": "tomorrow"}, "ends_at"),
    ],
)
def test_bad_silences_are_refused_naming_the_field(db, overrides, field):
    with pytest.raises(sil.InvalidInput) as err:
        make_silence(db, **overrides)
    assert err.value.field == field
    assert err.value.status_code == 400
    assert db(sil.list_silences, NOW, include_expired=True) == []
    with pytest.raises(sil.InvalidInput, match="expired_by"):
        db(sil.expire_silence, 1, NOW, " ")


def test_windows_weekly_and_one_off(db):
    weekly = db(
        sil.create_window, host_pattern="db*", created_by="ops", reason="patch night",
        weekdays=["mon"], start_time="11:30", duration=timedelta(hours=1), time_zone="Europe/Berlin",
    )  # fmt: skip
    assert (weekly.weekdays, weekly.time_zone, weekly.recurring) == ((1,), "Europe/Berlin", True)
    one_off = db(
        sil.create_window, name_pattern="/srv*", created_by="ops", reason="SAN move",
        starts_at=NOW + timedelta(hours=2), ends_at=NOW + timedelta(hours=3),
    )  # fmt: skip
    assert [w.id for w in db(sil.list_windows, NOW)] == [one_off.id, weekly.id]
    assert [w.id for w in db(sil.list_windows, NOW + timedelta(hours=4))] == [weekly.id]  # one-off over
    assert len(db(sil.list_windows, NOW + timedelta(hours=4), include_expired=True)) == 2
    # Monday 11:30 Berlin (UTC+1) = 10:30 UTC: active until 11:30 UTC.
    assert db(sil.get_window, weekly.id).active(NOW - timedelta(minutes=31))
    assert not weekly.active(NOW)
    assert [type(m).__name__ for m in db(sil.active_mutes, NOW - timedelta(minutes=31))] == ["MaintenanceWindow"]
    assert db(sil.delete_window, weekly.id, NOW, "alice") is True
    assert db(sil.delete_window, weekly.id, NOW, "alice") is False
    assert db(sil.delete_window, 2**64) is False
    assert db(sil.get_window, weekly.id) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "starts_at"),
        ({"starts_at": NOW, "ends_at": NOW, "weekdays": ["mon"]}, "starts_at"),
        ({"starts_at": NOW, "ends_at": NOW}, "ends_at"),
        ({"weekdays": ["mon"], "start_time": "02:00", "duration": timedelta(hours=1)}, "time_zone"),
        ({"weekdays": ["mon"], "start_time": "02:00", "time_zone": "UTC"}, "duration"),
        ({"weekdays": ["xyz"], "start_time": "02:00", "duration": timedelta(hours=1), "time_zone": "UTC"}, "weekdays"),
        ({"weekdays": [1], "start_time": "02:00", "duration": timedelta(days=8), "time_zone": "UTC"}, "duration"),
        ({"weekdays": [1], "start_time": "02:00", "duration": timedelta(0), "time_zone": "UTC"}, "duration"),
        ({"weekdays": [1], "start_time": "02:00", "duration": timedelta(hours=1), "time_zone": "Nowhere"}, "time_zone"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(db, kwargs, field):
    with pytest.raises(sil.InvalidInput) as err:
        db(sil.create_window, created_by="ops", reason="why", **kwargs)
    assert err.value.field == field
    assert db(sil.list_windows, NOW, include_expired=True) == []


def test_silences_and_windows_mute_notifications_not_transitions(db, query):
    report(query, "db1", "/", "disk", "97", at=NOW)
    report(query, "web1", "/", "disk", "97", at=NOW)
    report(query, "app1", "/", "disk", "97", at=NOW)
    make_silence(db)  # db*
    db(
        sil.create_window, host_pattern="web*", created_by="ops", reason="patch",
        weekdays=["mon"], start_time="11:00", duration=timedelta(hours=2), time_zone="UTC",
    )  # fmt: skip
    fired = run_eval(db.dsn, NOW)
    assert sorted((t.host, t.transition, t.silenced) for t in fired) == [
        ("app1", "alert", False), ("db1", "alert", True), ("web1", "alert", True),
    ]  # fmt: skip
    assert [r[0] for r in query("SELECT text FROM outbox")] == ["<b>Alert:</b> app1 - / Value: 97"]
    assert query("SELECT host, silenced FROM alert_events ORDER BY host") == [
        ("app1", False), ("db1", True), ("web1", True),
    ]  # fmt: skip
