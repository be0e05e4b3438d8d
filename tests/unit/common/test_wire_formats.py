"""Shared Prometheus text / InfluxDB line protocol primitives (used by every domain's encoders)."""

import math

from ansible_collections.quadstats.stack.plugins.module_utils import wire_formats as wf
from ansible_collections.quadstats.stack.plugins.module_utils.containers.exposition import to_influx


def test_prometheus_label_value_escaping():
    assert wf.prom_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_prometheus_label_set_is_sorted_sanitised_and_empty_for_none():
    assert wf.prom_labels({"z": 1, "a.b": "x y"}) == '{a_b="x y",z="1"}'
    assert wf.prom_labels({}) == ""


def test_prometheus_numbers():
    assert wf.prom_number(7) == "7"
    assert wf.prom_number(True) == "1"
    assert wf.prom_number(2**64 + 1) == str(2**64 + 1)
    assert wf.prom_number(0.5) == "0.5"
    assert wf.prom_number(math.nan) == "NaN"
    assert wf.prom_number(math.inf) == "+Inf"
    assert wf.prom_number(-math.inf) == "-Inf"


def test_prometheus_metric_name_and_family_header():
    assert wf.prom_metric_name("isilon_stat_node.ifs-x") == "isilon_stat_node_ifs_x"
    assert wf.prom_family_header("m", "gauge", "line1\nback\\slash") == [
        "# HELP m line1\\nback\\\\slash",
        "# TYPE m gauge",
    ]


def test_influx_escaping_and_tags():
    assert wf.influx_measurement("a b,c=d") == "a\\ b\\,c=d"
    assert wf.influx_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert wf.influx_tags({"b": "2", "a": "x y", "empty": ""}) == ",a=x\\ y,b=2"


def test_influx_field_values():
    assert wf.influx_typed(True) == "true"
    assert wf.influx_typed(3) == "3i"
    assert wf.influx_typed(1.5) == "1.5"
    assert wf.influx_typed(math.nan) is None
    assert wf.influx_float(4) == "4.0"
    assert wf.influx_float(math.inf) is None


def test_container_influx_skips_non_finite_fields_and_empty_points():
    sample = {"labels": {"name": "web"}, "counters": {"cpu_usage_ns": 5}, "rates": {"cpu_percent": math.nan}}
    assert to_influx([sample]) == "container,name=web cpu_usage_ns=5i\n"
    only_nan = {"labels": {"name": "web"}, "rates": {"cpu_percent": math.inf}}
    assert to_influx([only_nan]) == ""
