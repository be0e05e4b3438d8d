"""Dell's PowerScale dashboards work unchanged: every metric name and label they query for the
statistics we collect is in the exporter's output against the simulator.

The names come from ``tests/fixtures/dashboards/onefs_dell_dashboards.json`` (recorded from the public
repository Isilon/powerscale_data_insights, ``dashboards/prometheus/``; README.md there says at
which commits). The output is rendered by the exporter's own code path (a ClusterPoller cycle and
``render_clusters``) with the 13 shipped stat groups, the three summary kinds and quotas.
"""

from __future__ import annotations

import re

import pytest
from onefs_exporter_helpers import PASSWORD, USER, parse_metrics

from ansible_collections.quadstats.stack.services.onefs_exporter.config import parse_config
from ansible_collections.quadstats.stack.services.onefs_exporter.poller import ClusterPoller
from ansible_collections.quadstats.stack.services.onefs_exporter.state import ClusterState, render_clusters
from fixtures.dashboards import load_dashboard_fixture, load_dashboard_metrics, load_dashboard_patterns

FIXTURE = load_dashboard_fixture("onefs")
# Names the dashboards use that this exporter cannot produce, with the reason.
NOT_PRODUCED = {
    name: "goppstats (partitioned performance dataset 0): another exporter, outside issue 11"
    for name, origin in FIXTURE["metric_origins"].items()
    if origin == "goppstats"
}
NOT_PRODUCED.update(
    {
        name: f"statistics key {src['key']} is not in OneFS's reference key list "
        "(statistics-keys.json); its panels stay empty on real clusters too, with gostats as well"
        for name, src in FIXTURE["metric_sources"].items()
        if src.get("in_reference_keys") is False
    }
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from harness.onefs_simulator import OneFSSimulator  # noqa: PLC0415

    tmp = tmp_path_factory.mktemp("dash")
    pw = tmp / "pw"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    sim = OneFSSimulator(seed=5, nodes=3, username=USER, password=PASSWORD, start_time=1_700_000_000).start()
    try:
        config = parse_config(
            {
                "clusters": [
                    {
                        "name": "dash",
                        "host": "127.0.0.1",
                        "port": sim.port,
                        "username": USER,
                        "password_file": str(pw),
                        "ca_file": sim.ca_path,
                        "summary": ["protocol", "client", "drive"],
                        "quotas": True,
                    }
                ],
                "sinks": {"discard": {}},
            }
        )
        state = ClusterState("dash")
        poller = ClusterPoller(config, config.clusters[0], state)
        poller.connect()
        poller.tick()
        poller.client.close()
        assert state.up == 1, state.failure
        text = render_clusters([state])
    finally:
        sim.stop()
    series = {}
    for name, labels, _value, _stamp in parse_metrics(text):
        series.setdefault(name, set()).update(k for k, v in labels.items() if v != "")
    return series


def test_every_dashboard_metric_and_label_is_exported(exported):
    wanted = load_dashboard_metrics("onefs")
    missing = {}
    for name, labels in sorted(wanted.items()):
        if name in NOT_PRODUCED:
            continue
        if name not in exported:
            missing[name] = "metric missing"
        elif not labels <= exported[name]:
            missing[name] = f"labels missing: {sorted(labels - exported[name])}"
    assert not missing, missing
    # The test covers the bulk of the dashboards, not a handful of names.
    assert len(wanted) - len(NOT_PRODUCED) >= 150


def test_dashboard_patterns_match_exported_names(exported):
    for pattern, labels in load_dashboard_patterns("onefs").items():
        names = [n for n in exported if re.fullmatch(pattern, n)]
        assert names, pattern
        assert all(labels <= exported[n] for n in names), pattern


def test_node_series_carry_node_and_devid(exported):
    for name in ("isilon_stat_node_disk_busy_avg", "isilon_stat_node_load_1min"):
        assert {"cluster", "node", "devid"} <= exported[name]
    assert {"cluster", "node", "protocol", "operation", "class"} <= exported["isilon_stat_node_summary_protocol_in"]
    assert {"cluster", "drive_id", "type"} == exported["isilon_stat_node_summary_drive_busy"]
    quota_labels = {"cluster", "quota_id", "quota_type", "path", "thresholds_on", "include_snapshots"}
    assert quota_labels <= exported["isilon_quota_hard_bytes"]


def test_not_produced_names_are_really_absent(exported):
    """The exclusion list is no blanket: each excluded name is indeed not exported."""
    assert NOT_PRODUCED
    assert not set(NOT_PRODUCED) & set(exported)
