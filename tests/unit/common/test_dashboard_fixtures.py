"""The recorded dashboard fixtures are well formed, and the reader that builds them reads names right.

The fixtures (tests/fixtures/dashboards/) list the metric and label names public Grafana dashboards
query; exporter tests check their output against them, so a malformed fixture would make those
checks pass or fail for the wrong reason.
"""

from __future__ import annotations

import json
import re

import pytest

from fixtures.dashboards import FIXTURES, load_dashboard_fixture, load_dashboard_metrics, load_dashboard_patterns
from fixtures.dashboards.grafana_queries import (
    LABEL_NAME,
    METRIC_NAME,
    build_fixture,
    dashboard_names,
    expression_names,
    label_values_names,
    main,
)

COMMIT = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture(params=sorted(FIXTURES))
def fixture_doc(request):
    return request.param, load_dashboard_fixture(request.param)


def _union(dashboards, key):
    union = {}
    for dashboard in dashboards.values():
        for name, labels in dashboard[key].items():
            union.setdefault(name, set()).update(labels)
    return {name: sorted(labels) for name, labels in sorted(union.items())}


def test_every_dashboard_has_a_recorded_commit(fixture_doc):
    _name, doc = fixture_doc
    source = doc["source"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", source["read_on"])
    assert sorted(source["commits"]) == sorted(doc["dashboards"])
    assert all(COMMIT.match(commit) for commit in source["commits"].values())


def test_names_are_valid_prometheus_names_with_sorted_unique_labels(fixture_doc):
    _name, doc = fixture_doc
    for dashboard in [*doc["dashboards"].values(), {"metrics": doc["all_metrics"]}]:
        for metric, labels in dashboard["metrics"].items():
            assert METRIC_NAME.match(metric), metric
            assert all(LABEL_NAME.match(label) for label in labels), (metric, labels)
            assert labels == sorted(set(labels)), (metric, labels)
    for regex, labels in doc["all_metric_patterns"].items():
        re.compile(regex)
        assert labels == sorted(set(labels)), (regex, labels)


def test_all_metrics_is_the_union_of_the_dashboards(fixture_doc):
    _name, doc = fixture_doc
    assert doc["all_metrics"] == _union(doc["dashboards"], "metrics")
    assert doc["all_metric_patterns"] == _union(doc["dashboards"], "metric_patterns")
    assert list(doc["all_metrics"]) == sorted(doc["all_metrics"])


def test_every_name_is_used_by_a_panel_and_has_an_origin(fixture_doc):
    _name, doc = fixture_doc
    for dashboard in doc["dashboards"].values():
        names = set(dashboard["metrics"]) | set(dashboard["metric_patterns"])
        assert set(dashboard["panels"]) == names
        assert all(dashboard["panels"][name] for name in names)
    assert set(doc["metric_origins"]) == set(doc["all_metrics"])


def test_onefs_sources_follow_gostats_naming():
    doc = load_dashboard_fixture("onefs")
    assert set(doc["metric_sources"]) == set(doc["all_metrics"])
    for metric, source in doc["metric_sources"].items():
        assert doc["metric_origins"][metric] == source["exporter"]
        if source.get("key"):
            # gostats: isilon_stat_ + key with dots as underscores, + _<field> for multi-field values
            expected = "isilon_stat_" + source["key"].replace(".", "_")
            if source["field"]:
                expected += "_" + source["field"]
            assert metric == expected
            assert source["endpoint"] == "/platform/1/statistics/current"
        elif source["endpoint"] and source["endpoint"].startswith("/platform/3/statistics/summary/"):
            kind = source["endpoint"].rsplit("/", 1)[1]
            assert metric == f"isilon_stat_node_summary_{kind}_{source['field']}"
    keys = doc["statistics_keys"]
    assert keys["in_reference"] == sorted(keys["in_reference"])
    assert not set(keys["in_reference"]) & set(keys["not_in_reference"])


def test_cadvisor_definitions_are_well_formed_and_cover_the_dashboards():
    doc = load_dashboard_fixture("cadvisor")
    definitions = doc["cadvisor_definitions"]
    for metric, definition in definitions["metrics"].items():
        assert METRIC_NAME.match(metric)
        assert definition["type"] in {"counter", "gauge"}
        assert definition["labels"] == sorted(set(definition["labels"]))
        assert set(definition["extra_labels"]) <= set(definition["labels"])
        assert all(LABEL_NAME.match(label) for label in definition["labels"])
    known = set(definitions["metrics"]) | set(definitions["documented_metrics"])
    cadvisor = {metric for metric, origin in doc["metric_origins"].items() if origin == "cadvisor"}
    assert cadvisor <= known
    assert "container_cpu_usage_seconds_total" in cadvisor
    assert {"cpu", "id", "image", "name"} == set(definitions["metrics"]["container_cpu_usage_seconds_total"]["labels"])


def test_loader_returns_sets_and_filters():
    everything = load_dashboard_metrics("onefs")
    assert all(isinstance(labels, set) for labels in everything.values())
    quotas = load_dashboard_metrics("onefs", origin="goquotas")
    assert quotas and set(quotas) < set(everything)
    assert all(metric.startswith("isilon_quota_") for metric in quotas)
    one = load_dashboard_metrics("onefs", dashboard="drive_stats.json")
    assert {"cluster", "node"} <= one["isilon_stat_node_disk_busy_avg"]
    assert "isilon_stat_node_clientstats_active_.*" in load_dashboard_patterns("onefs")
    with pytest.raises(ValueError, match="unknown dashboard fixture 'nope'"):
        load_dashboard_metrics("nope")
    with pytest.raises(ValueError, match="has no dashboard"):
        load_dashboard_metrics("onefs", dashboard="nope.json")
    with pytest.raises(ValueError, match="has no origin"):
        load_dashboard_metrics("cadvisor", origin="gostats")


# The reader that built the fixtures, on made-up queries.


def _metrics(names):
    return {metric: sorted(labels) for metric, labels in names.metrics.items()}


def test_selector_grouping_and_legend_labels_belong_to_the_metric():
    names = expression_names('sum by (mode) (rate(cpu_total{host=~"$h"}[$__rate_interval])) / 10', legend="{{ mode }}")
    assert _metrics(names) == {"cpu_total": ["host", "mode"]}
    names = expression_names("a_bytes * on (job) group_left (team) b_info", legend="{{team}}")
    assert _metrics(names) == {"a_bytes": ["job", "team"], "b_info": ["job", "team"]}


def test_functions_keywords_numbers_and_variables_are_not_metrics():
    names = expression_names("topk($n, sort_desc(x_total offset 5m)) > bool 1e3 or vector(0)")
    assert _metrics(names) == {"x_total": []}


def test_labels_an_expression_creates_are_not_asked_of_the_exporter():
    names = expression_names(
        'label_replace(y_seconds{a="1"}, "proto", "$1", "src", "(.*)")', legend="{{proto}} {{src}}"
    )
    assert _metrics(names) == {"y_seconds": ["a", "src"]}


def test_name_regexes_stay_patterns_and_custom_variables_expand():
    names = expression_names('sum by (__name__) ({__name__=~"foo_.*_total",c="x"})')
    assert names.patterns == {"foo_.*_total": {"c"}}
    assert not names.metrics
    names = expression_names('m_${kind}_rate{c="x"}', {"kind": ["read", "write"]})
    assert _metrics(names) == {"m_read_rate": ["c"], "m_write_rate": ["c"]}
    names = expression_names("m_${free}_rate")
    assert names.patterns == {"m_[a-zA-Z0-9_:]*_rate": set()}


def test_template_variable_queries():
    assert _metrics(label_values_names('label_values(up{job="j"}, instance)')) == {"up": ["instance", "job"]}
    assert not label_values_names("label_values(instance)").metrics
    assert label_values_names("metrics(node_.*)").patterns == {"node_.*": set()}


def test_dashboard_reader_walks_rows_skips_hidden_targets_and_reads_table_columns():
    dashboard = {
        "dashboard": {
            "title": "T",
            "templating": {"list": [{"type": "custom", "name": "p", "query": "a, b"}]},
            "rows": [
                {
                    "panels": [
                        {"title": "shown", "targets": [{"expr": "s_$p", "legendFormat": "{{x}}"}]},
                        {"title": "hidden", "targets": [{"expr": "h_total", "hide": True}]},
                    ]
                }
            ],
            "panels": [],
        }
    }
    dashboard["dashboard"]["panels"] = [
        {
            "title": "table",
            "targets": [{"expr": "t_info"}],
            "transformations": [{"id": "organize", "options": {"renameByName": {"owner": "Owner", "Value": "V"}}}],
        }
    ]
    title, names, panels = dashboard_names(dashboard)
    assert title == "T"
    assert _metrics(names) == {"s_a": ["x"], "s_b": ["x"], "t_info": ["owner"]}
    assert panels == {"s_a": ["shown"], "s_b": ["shown"], "t_info": ["table"]}
    doc = build_fixture({"repository": "r"}, {"one.json": dashboard})
    assert doc["all_metrics"] == doc["dashboards"]["one.json"]["metrics"]


def test_command_line_builds_a_fixture_from_downloaded_files(tmp_path, capsys):
    dashboard = tmp_path / "d.json"
    dashboard.write_text(json.dumps({"title": "D", "panels": [{"title": "p", "targets": [{"expr": "up{job='x'}"}]}]}))
    commit = "0" * 40
    main(["--repository", "o/r", "--path-prefix", "dash/", "--read-on", "2026-11-30", f"{dashboard}@{commit}"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["source"]["commits"] == {"d.json": commit}
    assert doc["all_metrics"] == {"up": ["job"]}
    with pytest.raises(SystemExit):
        main(["--repository", "o/r", "--path-prefix", "d/", "--read-on", "2026-11-30", f"{dashboard}@abc"])
