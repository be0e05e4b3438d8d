"""The InfluxDB sinks (v1 and v2, HTTP and HTTPS) against a receiver speaking InfluxDB's write API."""

from __future__ import annotations

import pytest
from influx_receiver import InfluxReceiver, parse_line
from onefs_exporter_helpers import cluster_entry, free_port, http_get, metric, parse_metrics

from harness.certs import make_test_ca
from harness.daemon import secret_file

GROUPS = [{"name": "cpu", "keys": ["cluster.cpu.user.avg", "node.load.1min", "cluster.protostats.nfs"], "interval": 1}]


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs):
        rec = InfluxReceiver(**kwargs)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()


def secret(tmp_path, name, text):
    return secret_file(tmp_path / name, text)


def config_for(sim, password_file, influx):
    return {
        "clusters": [cluster_entry("a", sim, password_file)],
        "stat_groups": GROUPS,
        "min_update_interval": 1,
        "sinks": {"influxdb": influx, "prometheus": {"port": free_port()}},
    }


def sink_errors(port):
    samples = parse_metrics(http_get(f"http://127.0.0.1:{port}/metrics")[1])
    return {s[1]["kind"]: s[2] for s in metric(samples, "quadstats_onefs_exporter_sink_errors_total")}


def test_influx_v1_basic_auth_and_refusals(sim_factory, password_file, exporter_factory, receivers, tmp_path):
    sim = sim_factory(cluster_name="Alpha")
    rec = receivers(user="writer", password="influx-pw")  # noqa: S106 - test credentials
    influx = {
        "version": 1,
        "url": rec.url,
        "database": "isi_data_insights",
        "username": "writer",
        "password_file": secret(tmp_path, "influx.pw", "influx-pw"),
    }
    proc = exporter_factory(config_for(sim, password_file, influx))
    proc.wait_for(lambda: len(rec.points) > 10, what="points written")
    names = {p[0] for p in rec.points}
    assert {"cluster.cpu.user.avg", "node.load.1min", "cluster.protostats.nfs"} <= names
    load = next(p for p in rec.points if p[0] == "node.load.1min")
    assert set(load[1]) == {"cluster", "node", "devid"} and load[1]["cluster"] == "alpha"
    assert load[3] % 1_000_000_000 == 0  # OneFS time in nanoseconds
    nfs = next(p for p in rec.points if p[0] == "cluster.protostats.nfs")
    assert {"op_name", "class_name"} <= set(nfs[1]) and "op_rate" in nfs[2]
    assert set(rec.statuses()) == {204}
    proc.stop()

    # A database that does not exist: InfluxDB answers 404; batches are dropped and counted, one log line.
    influx["database"] = "nope"
    config = config_for(sim, password_file, influx)
    proc = exporter_factory(config)
    port = config["sinks"]["prometheus"]["port"]
    proc.wait_for(lambda: sink_errors(port).get("not_found", 0) >= 3, what="404s counted")
    assert proc.log().count('write failed (not_found): HTTP 404: database not found: "nope"') == 1
    proc.stop()


def test_influx_v2_https_token_retries_and_tls(sim_factory, password_file, exporter_factory, receivers, tmp_path):
    sim = sim_factory(cluster_name="Beta")
    certs = make_test_ca(tmp_path / "influx-tls")
    rec = receivers(token="tok-123", org="quadstats", buckets=("onefs",), tls_certs=certs)  # noqa: S106
    rec.fail_next = [(503, 2), (429, 1)]
    influx = {
        "version": 2,
        "url": rec.url,
        "org": "quadstats",
        "bucket": "onefs",
        "token_file": secret(tmp_path, "influx.token", "tok-123"),
        "ca_file": certs["ca"],
    }
    proc = exporter_factory(config_for(sim, password_file, influx))
    proc.wait_for(lambda: 204 in rec.statuses(), timeout=30, what="a write after the retries")
    statuses = rec.statuses()
    assert statuses[:3] == [503, 503, 429]  # the same batch retried: nothing lost to 5xx/429
    first_ok = statuses.index(204)
    assert first_ok == 3
    assert any(p[0] == "cluster.cpu.user.avg" and p[1]["cluster"] == "beta" for p in rec.points)
    proc.stop()

    # Verification stays on: without the CA the self-signed receiver is refused, nothing is sent.
    before = len(rec.requests)
    del influx["ca_file"]
    config = config_for(sim, password_file, influx)
    proc = exporter_factory(config)
    port = config["sinks"]["prometheus"]["port"]
    proc.wait_for(lambda: sink_errors(port).get("tls", 0) >= 1, what="a TLS failure")
    assert "write failed (tls)" in proc.log()
    assert len(rec.requests) == before
    proc.stop()

    # A wrong token: 401, batches dropped as InfluxDB refused them.
    influx["ca_file"] = certs["ca"]
    influx["token_file"] = secret(tmp_path, "wrong.token", "wrong")
    config = config_for(sim, password_file, influx)
    proc = exporter_factory(config)
    port = config["sinks"]["prometheus"]["port"]
    proc.wait_for(lambda: sink_errors(port).get("authentication", 0) >= 2, what="401s counted")
    assert "tok-123" not in proc.log() and "wrong" not in proc.log().replace("write failed", "")


def test_receiver_parses_line_protocol():
    assert parse_line("m,a=b\\ c f=1.5,g=2i 10") == ("m", {"a": "b\\ c"}, {"f": 1.5, "g": 2.0}, 10)
    with pytest.raises(ValueError):
        parse_line("m,a=b")
