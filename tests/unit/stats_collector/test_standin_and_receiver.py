"""The test doubles of the stats_collector scenario against the committed golden configs.

The Alloy STAND-IN (tests/harness/alloy_standin/standin.py) must find in each golden config exactly the
endpoints, users and password files the real Alloy would use, so the molecule scenario tests the config
the role really renders. The receiver must keep only a digest of a password.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from pathlib import Path

import pytest

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
        ("loki.write.default", "https://backend.example.net/loki/api/v1/push", "collector", LOCAL_FILE),
    ],
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_standin_finds_what_alloy_would_use(case: str) -> None:
    config = (HERE / "golden" / case / "config.alloy").read_text()
    found = [(e["component"], e["url"], e["username"], e["password_file"]) for e in load_standin().endpoints(config)]
    assert found == EXPECTED[case]


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
        }
    ]


def test_receiver_keeps_only_a_digest_of_the_password() -> None:
    auth = base64.b64encode(b"1234567:glc_secret:with-colon").decode()
    record = record_of("POST", "/api/prom/push", {"Authorization": f"Basic {auth}"}, b'{"starts": 1}')
    assert record["user"] == "1234567"
    assert record["password_sha256"] == hashlib.sha256(b"glc_secret:with-colon").hexdigest()
    assert "glc_secret" not in repr(record)
    assert record["body"] == {"starts": 1}
