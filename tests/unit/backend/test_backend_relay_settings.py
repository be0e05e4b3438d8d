"""Settings ``prometheus_relay``: the URL, the CA file and the certificate's name are checked at start."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.services.backend.settings import parse_settings
from ansible_collections.quadstats.stack.services.common.config import ConfigError

URL = "https://10.89.64.12:9090/api/v1/write"


def test_off_by_default_and_defaults_when_set(tmp_path):
    assert parse_settings({}).prometheus_relay is None
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    relay = parse_settings(
        {"prometheus_relay": {"url": URL, "ca_file": str(ca), "server_name": "backend.example.org"}}
    ).prometheus_relay
    assert (relay.url, relay.ca_file, relay.server_name) == (URL, ca, "backend.example.org")
    assert (relay.queue_batches, relay.queue_bytes, relay.max_attempts, relay.backoff_seconds) == (1000, 64 << 20, 4, 1)
    assert parse_settings({"prometheus_relay": {"url": "http://127.0.0.1:9090/api/v1/write"}}).prometheus_relay


@pytest.mark.parametrize(
    ("relay", "message"),
    [
        ({}, r"setting prometheus_relay\.url"),
        ({"url": "ftp://prometheus/api/v1/write"}, r"setting prometheus_relay\.url"),
        ({"url": "https://prometheus/api/v1/write?x=1"}, r"setting prometheus_relay\.url"),
        ({"url": URL, "server_name": "a b"}, r"setting prometheus_relay\.server_name"),
        ({"url": URL, "queue_batches": 0}, r"setting prometheus_relay\.queue_batches"),
        ({"url": URL, "queue_bytes": 10}, r"setting prometheus_relay\.queue_bytes"),
        ({"url": URL, "max_attempts": 0}, r"setting prometheus_relay\.max_attempts"),
        ({"url": URL, "typo": 1}, r"setting prometheus_relay\.typo"),
        ({"url": URL, "ca_file": "/nonexistent/ca.pem"}, r"setting prometheus_relay\.ca_file: /nonexistent/ca\.pem"),
        ({"url": "http://127.0.0.1:9090/api/v1/write", "server_name": "x"}, r"only for an https:// url"),
    ],
)
def test_bad_relay_settings_name_the_setting(relay, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"prometheus_relay": relay})
