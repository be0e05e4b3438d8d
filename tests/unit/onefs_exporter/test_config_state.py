"""Exporter configuration validation, series expiry and the self-metrics page."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.onefs_exporter.config import Interval, parse_config, parse_interval
from ansible_collections.quadstats.stack.services.onefs_exporter.sinks import http_sd_document
from ansible_collections.quadstats.stack.services.onefs_exporter.state import (
    ClusterState,
    MergedRender,
    render_clusters,
)


def cluster(**extra):
    entry = {"name": "a", "host": "a.example.com", "username": "u", "password_file": "/nonexistent"}
    entry.update(extra)
    return entry


def test_intervals():
    assert parse_interval("*") == Interval(multiplier=1)
    assert parse_interval("*3") == Interval(multiplier=3)
    assert parse_interval(30) == Interval(seconds=30.0)
    assert parse_interval("15") == Interval(seconds=15.0)
    for bad in ("*0", "x", 0, -5, True):
        with pytest.raises(ValueError):
            parse_interval(bad)
    assert Interval(multiplier=2).for_key(5, 1) == 10
    assert Interval(seconds=2).for_key(300, 5) == 5  # never below the minimum


def test_defaults_and_shipped_groups():
    config = parse_config({"clusters": [cluster()], "sinks": {"discard": {}}}, read_secrets=False)
    assert len(config.stat_groups) == 13 and config.expiry_multiplier == 2
    only = config.clusters[0]
    assert only.port == 8080 and only.verify is True and only.auth == "session"


def test_every_wrong_setting_is_named():
    data = {
        "clusters": [
            cluster(port=70000, auth="kerberos", verify="yes", stat_groups=["nope"], summary=["heat"], extra=1),
            cluster(prometheus_port=9100),
            cluster(name="b", prometheus_port=9100),
        ],
        "stat_groups": [{"name": "g", "keys": [], "interval": "*0"}],
        "sinks": {"influxdb": {"version": 2, "url": "influx:8086"}},
        "typo": True,
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data, read_secrets=False)
    text = str(err.value)
    for expected in (
        "setting clusters[0].port: must be an integer from 1 to 65535",
        "setting clusters[0].auth: must be one of session, basic",
        "setting clusters[0].verify: must be true or false",
        "setting clusters[0].stat_groups: must be a list of stat group names from: g",
        "setting clusters[0].summary: must be a list of: protocol, client, drive",
        "setting clusters[0].extra: unknown setting",
        "setting clusters[1].name: cluster name 'a' is used twice",
        "setting clusters[2].prometheus_port: port 9100 is used by another cluster",
        "setting stat_groups[0].keys: must be a non-empty list",
        "setting stat_groups[0].interval: must be '*', '*N'",
        "setting sinks.influxdb.url: must start with http:// or https://",
        "setting sinks.influxdb.org: is required",
        "setting sinks.influxdb.token_file: is required",
        "setting typo: unknown setting",
    ):
        assert expected in text, expected


def test_secret_files_are_checked(tmp_path):
    loose = tmp_path / "pw"
    loose.write_text("secret-value")
    loose.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        parse_config({"clusters": [cluster(password_file=str(loose))], "sinks": {"discard": {}}})
    assert "readable by others" in str(err.value) and "secret-value" not in str(err.value)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def sample(name, value, cluster="a", node=None):
    """One value as the state keeps it: a frame of the core's decoder."""
    labels = {"cluster": cluster} if node is None else {"cluster": cluster, "node": node}
    return (name, labels, (None,), (value,), None, 1700000000, False)


def test_series_expire_after_their_lifetime_and_merge_families():
    clock = Clock()
    a, b = ClusterState("a", clock), ClusterState("b", clock)
    a.put({"k.x": [sample("k.x", 1)], "k.y": [sample("k.y", 2)]}, {"k.x": 10, "k.y": 600}.get)
    b.put({"k.x": [sample("k.x", 3, cluster="b")]}, lambda _s: 10)
    text = render_clusters([a, b])
    assert text.count("# TYPE isilon_stat_k_x gauge") == 1  # one family for both clusters
    assert 'isilon_stat_k_x{cluster="a"} 1 1700000000000' in text
    clock.now += 10.5
    text = render_clusters([a, b])
    assert "isilon_stat_k_x{" not in text and 'isilon_stat_k_y{cluster="a"} 2' in text
    assert 'quadstats_onefs_exporter_series{cluster="a"} 1' in text
    assert 'quadstats_onefs_exporter_up{cluster="b"} 0' in text


def test_http_sd_document():
    config = parse_config(
        {
            "clusters": [cluster(prometheus_port=9101), cluster(name="b", prometheus_port=9102)],
            "sinks": {"prometheus": {"port": 9100}, "http_sd": {"port": 9999}},
        },
        read_secrets=False,
    )
    doc = http_sd_document(config, "collector.example.com")
    assert [g["targets"] for g in doc] == [
        ["collector.example.com:9100"],
        ["collector.example.com:9101"],
        ["collector.example.com:9102"],
    ]
    assert doc[2]["labels"]["__meta_quadstats_onefs_cluster"] == "b"


def test_merged_render_is_reused_until_a_cluster_changes():
    clock = Clock()
    a, b = ClusterState("a", clock), ClusterState("b", clock)
    a.put({"k.x": [sample("k.x", 1)]}, lambda _s: 10)
    b.put({"k.x": [sample("k.x", 3, cluster="b")]}, lambda _s: 10)
    merged = MergedRender()
    first = merged.render([a, b])
    assert merged.render([a, b]) is first
    b.put({"k.x": [sample("k.x", 4, cluster="b")]}, lambda _s: 10)
    assert 'isilon_stat_k_x{cluster="b"} 4' in merged.render([a, b])
    clock.now += 11  # expiry also counts as a change
    assert merged.render([a, b]) == ""


def test_the_documented_configuration_is_valid():
    """The configuration reference in docs/onefs.md parses (every setting it shows exists)."""
    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    doc = (Path(__file__).resolve().parents[3] / "docs" / "onefs.md").read_text()
    section = doc.split("### Configuration", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = parse_config(yaml.safe_load(block), read_secrets=False)
    assert config.influx.version == 1 and config.clusters[0].summary == ("protocol", "client", "drive")
