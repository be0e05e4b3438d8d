"""The exporter's settings: defaults, every wrong setting named, sink requirements."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.container_exporter.settings import load_settings, parse_settings


def test_defaults_listen_on_loopback_and_verify_tls():
    cfg = parse_settings({})
    assert cfg["listen"]["host"] == "127.0.0.1"
    assert cfg["collection"]["interval"] == 15
    assert cfg["sinks"]["influxdb"]["verify"] is True
    assert cfg["sinks"]["backend"]["verify"] is True
    assert cfg["host"]


def test_every_wrong_setting_is_named_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            {
                "collection": {"interval": 0, "metrics": ["cpu", "disk"], "sorce": "api"},
                "listen": {"port": "x"},
                "disk": {"mounts": ["relative"]},
            }
        )
    text = str(caught.value)
    for name in (
        "collection.interval",
        "collection.metrics",
        "collection.sorce: unknown setting",
        "listen.port",
        "disk.mounts",
    ):
        assert f"setting {name}" in text


def test_enabled_sinks_need_their_settings():
    with pytest.raises(ConfigError) as caught:
        parse_settings({"sinks": {"influxdb": {"enabled": True}, "backend": {"enabled": True}}})
    text = str(caught.value)
    for name in (
        "influxdb.url",
        "influxdb.org",
        "influxdb.bucket",
        "influxdb.token_file",
        "backend.url",
        "backend.token_file",
    ):
        assert f"setting sinks.{name}: required" in text
    with pytest.raises(ConfigError, match=r"sinks\.influxdb\.database"):
        parse_settings({"sinks": {"influxdb": {"enabled": True, "version": 1, "url": "http://x:8086"}}})


def test_heartbeat_deadline_must_outlast_two_intervals():
    backend = {"enabled": True, "url": "https://b", "token_file": "/t", "minutes_till_alert": 1}
    with pytest.raises(ConfigError, match=r"sinks\.backend\.minutes_till_alert"):
        parse_settings({"collection": {"interval": 60}, "sinks": {"backend": backend}})
    assert parse_settings({"collection": {"interval": 30}, "sinks": {"backend": backend}})


def test_missing_file_and_bad_yaml_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
