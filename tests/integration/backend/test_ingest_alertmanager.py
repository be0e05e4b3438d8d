"""POST /api/v2/alerts: Alertmanager's API, firing then resolved, stored per label-set fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.backend_testing import Clock, bearer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_firing_then_resolved(app_factory, make_token, query):
    api = app_factory(clock=Clock(NOW))
    token = make_token("*")
    firing = [
        {
            "labels": {"alertname": "DiskFull", "instance": "web1:9100", "mountpoint": "/"},
            "annotations": {"summary": "disk <full> & 95%"},
            "startsAt": "2026-11-30T11:50:00Z",
            "endsAt": "2026-11-30T12:10:00Z",
            "generatorURL": "http://prom/graph",
        }
    ]
    assert api.post("/api/v2/alerts", json=firing, headers=bearer(token)).status_code == 200
    assert api.post("/api/v2/alerts", json=firing, headers=bearer(token)).status_code == 200
    resolved = [{**firing[0], "startsAt": "2026-11-30T11:51:00Z", "endsAt": "2026-11-30T11:59:00Z"}]
    assert api.post("/api/v2/alerts", json=resolved, headers=bearer(token)).status_code == 200
    got = query("SELECT labels, annotations, starts_at, ends_at, generator_url FROM external_alerts")
    assert got == [
        (
            firing[0]["labels"],
            firing[0]["annotations"],
            datetime(2026, 11, 30, 11, 50, tzinfo=UTC),
            datetime(2026, 11, 30, 11, 59, tzinfo=UTC),
            "http://prom/graph",
        )
    ]


def test_missing_times_and_validation(app_factory, make_token, query):
    api = app_factory(clock=Clock(NOW))
    token = make_token("web1")
    assert (
        api.post(
            "/api/v2/alerts", json=[{"labels": {"alertname": "X", "host": "web1"}}], headers=bearer(token)
        ).status_code
        == 200
    )
    assert query("SELECT starts_at, ends_at FROM external_alerts") == [(NOW, None)]
    other = api.post("/api/v2/alerts", json=[{"labels": {"alertname": "X", "host": "web2"}}], headers=bearer(token))
    assert other.status_code == 403
    empty = api.post("/api/v2/alerts", json=[{"labels": {}}], headers=bearer(token))
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "[0].labels"
    not_list = api.post("/api/v2/alerts", json={"labels": {"a": "b"}}, headers=bearer(token))
    assert not_list.status_code == 422
