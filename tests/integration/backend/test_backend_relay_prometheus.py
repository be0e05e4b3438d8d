"""The backend relays the remote-write batches it accepted to a real Prometheus (Debian trixie's package).

The backend runs as a real process (``harness.backend_service``) on a real TimescaleDB; Prometheus
runs with its remote-write receiver on and serves HTTPS with a certificate that names only
``backend.example`` (as in a deployment, where Prometheus serves the backend's certificate and is
reached at its private address): the relay reaches it at https://127.0.0.1:<port> and must check the
certificate against ``server_name``.
"""

from __future__ import annotations

import signal
import ssl
import time

import httpx
import pytest
from test_ingest_remote_write import HEADERS, write_request

from harness.backend_service import start_backend
from harness.backend_testing import bearer
from harness.certs import make_test_ca
from harness.daemon import parse_metrics
from harness.prometheus import Prometheus
from harness.trixie_container import free_tcp_port

pytestmark = pytest.mark.slow
SERVER_NAME = "backend.example"


@pytest.fixture
def certs(tmp_path):
    return make_test_ca(tmp_path / "tls", hostnames=(SERVER_NAME,), ips=())


@pytest.fixture
def prometheus(certs):
    prom = Prometheus(receiver=True, tls=certs).start()
    yield prom
    prom.stop()


@pytest.fixture
def backend(settings_data, tmp_path):
    """``start(**relay_settings) -> (daemon, base URL)``: the backend relaying to Prometheus."""
    daemons = []

    def start(**relay):
        settings = {**settings_data, "prometheus_relay": relay}
        daemon, base = start_backend(settings, tmp_path / f"backend-{len(daemons)}")
        daemons.append(daemon)
        return daemon, base

    yield start
    for daemon in daemons:
        daemon.stop()


def relay_settings(prom: Prometheus, certs, **more):
    return {"url": f"{prom.url}/api/v1/write", "ca_file": certs["ca"], "server_name": SERVER_NAME, **more}


def series(name, host, value=1.0):
    return ({"__name__": name, "instance": f"{host}:9100", "job": "node"}, [(int(time.time() * 1000), value)])


def post(base, token, *batch):
    return httpx.post(
        f"{base}/api/v1/write", content=write_request(list(batch)), headers={**bearer(token), **HEADERS}, timeout=30
    )


def prometheus_values(prom: Prometheus, certs, promql: str) -> list[float]:
    """An instant query's values (Prometheus's certificate checked against SERVER_NAME, as the relay does)."""
    with httpx.Client(verify=ssl.create_default_context(cafile=certs["ca"]), timeout=10) as client:
        answer = client.get(
            f"{prom.url}/api/v1/query", params={"query": promql}, extensions={"sni_hostname": SERVER_NAME}
        )
    answer.raise_for_status()
    return [float(r["value"][1]) for r in answer.json()["data"]["result"]]


def wait_for_series(prom, certs, promql, daemon, timeout=90):
    deadline = time.monotonic() + timeout
    while not (values := prometheus_values(prom, certs, promql)):
        assert time.monotonic() < deadline, f"{promql} not in Prometheus after {timeout} s\n{daemon.log()}"
        time.sleep(0.5)
    return values


def relay_counts(base) -> dict[str, float]:
    page = httpx.get(f"{base}/metrics", timeout=10).text
    counts = {
        labels["outcome"]: value
        for name, labels, value, _stamp in parse_metrics(page)
        if name == "quadstats_backend_prometheus_relay_batches_total"
    }
    up = [
        value for name, _labels, value, _stamp in parse_metrics(page) if name == "quadstats_backend_prometheus_relay_up"
    ]
    return {**counts, "up": up[0]}


def test_accepted_batches_reach_prometheus_and_refused_ones_never(prometheus, certs, backend, make_token):
    daemon, base = backend(**relay_settings(prometheus, certs))
    token = make_token("qs-relay-a")
    answer = post(base, token, series("qs_relay_probe", "qs-relay-a", 42.0))
    assert answer.status_code == 204, answer.text
    assert wait_for_series(prometheus, certs, 'qs_relay_probe{instance="qs-relay-a:9100"}', daemon) == [42.0]

    refused = post(base, token, series("qs_relay_refused", "qs-relay-a"), series("qs_relay_refused", "qs-relay-b"))
    assert refused.status_code == 403, refused.text
    # The relay keeps order: once a later batch is in Prometheus, the refused one would be too.
    assert post(base, token, series("qs_relay_after", "qs-relay-a", 7.0)).status_code == 204
    assert wait_for_series(prometheus, certs, "qs_relay_after", daemon) == [7.0]
    assert prometheus_values(prometheus, certs, "qs_relay_refused") == []
    counts = relay_counts(base)
    assert counts.get("relayed") == 2, counts
    assert counts.get("failed", 0) == 0 and counts.get("rejected", 0) == 0 and counts["up"] == 1, counts

    # A sample older than the series' newest: the backend takes it, Prometheus refuses it (400, out of
    # order); the relay drops it without retrying, says so once and stays up.
    (labels, [(millis, _value)]) = series("qs_relay_probe", "qs-relay-a", 1.0)
    assert post(base, token, (labels, [(millis - 60_000, 1.0)])).status_code == 204
    daemon.wait_for(lambda: relay_counts(base).get("rejected", 0) == 1, timeout=60, what="a refused batch")
    counts = relay_counts(base)
    assert counts["up"] == 1 and counts.get("failed", 0) == 0, counts
    assert daemon.log().count("prometheus relay:") == 1 and "refused a batch (HTTP 400" in daemon.log()


def test_prometheus_away_ingest_still_accepted_and_the_relay_resumes(prometheus, certs, backend, make_token):
    # Slow retries (2 s, 4 s) and a queue of 2: batches posted faster than that push the oldest out.
    daemon, base = backend(**relay_settings(prometheus, certs, queue_batches=2, max_attempts=3, backoff_seconds=2))
    token = make_token("qs-relay-a")
    assert post(base, token, series("qs_relay_before", "qs-relay-a")).status_code == 204
    wait_for_series(prometheus, certs, "qs_relay_before", daemon)
    port = prometheus.port
    prometheus.stop()

    for i in range(8):
        answer = post(base, token, series("qs_relay_while_away", "qs-relay-a", float(i)))
        assert answer.status_code == 204, answer.text
    daemon.wait_for(
        lambda: (c := relay_counts(base)).get("failed", 0) >= 1 and c.get("dropped", 0) >= 1 and c["up"] == 0,
        timeout=60,
        what="the relay counting failed and dropped batches",
        interval=0.5,
    )
    assert daemon.log().count("prometheus relay:") == 1, daemon.log()
    assert "failing (ConnectError" in daemon.log(), daemon.log()

    back = Prometheus(receiver=True, tls=certs, port=port).start()
    try:
        assert post(base, token, series("qs_relay_back", "qs-relay-a", 3.0)).status_code == 204
        assert wait_for_series(back, certs, "qs_relay_back", daemon) == [3.0]
        assert relay_counts(base)["up"] == 1
        log = daemon.log()
        assert log.count("prometheus relay:") == 2 and "accepts batches again" in log, log
    finally:
        back.stop()


def test_prometheus_certificate_is_checked_against_server_name(prometheus, certs, backend, make_token):
    """The certificate names backend.example only: another server_name must fail verification (so the
    success above proves the name checked is server_name, not the URL's 127.0.0.1)."""
    daemon, base = backend(**relay_settings(prometheus, certs, server_name="other.example", max_attempts=1))
    token = make_token("qs-relay-a")
    assert post(base, token, series("qs_relay_wrong_name", "qs-relay-a")).status_code == 204
    daemon.wait_for(lambda: relay_counts(base).get("failed", 0) >= 1, timeout=60, what="a failed relay", interval=0.5)
    assert "CERTIFICATE_VERIFY_FAILED" in daemon.log() or "certificate verify failed" in daemon.log(), daemon.log()
    assert "other.example" in daemon.log(), daemon.log()
    assert prometheus_values(prometheus, certs, "qs_relay_wrong_name") == []
    assert relay_counts(base).get("relayed", 0) == 0


def test_shutdown_with_batches_queued_and_prometheus_away_is_clean(certs, backend, make_token):
    """Nothing listens at the relay's URL (a closed port); long waits between tries: SIGTERM still ends the
    service cleanly, the queued batches counted as dropped in its last words."""
    url = f"https://127.0.0.1:{free_tcp_port()}/api/v1/write"
    daemon, base = backend(url=url, ca_file=certs["ca"], server_name=SERVER_NAME, backoff_seconds=60)
    token = make_token("qs-relay-a")
    for i in range(3):
        assert post(base, token, series("qs_relay_never", "qs-relay-a", float(i))).status_code == 204
    daemon.wait_for(lambda: relay_counts(base)["up"] == 0, timeout=60, what="the relay failing", interval=0.5)
    # uvicorn ends a graceful shutdown by raising the signal it caught again: -SIGTERM is its clean exit
    assert daemon.stop() in (0, -signal.SIGTERM), daemon.log()
    log = daemon.log()
    assert "Application shutdown complete." in log and "Traceback" not in log, log
    assert "queued batch(es) dropped at shutdown" in log, log
