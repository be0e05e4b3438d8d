"""The test doubles of the stats_collector scenario against the committed golden configs.

The Alloy STAND-IN (tests/harness/alloy_standin/standin.py) must find in each golden config exactly the
endpoints, users and password files the real Alloy would use, and wire its components as Alloy would
(job/instance of the host target, the journal labels of the relabel rules), so the molecule scenario tests
the config the role really renders. Its protobuf bodies must parse with the backend's own parser, and the
receiver must decode them and keep only a digest of a password.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
from pathlib import Path

import pytest
import snappy

from ansible_collections.quadstats.stack.services.backend.auth import Principal
from ansible_collections.quadstats.stack.services.backend.ingest.loki import rows_from_protobuf
from ansible_collections.quadstats.stack.services.backend.ingest.proto import messages
from harness.receiver import record_of

HERE = Path(__file__).resolve().parent
STANDIN = HERE.parents[1] / "harness" / "alloy_standin" / "standin.py"


def load_standin():
    spec = importlib.util.spec_from_file_location("alloy_standin_program", STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLOUD_FILE = "/run/secrets/prometheus_api_token"
LOCAL_FILE = "/run/secrets/local_basic_auth_password"
EXPECTED = {
    "cloud": [
        (
            "prometheus.remote_write.default",
            "https://prometheus-prod-24-prod-eu-west-2.grafana.net/api/prom/push",
            "1234567",
            CLOUD_FILE,
        ),
        ("loki.write.default", "https://logs-prod-012.grafana.net/loki/api/v1/push", "654321", CLOUD_FILE),
    ],
    "local": [
        ("prometheus.remote_write.default", "http://backend.example.net:9090/api/v1/write", None, None),
        ("loki.write.default", "http://backend.example.net:3100/loki/api/v1/push", None, None),
    ],
    "local_auth": [
        ("prometheus.remote_write.default", "https://backend.example.net/api/v1/write", "collector", LOCAL_FILE),
        ("prometheus.remote_write.default", "https://127.0.0.1:9090/api/v1/write", None, None),
        ("loki.write.default", "https://backend.example.net/loki/api/v1/push", "collector", LOCAL_FILE),
    ],
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_standin_finds_what_alloy_would_use(case: str) -> None:
    config = (HERE / "golden" / case / "config.alloy").read_text()
    found = [(e["component"], e["url"], e["username"], e["password_file"]) for e in load_standin().endpoints(config)]
    assert found == EXPECTED[case]
    # the role renders tls_config only with stats_collector_ca_cert (local_auth: site.yml's backend CA)
    expected_ca = "/etc/alloy/ca.pem" if case == "local_auth" else None
    assert all(e["ca_file"] == expected_ca for e in load_standin().endpoints(config))


def test_standin_ignores_comments_and_braces_in_strings() -> None:
    config = """
    // prometheus.remote_write "commented" { endpoint { url = "http://no" } }
    prometheus.remote_write "x" {
      endpoint {
        url = "http://a/{not a block}" /* prometheus.remote_write "y" { } */
      }
    }
    """
    assert load_standin().endpoints(config) == [
        {
            "component": "prometheus.remote_write.x",
            "url": "http://a/{not a block}",
            "username": None,
            "password_file": None,
            "ca_file": None,
            "insecure_skip_verify": False,
        }
    ]


def test_receiver_keeps_only_a_digest_of_the_password() -> None:
    auth = base64.b64encode(b"1234567:glc_secret:with-colon").decode()
    record = record_of("POST", "/api/prom/push", {"Authorization": f"Basic {auth}"}, b'{"starts": 1}')
    assert record["user"] == "1234567"
    assert record["password_sha256"] == hashlib.sha256(b"glc_secret:with-colon").hexdigest()
    assert "glc_secret" not in repr(record)
    assert record["body"] == {"starts": 1}


def golden_pipelines(case: str):
    standin = load_standin()
    root = standin.parse_config((HERE / "golden" / case / "config.alloy").read_text())
    return standin, standin.Pipelines(root, "0.0.0.0:12345", "/nonexistent", 1)


def test_host_target_gets_the_labels_of_the_relabel_rules() -> None:
    standin, pipelines = golden_pipelines("cloud")
    [target] = pipelines.targets(pipelines.components["prometheus.scrape.host"]["targets"])
    assert target == {
        "__address__": "127.0.0.1:12345",
        "__metrics_path__": "/api/v0/component/prometheus.exporter.unix.host/metrics",
        "instance": "monitor-01",
        "job": "integrations/node_exporter",
    }
    assert standin.duration(pipelines.components["prometheus.scrape.host"]["scrape_interval"]) == 60


def test_journal_entry_labels_follow_the_loki_relabel_rules() -> None:
    standin, pipelines = golden_pipelines("cloud")
    rules = standin.rules_of(pipelines.components["loki.relabel.journal"])
    constant = pipelines.components["loki.source.journal.journal"]["labels"]
    entry = {
        "MESSAGE": "Accepted publickey",
        "_SYSTEMD_UNIT": "ssh.service",
        "_HOSTNAME": "web1",
        "PRIORITY": "6",
        "SYSLOG_IDENTIFIER": "sshd",
        "_PID": "42",
        "__REALTIME_TIMESTAMP": 1_700_000_000_123_456,
        "__CURSOR": "s=1",
    }
    labels, nanos, line = standin.journal_entry(entry, rules, constant)
    assert labels == {
        "job": "systemd-journal",
        "instance": "monitor-01",
        "unit": "ssh.service",
        "host": "web1",
        "priority": "info",
        "syslog_identifier": "sshd",
    }
    assert (nanos, line) == (1_700_000_000_123_456_000, "Accepted publickey")


def test_bodies_parse_with_the_backends_parsers_and_the_receiver_decodes_them() -> None:
    standin = load_standin()
    series = [({"__name__": name, "instance": "web1", **labels}, value, 1_700_000_000_000) for name, labels, value in
              standin.node_samples("/proc", "/")]  # fmt: skip
    body = standin.write_request(series)
    parsed = messages()["WriteRequest"].FromString(body)
    assert len(parsed.timeseries) == len(series)
    assert [label.name.decode() for label in parsed.timeseries[0].labels] == sorted(series[0][0])
    headers = {"Content-Type": "application/x-protobuf"}
    record = record_of("POST", "/api/v1/write", headers, snappy.compress(body))
    assert record["body"]["series"][0] == [series[0][0], series[0][1], 1_700_000_000_000]

    push = standin.push_request([({"host": "web1", "job": "j"}, 1_700_000_000_000_000_001, 'a "line"')])
    [row] = rows_from_protobuf(push, Principal("web1"), 10)
    fields = json.loads(row.fields) if isinstance(row.fields, str) else row.fields  # JSON text on the Loki path
    assert (row.host, row.message, fields["timestamp_ns"]) == ("web1", 'a "line"', "1700000000000000001")
    record = record_of("POST", "/loki/api/v1/push", headers, snappy.compress(push))
    assert record["body"]["streams"] == [
        {"labels": '{host="web1", job="j"}', "entries": [[1_700_000_000_000_000_001, 'a "line"']]}
    ]


def test_node_samples_are_the_machines_own_figures() -> None:
    """Read from this machine's real /proc and / (what the container gets mounted at /host/...)."""
    samples = load_standin().node_samples("/proc", "/")
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    [total] = [v for name, _labels, v in samples if name == "node_memory_MemTotal_bytes"]
    assert total == int(meminfo["MemTotal"].split()[0]) * 1024
    [root] = [v for name, labels, v in samples if name == "node_filesystem_size_bytes" and labels["mountpoint"] == "/"]
    st = os.statvfs("/")
    assert root == st.f_blocks * st.f_frsize
    cpus = {labels["cpu"] for name, labels, _v in samples if name == "node_cpu_seconds_total"}
    assert len(cpus) == os.cpu_count()
    assert {name for name, _labels, _v in samples} >= {"node_load1", "node_load5", "node_load15"}


def test_standin_verifies_tls_with_the_given_ca_or_the_system_cas(tmp_path) -> None:
    """As Alloy: tls_config.ca_file when given, else the system CAs; a server of an unknown CA is refused."""
    import ssl  # noqa: PLC0415
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

    from harness.certs import make_test_ca  # noqa: PLC0415

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    tls = make_test_ca(tmp_path, hostnames=(), ips=("127.0.0.1",))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls["cert"], tls["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    standin = load_standin()
    standin.MAX_RETRIES = 0
    url = f"https://127.0.0.1:{server.server_address[1]}/api/v1/write"
    endpoint = {"component": "prometheus.remote_write.t", "url": url, "username": None, "password_file": None}
    try:
        trusted = standin.Sender({**endpoint, "ca_file": tls["ca"], "insecure_skip_verify": False}, 1, {})
        assert trusted.send(b"x", {})
        stats: dict = {}
        untrusted = standin.Sender({**endpoint, "ca_file": None, "insecure_skip_verify": False}, 1, stats)
        assert not untrusted.send(b"x", {})
        assert "CERTIFICATE_VERIFY_FAILED" in str(stats["last_status"])
    finally:
        server.shutdown()
        server.server_close()


def test_scrape_drops_empty_label_values_and_renames_clashing_ones() -> None:
    """As Alloy's scrape: a label with an empty value is no label (remote write forbids empty values, and a real
    Prometheus refuses the batch), a label the target sets too becomes exported_<name>."""
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

    body = b'isilon_quota_usage_bytes{cluster="c1",linked="",path="/ifs/data"} 42\n'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    standin = load_standin()
    scraper = type("Scraper", (), {"stats": {"scrape": {}}})()
    target = {"__address__": f"127.0.0.1:{server.server_address[1]}", "cluster": "from-sd"}
    try:
        series = standin.Pipelines.scrape_target(scraper, "prometheus.scrape.onefs", target, 1000)
    finally:
        server.shutdown()
    labels = next(labels for labels, _value, _ms in series if labels["__name__"] == "isilon_quota_usage_bytes")
    assert labels == {
        "__name__": "isilon_quota_usage_bytes", "exported_cluster": "c1", "path": "/ifs/data", "cluster": "from-sd",
        "instance": target["__address__"], "job": "prometheus.scrape.onefs",
    }  # fmt: skip


def test_http_sd_targets_on_the_loopback_are_named_after_this_host() -> None:
    """A target at 127.0.0.1 without an instance label (this host's OneFS exporter) is instance <host>:<port>: the
    backend binds the token to the host name (it strips the port) and refused these series as host 127.0.0.1
    before; other targets and an instance label the SD gives are kept."""
    standin, pipelines = golden_pipelines("local")
    rules = standin.rules_of(pipelines.components["discovery.relabel.http_sd"])
    assert standin.relabel({"__address__": "127.0.0.1:9100", "cluster": "c1"}, rules) == {
        "__address__": "127.0.0.1:9100", "cluster": "c1", "instance": "monitor-01:9100",
    }  # fmt: skip
    assert standin.relabel({"__address__": "[::1]:9101"}, rules)["instance"] == "monitor-01:9101"
    assert "instance" not in standin.relabel({"__address__": "onefs-exporter.example.net:9100"}, rules)
    given = {"__address__": "127.0.0.1:9100", "instance": "named-by-sd"}
    assert standin.relabel(given, rules) == given
    assert pipelines.components["prometheus.scrape.http_sd"]["targets"] == "discovery.relabel.http_sd.output"
