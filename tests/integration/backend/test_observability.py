"""The service's own /metrics: request counts by route template, latency histogram, outbox and alert states."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from harness.backend_testing import bearer


def samples(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_requests_and_database_states(client, make_token, query):
    token = make_token("web1")
    for value in ("50", "99"):
        client.post(
            "/metric", json={"host": "web1", "name": value, "type": "disk", "value": value}, headers=bearer(token)
        )
    client.post("/metric", json={}, headers=bearer(token))
    client.get("/no/such/path/with/a/random/name")
    query("UPDATE metrics SET state = 'alert' WHERE name = '99'")
    query("INSERT INTO outbox (text, created_at, next_attempt_at) VALUES ('x', now(), now())")
    got = samples(client)
    assert got[("quadstats_backend_http_requests_total", (("route", "/metric"), ("status", "200")))] == 2
    assert got[("quadstats_backend_http_requests_total", (("route", "/metric"), ("status", "422")))] == 1
    assert got[("quadstats_backend_http_requests_total", (("route", "other"), ("status", "404")))] == 1
    assert got[("quadstats_backend_http_request_duration_seconds_count", (("route", "/metric"),))] == 3
    assert got[("quadstats_backend_metrics", (("state", "alert"), ("type", "disk")))] == 1
    assert got[("quadstats_backend_metrics", (("state", "ok"), ("type", "disk")))] == 1
    assert got[("quadstats_backend_outbox_messages", (("state", "pending"),))] == 1
    assert not any("random" in str(key) for key in got)
