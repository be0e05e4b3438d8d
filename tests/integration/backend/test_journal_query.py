"""GET /api/v1/journal: inclusive time range, filters, escaped substring search, keyset pages both ways."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from harness.backend_testing import bearer

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
MESSAGES = ["disk 100% full", "disk 100 percent", "user_name set", "username set", "back\\slash", "Boot OK"]


@pytest.fixture
def loaded(client, make_token):
    ingest = make_token("web1")
    lines = []
    for i in range(30):
        entry = {
            "__REALTIME_TIMESTAMP": str(int((T0 + timedelta(minutes=i)).timestamp() * 1_000_000)),
            "_HOSTNAME": "web1",
            "MESSAGE": MESSAGES[i % len(MESSAGES)],
            "PRIORITY": str(i % 8),
            "_SYSTEMD_UNIT": "a.service" if i % 2 else "b.service",
        }
        if i % 3 == 0:
            entry["CONTAINER_NAME"] = "db"
        lines.append(json.dumps(entry))
    assert client.post("/journal", json={"logs": "\n".join(lines)}, headers=bearer(ingest)).json()["accepted"] == 30
    return bearer(make_token("*"))


def get(client, auth, **params):
    answer = client.get("/api/v1/journal", params=params, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_inclusive_range_and_filters(client, loaded):
    page = get(
        client, loaded, start=(T0 + timedelta(minutes=5)).isoformat(), end=(T0 + timedelta(minutes=9)).isoformat()
    )
    assert len(page["entries"]) == 5  # both ends included
    assert page["entries"][0]["time"].startswith("2026-11-30T10:09")  # newest first
    assert {e["unit"] for e in get(client, loaded, unit="a.service")["entries"]} == {"a.service"}
    assert len(get(client, loaded, container="db")["entries"]) == 10
    assert all(e["priority"] <= 2 for e in get(client, loaded, priority=2)["entries"])
    assert get(client, loaded, host="nobody")["entries"] == []


def test_substring_search_escapes_like_wildcards(client, loaded):
    assert {e["message"] for e in get(client, loaded, message="100%")["entries"]} == {"disk 100% full"}
    assert {e["message"] for e in get(client, loaded, message="user_")["entries"]} == {"user_name set"}
    assert {e["message"] for e in get(client, loaded, message="K\\S")["entries"]} == {"back\\slash"}
    assert {e["message"] for e in get(client, loaded, message="boot ok")["entries"]} == {"Boot OK"}
    assert get(client, loaded, message="\x00")["entries"] == []


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_keyset_pages_cover_everything_once(client, loaded, order):
    seen, cursor = [], None
    while True:
        page = get(client, loaded, order=order, limit=7, **({"cursor": cursor} if cursor else {}))
        seen += [e["time"] for e in page["entries"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == 30
    assert seen == sorted(seen, reverse=order == "newest")


def test_access_and_bad_parameters(client, loaded, make_token):
    assert client.get("/api/v1/journal").status_code == 401
    assert client.get("/api/v1/journal", headers=bearer(make_token("web1"))).status_code == 403
    bad = client.get("/api/v1/journal", params={"cursor": "garbage"}, headers=loaded)
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("cursor:")
    assert client.get("/api/v1/journal", params={"limit": 0}, headers=loaded).status_code == 422
    assert client.get("/api/v1/journal", params={"priority": 9}, headers=loaded).status_code == 422
    assert client.get("/api/v1/journal", params={"start": "yesterday"}, headers=loaded).status_code == 422


@pytest.mark.parametrize(
    "case", list(itertools.product(["newest", "oldest"], ["disk", "100%", "boot ok", "absent"], [3, 10_000]))
)
def test_message_pages_are_the_same_by_time_order_or_by_index(client, loaded, monkeypatch, case):
    """A message search first reads the next NEAR_ROWS rows in time order, then the index: every page
    (limit 2, followed to the end) holds the rows a plain filter over all rows gives, in order."""
    from ansible_collections.quadstats.stack.services.backend import journal_query  # noqa: PLC0415

    order, message, near_rows = case
    monkeypatch.setattr(journal_query, "NEAR_ROWS", near_rows)
    everything = []
    cursor = None
    while True:
        page = get(client, loaded, order=order, limit=5, **({"cursor": cursor} if cursor else {}))
        everything += page["entries"]
        if not (cursor := page["next"]):
            break
    expected = [e for e in everything if message.lower() in e["message"].lower()]
    got, cursor = [], None
    while True:
        page = get(client, loaded, order=order, limit=2, message=message, **({"cursor": cursor} if cursor else {}))
        got += page["entries"]
        if not (cursor := page["next"]):
            break
    assert got == expected
    assert (len(expected) > 0) == (message != "absent")
