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
    Silence,
    decide,
    is_bad,
    message_html,
)

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


def test_silences_match_patterns_and_window():
    s = Silence("web*", "/data*", NOW, NOW + timedelta(hours=1))
    assert s.mutes("web1", "/data/x", NOW)
    assert not s.mutes("db1", "/data", NOW)
    assert not s.mutes("web1", "/", NOW)
    assert not s.mutes("web1", "/data", NOW + timedelta(hours=1))
    assert not s.mutes("web1", "/data", NOW - timedelta(seconds=1))


def test_messages_keep_special_characters_intact_in_html_mode():
    text = message_html(ALERT, disk("9&<>#+%", host="h&<b>", name="/a#+%"))
    assert text == "<b>Alert:</b> h&amp;&lt;b&gt; - /a#+% Value: 9&amp;&lt;&gt;#+%"
    assert message_html(OK, disk(None)) == "<b>OK again:</b> web1 - /"
    huge = message_html(ALERT, disk("&" * 1024, host="&" * 255, name="&" * 255))
    assert len(huge) <= TELEGRAM_MAX
