"""The push sinks against local receivers speaking InfluxDB's v1/v2 write API and the backend's
POST /metric: credentials, TLS verified by default, a bounded buffer with retries that never holds
up the other sinks."""

from __future__ import annotations

import time

import pytest
from cx_receivers import Receiver

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.container_exporter.settings import parse_settings
from ansible_collections.quadstats.stack.services.container_exporter.sinks import build_sinks
from harness.certs import make_test_ca
from harness.daemon import secret_file

SAMPLE = {
    "id": "a" * 64, "name": "web", "image": "localhost/web:1", "state": "running", "timestamp": 1796036523.5,
    "labels": {"id": "a" * 64, "name": "web", "image": "localhost/web:1"},
    "counters": {"cpu_usage_ns": 1500000000}, "gauges": {"memory_usage_bytes": 4096}, "rates": {"cpu_percent": 12.5},
}  # fmt: skip
EXTRA = {"disk": {"/": {"used_bytes": 1, "limit_bytes": 4}}, "time": 1796036523.5}


def secret(tmp_path, name, value):
    return secret_file(tmp_path / name, value)


def wait_until(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.05)


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()


def test_influxdb_v1_and_v2_and_backend_receive_what_one_collection_says(tmp_path, receivers):
    v1 = receivers(basic=("writer", "pw-v1"))
    v2 = receivers(bearer="tok-v2")
    backend = receivers(bearer="tok-backend")
    sinks_v1 = parse_settings(
        {"sinks": {"influxdb": {"enabled": True, "version": 1, "url": v1.url, "database": "stats",
                                "username": "writer", "password_file": secret(tmp_path, "pw", "pw-v1")}}}
    )  # fmt: skip
    both = parse_settings(
        {
            "host": "web1",
            "sinks": {
                "influxdb": {"enabled": True, "url": v2.url, "org": "o", "bucket": "b",
                             "token_file": secret(tmp_path, "influx", "tok-v2")},
                "backend": {"enabled": True, "url": backend.url,
                            "token_file": secret(tmp_path, "backend", "tok-backend")},
            },
        }
    )  # fmt: skip
    sinks = [s.start() for s in build_sinks(sinks_v1) + build_sinks(both)]
    for sink in sinks:
        sink.offer([SAMPLE], EXTRA)
    wait_until(lambda: v1.bodies("/write") and v2.bodies("/api/v2/write") and backend.bodies("/metric"))
    for sink in sinks:
        sink.stop(2)
    line = v1.bodies("/write")[0]
    assert line.startswith("container,id=" + "a" * 64 + ",image=localhost/web:1,name=web ")
    assert "cpu_usage_ns=1500000000i" in line
    assert line.rstrip().endswith(" 1796036523500000000")
    assert v1.requests[0][1] == {"db": ["stats"], "precision": ["ns"]}
    assert v2.requests[0][1] == {"org": ["o"], "bucket": ["b"], "precision": ["ns"]}
    assert v2.bodies("/api/v2/write") == [line]
    assert backend.bodies("/metric")[0] == [
        {
            "host": "web1",
            "name": "container web",
            "type": "ping",
            "value": 5,
            "timestamp": "2026-11-30T11:02:03.500000Z",
        },
        {"host": "web1", "name": "/", "type": "disk", "value": 25.0, "timestamp": "2026-11-30T11:02:03.500000Z"},
    ]
    assert backend.requests[0][2]["Authorization"] == "Bearer tok-backend"


def test_wrong_token_is_counted_as_authentication(tmp_path, receivers):
    backend = receivers(bearer="right")
    cfg = parse_settings(
        {"sinks": {"backend": {"enabled": True, "url": backend.url, "token_file": secret(tmp_path, "t", "wrong")}},
         "buffer": {"retry_max_seconds": 0.2}}
    )  # fmt: skip
    [sink] = [s.start() for s in build_sinks(cfg)]
    sink.offer([SAMPLE], EXTRA)
    wait_until(lambda: sink.stats.errors["authentication"] >= 1)
    wait_until(lambda: sink.stats.dropped == 1)  # refused: dropped, not retried for ever
    sink.stop(0)
    assert backend.bodies("/metric") == []
    assert sink.buffered() == 0


def test_tls_is_verified_by_default_and_a_ca_file_makes_it_trusted(tmp_path, receivers):
    tls = make_test_ca(tmp_path / "tls")
    backend = receivers(bearer="tok", tls=tls)
    token = secret(tmp_path, "t", "tok")
    untrusted = parse_settings({"sinks": {"backend": {"enabled": True, "url": backend.url, "token_file": token}}})
    [sink] = [s.start() for s in build_sinks(untrusted)]
    sink.offer([SAMPLE], EXTRA)
    wait_until(lambda: sink.stats.errors["tls"] >= 1)
    sink.stop(0)
    assert backend.bodies("/metric") == []
    trusted = parse_settings(
        {"sinks": {"backend": {"enabled": True, "url": backend.url, "token_file": token, "ca_file": tls["ca"]}}}
    )
    [sink] = [s.start() for s in build_sinks(trusted)]
    sink.offer([SAMPLE], EXTRA)
    wait_until(lambda: backend.bodies("/metric"))
    sink.stop(1)


def test_a_failing_sink_buffers_a_bounded_amount_retries_and_never_holds_up_the_others(tmp_path, receivers):
    down = receivers(bearer="tok")
    down.fail_next = 10**6  # answers 503 until told otherwise
    up = receivers(bearer="tok-v2")
    cfg = parse_settings(
        {
            "buffer": {"max_batches": 3, "retry_max_seconds": 0.2},
            "sinks": {
                "backend": {"enabled": True, "url": down.url, "token_file": secret(tmp_path, "b", "tok")},
                "influxdb": {"enabled": True, "url": up.url, "org": "o", "bucket": "b",
                             "token_file": secret(tmp_path, "i", "tok-v2")},
            },
        }
    )  # fmt: skip
    sinks = {s.name: s.start() for s in build_sinks(cfg)}
    for i in range(6):
        sinks["backend"].offer([{**SAMPLE, "name": f"web{i}"}], EXTRA)
        sinks["influxdb"].offer([{**SAMPLE, "name": f"web{i}"}], EXTRA)
        # The other sink delivers each collection while the backend refuses.
        wait_until(lambda n=i + 1: len(up.bodies("/api/v2/write")) == n)
    wait_until(lambda: sinks["backend"].stats.errors["api"] >= 2)
    assert sinks["backend"].buffered() == 3
    assert sinks["backend"].stats.dropped == 3
    with down.lock:
        down.fail_next = 0
    wait_until(lambda: len(down.bodies("/metric")) == 3)
    names = [body[0]["name"] for body in down.bodies("/metric")]
    assert names == ["container web3", "container web4", "container web5"]  # the newest kept, in order
    for sink in sinks.values():
        sink.stop(1)


def test_unreadable_secret_file_is_named(tmp_path):
    loose = tmp_path / "token"
    loose.write_text("tok\n")
    loose.chmod(0o644)
    cfg = parse_settings(
        {"sinks": {"backend": {"enabled": True, "url": "http://127.0.0.1:9", "token_file": str(loose)}}}
    )
    with pytest.raises(ConfigError, match=r"sinks\.backend\.token_file: secret file .* readable by others"):
        build_sinks(cfg)
