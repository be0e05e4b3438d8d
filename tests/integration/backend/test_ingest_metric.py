"""POST /metric on the real database: the seed's JSON, tokens, upserts, batch form, bad input as 4xx."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from harness.backend_testing import Clock, bearer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def api(app_factory, clock):
    return app_factory(clock=clock)


def rows(query):
    return query("SELECT host, name, type, value, reported_at FROM metrics ORDER BY host, name")


def test_seed_json_is_upserted_per_host_and_name(api, make_token, query):
    token = make_token("web1")
    seed = {"host": "web1", "name": "/", "type": "disk", "timestamp": "2026-11-30T11:59:00+01:00", "value": "45"}
    assert api.post("/metric", json=seed, headers=bearer(token)).json() == {"accepted": 1}
    api.post("/metric", json={**seed, "value": "91", "state": "ok", "Id": 0}, headers=bearer(token))
    assert rows(query) == [("web1", "/", "disk", "91", datetime(2026, 11, 30, 10, 59, tzinfo=UTC))]


def test_missing_null_and_go_zero_timestamps_mean_now(api, make_token, query):
    token = make_token("web1")
    api.post("/metric", json={"host": "web1", "name": "a", "type": "ping"}, headers=bearer(token))
    api.post("/metric", json={"host": "web1", "name": "b", "type": "ping", "timestamp": None}, headers=bearer(token))
    zero = {"host": "web1", "name": "c", "type": "ping", "timestamp": "0001-01-01T00:00:00Z", "value": 1440}
    api.post("/metric", json=zero, headers=bearer(token))
    assert [r[4] for r in rows(query)] == [NOW, NOW, NOW]
    assert rows(query)[2][3] == "1440"  # a number is stored as the seed's string


def test_basic_auth_password_is_the_token(api, make_token):
    token = make_token("web1")
    body = {"host": "web1", "name": "x", "type": "ping"}
    assert api.post("/metric", json=body, auth=("anything", token)).status_code == 200
    assert api.post("/metric", json=body, auth=("web1", "wrong")).status_code == 401


def test_authentication_and_host_binding(api, make_token):
    token = make_token("web1")
    body = {"host": "web2", "name": "x", "type": "ping"}
    missing = api.post("/metric", json=body)
    assert missing.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"]
    assert api.post("/metric", json=body, headers=bearer("nope")).status_code == 401
    junk = {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}
    assert api.post("/metric", json=body, headers=junk).status_code == 401
    other = api.post("/metric", json=body, headers=bearer(token))
    assert other.status_code == 403
    assert other.json()["detail"].startswith("host:")
    assert api.post("/metric", json=body, headers=bearer(make_token("*"))).status_code == 200


def test_batch_form_last_report_wins_and_host_is_checked_per_item(api, make_token, query):
    token = make_token("web1")
    batch = [
        {"host": "web1", "name": "/", "type": "disk", "value": "10"},
        {"host": "web1", "name": "/home", "type": "disk", "value": "20"},
        {"host": "web1", "name": "/", "type": "disk", "value": "30"},
    ]
    assert api.post("/metric", json=batch, headers=bearer(token)).json() == {"accepted": 2}
    assert [(r[1], r[3]) for r in rows(query)] == [("/", "30"), ("/home", "20")]
    bad = api.post("/metric", json=[*batch, {"host": "web9", "name": "/", "type": "disk"}], headers=bearer(token))
    assert bad.status_code == 403
    assert bad.json()["detail"].startswith("[3].host:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "type": "ping"}, "host"),
        ({"host": "web1", "name": "x", "type": "cpu"}, "type"),
        ({"host": "web1", "name": "", "type": "ping"}, "name"),
        ({"host": "web1", "name": "x", "type": "ping", "timestamp": "yesterday"}, "timestamp"),
        ({"host": "web1", "name": "x", "type": "ping", "timestamp": "0001-01-01T00:00:00+05:00"}, "timestamp"),
        ({"host": "web1", "name": "x", "type": "ping", "value": {"a": 1}}, "value"),
        ({"host": "web1", "name": "x" * 300, "type": "ping"}, "name"),
        ({"host": 5, "name": "x", "type": "ping"}, "host"),
    ],
)
def test_bad_fields_are_422_naming_the_field(api, make_token, body, field):
    answer = api.post("/metric", json=body, headers=bearer(make_token("web1")))
    assert answer.status_code == 422
    assert any(e["field"].endswith(field) for e in answer.json()["errors"]), answer.json()


def test_not_json_and_oversized_bodies_are_4xx(app_factory, make_token):
    api = app_factory(ingest={"max_body_bytes": 2048, "max_batch_items": 2})
    token = make_token("web1")
    garbage = api.post("/metric", content=b"{not json", headers={**bearer(token), "Content-Type": "application/json"})
    assert garbage.status_code == 422
    big = api.post(
        "/metric", content=b"[" + b" " * 4096 + b"]", headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert big.status_code == 413
    assert "ingest.max_body_bytes" in big.json()["detail"]
    many = [{"host": "web1", "name": str(i), "type": "ping"} for i in range(3)]
    too_many = api.post("/metric", json=many, headers=bearer(token))
    assert too_many.status_code == 413
    assert "ingest.max_batch_items" in too_many.json()["detail"]


def test_nul_characters_do_not_reach_postgresql_as_errors(api, make_token, query):
    token = make_token("web1")
    answer = api.post(
        "/metric", json={"host": "web1", "name": "a\u0000b", "type": "disk", "value": "1\u0000"}, headers=bearer(token)
    )
    assert answer.status_code == 200
    assert rows(query)[0][1:4] == ("a\ufffdb", "disk", "1\ufffd")
