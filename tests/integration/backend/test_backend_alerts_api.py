"""The silences/maintenance-window JSON API on the real database: admin token only (ingest tokens are
refused), create/list/expire/delete, bad input named, and what it creates mutes the evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_alerts import report, run_eval

from ansible_collections.quadstats.stack.services.backend.settings import parse_settings
from ansible_collections.quadstats.stack.services.common.config import ConfigError
from harness.backend_testing import Clock, bearer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday
ADMIN = "admin-canary-0123456789abcdefghij"


@pytest.fixture
def admin_file(tmp_path):
    path = tmp_path / "admin-token"
    path.write_text(ADMIN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def api(app_factory, admin_file):
    clock = Clock(NOW)
    client = app_factory(clock=clock, api={"admin_token_file": str(admin_file)})
    client.clock = clock
    return client


ADMIN_HEADERS = bearer(ADMIN)


def test_only_the_admin_token_manages_silences(api, app_factory, make_token):
    ingest = make_token("*")
    assert api.get("/api/v1/silences", headers=ADMIN_HEADERS).status_code == 200
    missing = api.get("/api/v1/silences")
    assert missing.status_code == 401
    assert "admin API token" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = api.get("/api/v1/silences", headers=bearer("x" * 40))
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "Authorization: unknown token")
    as_ingest = api.post("/api/v1/silences", headers=bearer(ingest), json={"created_by": "a", "reason": "b"})
    assert as_ingest.status_code == 403
    assert "ingest token" in as_ingest.json()["detail"]
    # ... and the admin token is no ingest token.
    metric = {"host": "web1", "name": "/", "type": "disk", "value": "1"}
    assert api.post("/metric", json=metric, headers=ADMIN_HEADERS).status_code == 401
    off = app_factory(clock=Clock(NOW))  # no api.admin_token_file
    refused = off.get("/api/v1/silences", headers=ADMIN_HEADERS)
    assert refused.status_code == 403
    assert "api.admin_token_file" in refused.json()["detail"]


def test_admin_token_file_is_validated_at_start(settings_data, tmp_path):
    short = tmp_path / "short"
    short.write_text("abc\n")
    short.chmod(0o600)
    with pytest.raises(ConfigError, match=r"setting api\.admin_token_file: the token must be at least 24"):
        parse_settings({**settings_data, "api": {"admin_token_file": str(short)}})
    short.chmod(0o644)
    with pytest.raises(ConfigError, match=r"setting api\.admin_token_file: .* readable by others"):
        parse_settings({**settings_data, "api": {"admin_token_file": str(short)}})
    with pytest.raises(ConfigError, match=r"setting api\.admin_token_file: .* does not exist"):
        parse_settings({**settings_data, "api": {"admin_token_file": str(tmp_path / "none")}})


def test_silences_create_list_expire(api, query):
    made = api.post(
        "/api/v1/silences",
        headers=ADMIN_HEADERS,
        json={"host_pattern": "db*", "duration_minutes": 90, "created_by": "alice", "reason": "disk swap"},
    )
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["starts_at"] == "2026-11-30T12:00:00Z"
    assert silence["ends_at"] == "2026-11-30T13:30:00Z"
    assert (silence["name_pattern"], silence["active"], silence["expired_by"]) == ("*", True, None)
    later = api.post(
        "/api/v1/silences",
        headers=ADMIN_HEADERS,
        json={
            "starts_at": "2026-12-01T02:00:00+01:00", "ends_at": "2026-12-01T04:00:00+01:00",
            "created_by": "bob", "reason": "SAN firmware",
        },
    ).json()  # fmt: skip
    assert later["starts_at"] == "2026-12-01T01:00:00Z"
    assert not later["active"]
    listed = api.get("/api/v1/silences", headers=ADMIN_HEADERS).json()["silences"]
    assert [s["id"] for s in listed] == [silence["id"], later["id"]]

    url = f"/api/v1/silences/{silence['id']}/expire"
    api.clock.now = NOW + timedelta(minutes=10)
    expired = api.post(url, headers=ADMIN_HEADERS, json={"expired_by": "carol"})
    assert expired.status_code == 200
    assert (expired.json()["ends_at"], expired.json()["expired_by"], expired.json()["active"]) == (
        "2026-11-30T12:10:00Z", "carol", False,
    )  # fmt: skip
    again = api.post(url, headers=ADMIN_HEADERS, json={"expired_by": "carol"})
    assert (again.status_code, again.json()["detail"]) == (409, f"silence_id: silence {silence['id']} is already over")
    for unknown in (999999, 2**70):
        answer = api.post(f"/api/v1/silences/{unknown}/expire", headers=ADMIN_HEADERS, json={"expired_by": "c"})
        assert answer.status_code == 404
    assert [s["id"] for s in api.get("/api/v1/silences", headers=ADMIN_HEADERS).json()["silences"]] == [later["id"]]
    everything = api.get("/api/v1/silences?include_expired=true", headers=ADMIN_HEADERS).json()["silences"]
    assert len(everything) == 2
    assert query("SELECT created_by, reason, expired_by FROM silences ORDER BY id") == [
        ("alice", "disk swap", "carol"), ("bob", "SAN firmware", None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"created_by": "a", "reason": "b"}, 400, "ends_at: give either ends_at or duration_minutes"),
        ({"created_by": "a", "reason": " ", "duration_minutes": 5}, 400, "reason: must not be empty"),
        ({"created_by": "", "reason": "b", "duration_minutes": 5}, 400, "created_by: must not be empty"),
        ({"created_by": "a", "reason": "b", "ends_at": "2026-11-30T11:00:00Z"}, 400, "ends_at: is in the past"),
        ({"created_by": "a", "reason": "b", "ends_at": "2026-12-30T11:00:00"}, 400, "ends_at: needs a time zone"),
        (
            {"created_by": "a", "reason": "b", "starts_at": "9999-12-31T00:00:00Z", "duration_minutes": 527040},
            400,
            "duration_minutes: the silence would end after the year 9999",
        ),
        ({"created_by": "a", "reason": "b", "duration_minutes": 0}, 422, "duration_minutes"),
        ({"created_by": "a", "reason": "b", "duration_minutes": 5, "colour": "red"}, 422, "colour"),
        ({"reason": "b", "duration_minutes": 5}, 422, "created_by"),
    ],
)
def test_bad_silences_name_the_field(api, body, status, detail):
    answer = api.post("/api/v1/silences", headers=ADMIN_HEADERS, json=body)
    assert answer.status_code == status, answer.text
    assert detail in answer.json()["detail"]


def test_maintenance_windows(api):
    weekly = api.post(
        "/api/v1/maintenance-windows",
        headers=ADMIN_HEADERS,
        json={
            "host_pattern": "web*", "created_by": "alice", "reason": "patch night",
            "weekdays": ["sun", 3], "start_time": "02:00", "duration_minutes": 120, "time_zone": "Europe/Berlin",
        },
    )  # fmt: skip
    assert weekly.status_code == 201, weekly.text
    got = weekly.json()
    assert (got["weekdays"], got["start_time"], got["duration_minutes"], got["active"]) == (
        ["wed", "sun"], "02:00", 120, False,
    )  # fmt: skip
    assert (got["next_starts_at"], got["next_ends_at"]) == ("2026-12-02T01:00:00Z", "2026-12-02T03:00:00Z")
    one_off = api.post(
        "/api/v1/maintenance-windows",
        headers=ADMIN_HEADERS,
        json={
            "created_by": "bob", "reason": "move", "starts_at": "2026-11-30T11:00:00Z",
            "ends_at": "2026-11-30T13:00:00Z",
        },
    ).json()  # fmt: skip
    assert one_off["active"]
    listed = api.get("/api/v1/maintenance-windows", headers=ADMIN_HEADERS).json()["windows"]
    assert [w["id"] for w in listed] == [one_off["id"], got["id"]]
    bad = api.post(
        "/api/v1/maintenance-windows",
        headers=ADMIN_HEADERS,
        json={"created_by": "a", "reason": "b", "weekdays": ["mon"], "start_time": "02:00", "duration_minutes": 60,
              "time_zone": "Europe/Atlantis"},
    )  # fmt: skip
    assert (bad.status_code, bad.json()["detail"]) == (
        400, "time_zone: 'Europe/Atlantis' is not a known IANA time zone (e.g. Europe/Berlin, UTC)",
    )  # fmt: skip
    gone = api.delete(f"/api/v1/maintenance-windows/{one_off['id']}?deleted_by=alice", headers=ADMIN_HEADERS)
    assert gone.status_code == 204
    again = api.delete(f"/api/v1/maintenance-windows/{one_off['id']}?deleted_by=alice", headers=ADMIN_HEADERS)
    assert again.status_code == 404
    assert api.delete(f"/api/v1/maintenance-windows/{got['id']}", headers=ADMIN_HEADERS).status_code == 422
    assert [w["id"] for w in api.get("/api/v1/maintenance-windows", headers=ADMIN_HEADERS).json()["windows"]] == [
        got["id"]
    ]


def test_what_the_api_creates_mutes_the_evaluation(api, db_dsn, query):
    api.post(
        "/api/v1/silences",
        headers=ADMIN_HEADERS,
        json={"host_pattern": "db*", "duration_minutes": 60, "created_by": "alice", "reason": "swap"},
    )
    api.post(
        "/api/v1/maintenance-windows",
        headers=ADMIN_HEADERS,
        json={"name_pattern": "/srv*", "created_by": "bob", "reason": "backup", "weekdays": ["mon"],
              "start_time": "11:00", "duration_minutes": 120, "time_zone": "UTC"},
    )  # fmt: skip
    for host, name in (("db1", "/"), ("web1", "/srv/data"), ("web1", "/")):
        report(query, host, name, "disk", "99", at=NOW)
    fired = run_eval(db_dsn, NOW)
    assert sorted((t.host, t.name, t.silenced) for t in fired) == [
        ("db1", "/", True), ("web1", "/", False), ("web1", "/srv/data", True),
    ]  # fmt: skip
    assert [r[0] for r in query("SELECT text FROM outbox")] == ["<b>Alert:</b> web1 - / Value: 99"]


def test_openapi_documents_the_api(api):
    spec = api.get("/openapi.json").json()
    for path, methods in {
        "/api/v1/silences": ("get", "post"),
        "/api/v1/silences/{silence_id}/expire": ("post",),
        "/api/v1/maintenance-windows": ("get", "post"),
        "/api/v1/maintenance-windows/{window_id}": ("delete",),
    }.items():
        for method in methods:
            op = spec["paths"][path][method]
            assert {"401", "403"} <= op["responses"].keys(), (path, method)
            assert op["summary"]
    assert "SilenceIn" in spec["components"]["schemas"]
    assert "WindowOut" in spec["components"]["schemas"]
