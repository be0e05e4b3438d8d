"""The seed's alert rules, the sustained-for window, overrides, silences and message escaping (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ansible_collections.quadstats.stack.services.backend.alerts.rules import (
    ALERT,
    OK,
    TELEGRAM_MAX,
    Metric,
    Override,
    Rules,
    decide,
    host_link,
    is_bad,
    message_html,
)
from ansible_collections.quadstats.stack.services.backend.alerts.silences import (
    InvalidInput,
    MaintenanceWindow,
    Silence,
    muted,
    parse_start_time,
    parse_time_zone,
    parse_weekdays,
)
from ansible_collections.quadstats.stack.services.backend.alerts.watchdog import OutageTracker
from ansible_collections.quadstats.stack.services.backend.settings import parse_settings
from ansible_collections.quadstats.stack.services.common.config import ConfigError

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def disk(value, state=OK, since=None, host="web1", name="/"):
    return Metric(host, name, "disk", value, NOW, state, since)


def ping(age_minutes, value=None, state=OK, since=None):
    return Metric("web1", "host", "ping", value, NOW - timedelta(minutes=age_minutes), state, since)


@pytest.mark.parametrize(
    ("value", "bad"),
    [("90", False), ("90.0", False), ("90.1", True), ("12", False), ("full", True), (None, True), ("nan", True)],
)
def test_disk_rule_is_the_seeds(value, bad):
    assert is_bad(disk(value), Rules(), NOW) is bad


@pytest.mark.parametrize(
    ("age", "value", "bad"),
    [(4.9, None, False), (5.1, None, True), (59, "60", False), (61, "60", True), (6, "soon", True), (4, "-3", False)],
)
def test_ping_rule_is_the_seeds(age, value, bad):
    assert is_bad(ping(age, value), Rules(), NOW) is bad


def test_overrides_later_wins():
    rules = Rules(
        overrides=(
            Override(host="db*", disk_threshold_percent=95),
            Override(host="db2", name="/", disk_threshold_percent=99),
        )
    )
    assert not is_bad(disk("94", host="db1"), rules, NOW)
    assert is_bad(disk("96", host="db1"), rules, NOW)
    assert not is_bad(disk("98", host="db2"), rules, NOW)
    assert is_bad(disk("91", host="web1"), rules, NOW)
    assert not is_bad(ping(20), Rules(overrides=(Override(name="host", ping_minutes=30),)), NOW)


def test_transitions_without_sustained_window():
    assert decide(disk("95"), Rules(), NOW) == (ALERT, NOW, ALERT)
    assert decide(disk("95", ALERT, NOW), Rules(), NOW + timedelta(minutes=1)) == (ALERT, NOW, None)
    assert decide(disk("50", ALERT, NOW), Rules(), NOW) == (OK, None, OK)
    assert decide(disk("50"), Rules(), NOW) == (OK, None, None)


def test_sustained_for_suppresses_flaps():
    rules = Rules(sustained_seconds=120)
    first = decide(disk("95"), rules, NOW)
    assert first == (OK, NOW, None)  # pending: the condition holds since NOW
    assert decide(disk("95", OK, NOW), rules, NOW + timedelta(seconds=119)) == (OK, NOW, None)
    assert decide(disk("95", OK, NOW), rules, NOW + timedelta(seconds=120)) == (ALERT, NOW, ALERT)
    # A flap back to fine before the window ends resets it, without any message.
    assert decide(disk("50", OK, NOW), rules, NOW + timedelta(seconds=60)) == (OK, None, None)


def silence(host="web*", name="/data*", starts=NOW, ends=NOW + timedelta(hours=1)):
    return Silence(1, host, name, starts, ends, "ops", "disk swap", NOW, None)


def test_silences_match_patterns_and_window():
    s = silence()
    assert s.matches("web1", "/data/x", NOW)
    assert not s.matches("db1", "/data", NOW)
    assert not s.matches("web1", "/", NOW)
    assert not s.matches("web1", "/data", NOW + timedelta(hours=1))
    assert not s.matches("web1", "/data", NOW - timedelta(seconds=1))
    assert muted([silence(host="db*"), s], "web1", "/data", NOW)
    assert not muted([silence(host="db*")], "web1", "/data", NOW)


def weekly(days, start, minutes, zone, *, host="*", name="*"):
    return MaintenanceWindow(
        1, host, name, "ops", "patch day", NOW, weekdays=tuple(days), start_time=parse_start_time(start),
        duration=timedelta(minutes=minutes), time_zone=zone,
    )  # fmt: skip


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_weekly_window_follows_the_time_zone_across_daylight_saving():
    sunday_night = weekly([7], "02:00", 120, "Europe/Berlin")
    # 2026-03-22 is a Sunday in winter time (UTC+1): 02:00-04:00 local = 01:00-03:00 UTC.
    assert not sunday_night.active(utc(2026, 3, 22, 0, 59))
    assert sunday_night.active(utc(2026, 3, 22, 1, 0))
    assert sunday_night.active(utc(2026, 3, 22, 2, 59))
    assert not sunday_night.active(utc(2026, 3, 22, 3, 0))
    # 2026-04-05, summer time (UTC+2): 02:00 local = 00:00 UTC.
    assert sunday_night.active(utc(2026, 4, 5, 0, 0))
    assert not sunday_night.active(utc(2026, 4, 5, 2, 0))
    # 2026-03-29 02:00 does not exist in Berlin: it starts at 01:00 UTC (= 03:00 CEST), lasts 2 h.
    assert sunday_night.occurrence(utc(2026, 3, 29, 2, 0)) == (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 3, 0))
    assert not sunday_night.active(utc(2026, 3, 30, 1, 30))  # Monday
    assert sunday_night.next_occurrence(utc(2026, 3, 30, 12, 0)) == (utc(2026, 4, 5, 0, 0), utc(2026, 4, 5, 2, 0))


def test_weekly_window_past_midnight_and_several_days():
    # Friday 22:00 for 6 h in New York reaches into Saturday.
    window = weekly(parse_weekdays(["fri", 3]), "22:00", 360, "America/New_York", host="db*")
    friday_late = utc(2026, 12, 5, 4, 30)  # Sat 04:30 UTC = Fri 23:30 EST
    assert window.matches("db1", "/", friday_late)
    assert not window.matches("web1", "/", friday_late)
    assert window.active(utc(2026, 12, 3, 8, 59))  # Thu 03:59 EST, from Wednesday's 22:00
    assert not window.active(utc(2026, 12, 3, 9, 0))
    weekend = weekly([6], "00:00", 3 * 24 * 60, "UTC")
    assert weekend.active(utc(2026, 12, 7, 23, 59))  # Saturday 00:00 + 72 h reaches Monday night
    assert not weekend.active(utc(2026, 12, 8, 0, 0))


def test_one_off_window():
    window = MaintenanceWindow(2, "*", "*", "ops", "move", NOW, starts_at=NOW, ends_at=NOW + timedelta(hours=1))
    assert window.active(NOW)
    assert not window.active(NOW + timedelta(hours=1))
    assert window.next_occurrence(NOW - timedelta(days=1)) == (NOW, NOW + timedelta(hours=1))
    assert window.next_occurrence(NOW + timedelta(hours=2)) is None


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: parse_weekdays([]), "weekdays"),
        (lambda: parse_weekdays("mon"), "weekdays"),
        (lambda: parse_weekdays([8]), "weekdays"),
        (lambda: parse_weekdays([True]), "weekdays"),
        (lambda: parse_start_time("24:00"), "start_time"),
        (lambda: parse_start_time("2:00"), "start_time"),
        (lambda: parse_time_zone("Mars/Olympus"), "time_zone"),
        (lambda: parse_time_zone("../../etc/passwd"), "time_zone"),
        (lambda: parse_time_zone("/etc/localtime"), "time_zone"),
    ],
)
def test_schedule_parts_are_validated_naming_the_field(call, field):
    with pytest.raises(InvalidInput) as err:
        call()
    assert err.value.field == field
    assert err.value.status_code == 400
    assert err.value.detail.startswith(f"{field}: ")


def test_messages_keep_special_characters_intact_in_html_mode():
    text = message_html(ALERT, disk("9&<>#+%", host="h&<b>", name="/a#+%"))
    assert text == "<b>Alert:</b> h&amp;&lt;b&gt; - /a#+% Value: 9&amp;&lt;&gt;#+%"
    assert message_html(OK, disk(None)) == "<b>OK again:</b> web1 - /"
    huge = message_html(ALERT, disk("&" * 1024, host="&" * 255, name="&" * 255))
    assert len(huge) <= TELEGRAM_MAX


def test_host_link_is_encoded_escaped_and_left_out_when_it_does_not_fit():
    text = message_html(ALERT, disk("95", host='a/b "c"&'), public_url="https://s.example.org/x&y")
    assert text.endswith('\n<a href="https://s.example.org/x&amp;y/hosts/a%2Fb%20%22c%22%26">host view</a>')
    assert host_link(None, "web1") is None
    assert host_link("https://s.example.org", "") is None
    assert host_link("https://s.example.org", "h" * 2000) is None
    huge = message_html(ALERT, disk("&" * 1024, host="&" * 255, name="&" * 255), public_url="https://s.example.org")
    assert len(huge) <= TELEGRAM_MAX


def test_outage_tracker_one_alert_one_resolve():
    tracker = OutageTracker(threshold=60)
    assert tracker.due(False, 0) is None
    assert tracker.due(True, 30) is None  # a short outage says nothing
    assert tracker.due(False, 100) is None
    assert tracker.due(False, 159) is None
    assert tracker.due(False, 160) == "alert"
    assert tracker.due(False, 161) == "alert"  # the send failed: due again
    tracker.delivered("alert")
    assert [tracker.due(False, t) for t in range(162, 500)] == [None] * 338  # no flood
    assert tracker.due(True, 500) == "resolve"
    assert tracker.due(False, 501) is None  # down again before the resolve got out: no second alert
    assert tracker.due(True, 502) == "resolve"
    tracker.delivered("resolve")
    assert tracker.due(True, 503) is None
    assert tracker.due(False, 504) is None  # a new outage starts a new count
    assert tracker.due(False, 564) == "alert"


def test_new_alert_settings_are_validated_naming_them():
    with pytest.raises(ConfigError) as err:
        parse_settings({
            "public_url": "https://stats.example.org/",
            "alerts": {
                "reminder_minutes": -1, "database_unreachable_seconds": -5, "alertmanager_resolve_minutes": 0,
                "overrides": [{"host": "db*", "reminder_minutes": "often"}],
            },
        })  # fmt: skip
    for name in ("public_url", "alerts.reminder_minutes", "alerts.database_unreachable_seconds",
                 "alerts.alertmanager_resolve_minutes", "alerts.overrides.0.reminder_minutes"):  # fmt: skip
        assert f"setting {name}:" in str(err.value)
    settings = parse_settings({
        "public_url": "https://stats.example.org/q",
        "alerts": {"reminder_minutes": 60, "overrides": [{"host": "db*", "reminder_minutes": 0}]},
    })  # fmt: skip
    rules = settings.alerts.rules()
    assert rules.reminder_for("web1", "/") == timedelta(hours=1)
    assert rules.reminder_for("db1", "/") is None
    assert Rules().reminder_for("web1", "/") is None
