"""POST /journal: the seed's journalctl JSON lines, byte-array messages, dedup of overlapping windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from harness.backend_testing import bearer


def entry(seconds, message, host="web1", **extra):
    data = {
        "__REALTIME_TIMESTAMP": str(seconds * 1_000_000 + 123456),
        "_HOSTNAME": host,
        "MESSAGE": message,
        "PRIORITY": "6",
        "_SYSTEMD_UNIT": "app.service",
        **extra,
    }
    return json.dumps(data)


def post(api, token, lines):
    return api.post("/journal", json={"logs": "\n".join(lines) + "\n"}, headers=bearer(token))


def test_journal_lines_are_stored_with_their_fields(client, make_token, query):
    token = make_token("web1")
    lines = [
        entry(1_764_500_000, "hello"),
        entry(1_764_500_001, list("grüße \xff".encode("latin-1")), CONTAINER_NAME="db"),
    ]
    answer = post(client, token, lines)
    assert answer.json() == {"accepted": 2, "duplicates": 0}
    got = query(
        "SELECT time, host, unit, container, priority, message, source, fields->>'MESSAGE' FROM journal ORDER BY time"
    )
    assert got[0] == (
        datetime.fromtimestamp(1_764_500_000.123456, UTC),
        "web1",
        "app.service",
        None,
        6,
        "hello",
        "journal",
        "hello",
    )
    assert got[1][3] == "db"
    assert got[1][5] == "gr\ufffd\ufffde \ufffd"  # latin-1 bytes are not UTF-8: replaced, never rejected


def test_overlapping_windows_are_absorbed(client, make_token, query):
    token = make_token("web1")
    window1 = [entry(1_764_500_000 + i, f"line {i}") for i in range(5)]
    window2 = [entry(1_764_500_000 + i, f"line {i}") for i in range(3, 8)]
    assert post(client, token, window1).json() == {"accepted": 5, "duplicates": 0}
    assert post(client, token, window2).json() == {"accepted": 3, "duplicates": 2}
    assert post(client, token, window2 + window2).json() == {"accepted": 0, "duplicates": 10}
    assert query("SELECT count(*) FROM journal") == [(8,)]


def test_bad_lines_are_422_naming_line_and_field(client, make_token, query):
    token = make_token("web1")
    not_json = post(client, token, [entry(1_764_500_000, "ok"), "{broken"])
    assert not_json.status_code == 422
    assert not_json.json()["detail"].startswith("logs line 2:")
    no_time = post(client, token, [json.dumps({"MESSAGE": "x"})])
    assert no_time.status_code == 422
    assert "__REALTIME_TIMESTAMP" in no_time.json()["detail"]
    bad_bytes = post(client, token, [entry(1_764_500_000, [300, 1])])
    assert bad_bytes.status_code == 422
    assert "0..255" in bad_bytes.json()["detail"]
    far = post(client, token, [json.dumps({"__REALTIME_TIMESTAMP": "9" * 30, "MESSAGE": "x"})])
    assert far.status_code == 422
    assert query("SELECT count(*) FROM journal") == [(0,)]


def test_a_host_token_cannot_write_another_hosts_journal(client, make_token):
    token = make_token("web1")
    answer = post(client, token, [entry(1_764_500_000, "x", host="web2")])
    assert answer.status_code == 403
    assert "_HOSTNAME" in answer.json()["detail"]


def test_nul_bytes_in_messages_and_fields_are_stored(client, make_token, query):
    token = make_token("web1")
    answer = post(client, token, [entry(1_764_500_000, [104, 0, 105], EXTRA="a\u0000b")])
    assert answer.status_code == 200
    assert query("SELECT message, fields->>'EXTRA' FROM journal") == [("h\ufffdi", "a\ufffdb")]
