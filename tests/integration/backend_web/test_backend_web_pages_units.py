"""The pages' small parsers (no browser, no database): durations, local times, exact patterns,
window lengths, and the vendored htmx matching its recorded provenance."""

from __future__ import annotations

import fnmatch
import hashlib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ansible_collections.quadstats.stack.services.backend.web.pages import (
    PageInputError,
    exact_pattern,
    input_value,
    parse_duration,
    parse_local,
)
from ansible_collections.quadstats.stack.services.backend.web.render import STATIC_DIR, span

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        (" 1 d ", timedelta(days=1)),
        ("1W", timedelta(weeks=1)),
    ],
)
def test_durations(text, length):
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["", "2", "h", "0m", "-1h", "1y", "367d"])
def test_wrong_durations_name_the_field(text):
    with pytest.raises(PageInputError) as caught:
        parse_duration(text, "duration")
    assert caught.value.field == "duration"


def test_local_times_are_read_in_the_viewers_zone_and_an_end_covers_its_unit():
    assert parse_local("2026-07-01T12:00", "start", BERLIN) == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert parse_local("2026-12-01T12:00", "start", BERLIN) == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    end = parse_local("2026-12-01T12:00", "end", BERLIN, inclusive_end=True)
    assert end == datetime(2026, 12, 1, 11, 0, 59, 999999, tzinfo=UTC)
    end = parse_local("2026-12-01T12:00:07", "end", BERLIN, inclusive_end=True)
    assert end == datetime(2026, 12, 1, 11, 0, 7, 999999, tzinfo=UTC)
    assert parse_local("2026-12-01T12:00:00+00:00", "start", BERLIN) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_local("", "start", BERLIN) is None
    with pytest.raises(PageInputError, match="a date and time"):
        parse_local("yesterday", "start", BERLIN)
    assert input_value(datetime(2026, 12, 1, 11, 0, 7, 5, tzinfo=UTC), BERLIN) == "2026-12-01T12:00:07"


@pytest.mark.parametrize("value", ["web1", "/var/lib/*", "disk [sda]", "what?", "a[b]*c"])
def test_exact_patterns_match_only_their_value(value):
    pattern = exact_pattern(value)
    assert fnmatch.fnmatchcase(value, pattern)
    for other in (value + "x", "x" + value, value.replace("*", "zz") + "!", "web2"):
        if other != value:
            assert not fnmatch.fnmatchcase(other, pattern), other


def test_window_lengths_read_as_people_say_them():
    assert span(timedelta(hours=2)) == "2 h"
    assert span(timedelta(minutes=90)) == "1 h 30 min"
    assert span(timedelta(days=1, hours=2)) == "1 d 2 h"


def test_vendored_htmx_matches_its_provenance_note():
    note = (STATIC_DIR / "PROVENANCE.md").read_text()
    recorded = re.search(r"`htmx\.min\.js` .*\| (\d+\.\d+\.\d+) \| `([0-9a-f]{64})`", note)
    assert recorded, "PROVENANCE.md names htmx.min.js with its version and sha256"
    assert hashlib.sha256((STATIC_DIR / "htmx.min.js").read_bytes()).hexdigest() == recorded.group(2)
    assert f'version:"{recorded.group(1)}"' in (STATIC_DIR / "htmx.min.js").read_text()
