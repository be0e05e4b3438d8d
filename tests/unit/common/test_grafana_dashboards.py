"""The shipped Grafana dashboards: written by scripts/dashboards.py, valid against Grafana's dashboard
schema for the version they declare, and every target a PromQL query the checker can evaluate.

Whether each query returns data is proven against a real Prometheus in
tests/integration/dashboards (Grafana itself cannot run here).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import jsonschema
import pytest

from harness import dashboards

SCHEMA = json.loads(dashboards.SCHEMA.read_text())
FILES = dashboards.dashboard_files()


def schema_errors(document):
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(document)
    ]


def test_the_four_dashboards_are_shipped():
    assert [f.name for f in FILES] == [
        "quadstats-backend.json",
        "quadstats-containers.json",
        "quadstats-hosts.json",
        "quadstats-onefs.json",
    ]


def test_committed_files_are_what_the_generator_writes():
    result = subprocess.run(
        [sys.executable, str(dashboards.REPO / "scripts" / "dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dashboard_validates_against_the_schema_of_its_declared_version(path):
    document = dashboards.load(path)
    assert document["schemaVersion"] == 42, (
        "the fixture schema is Grafana's for schemaVersion 42 (tests/fixtures/grafana/README.md)"
    )
    assert schema_errors(document) == []
    uids = {p["datasource"]["uid"] for p in document["panels"]}
    assert uids == {"${datasource}"}, "every panel uses the dashboard's Prometheus data source variable"
    assert dashboards.targets(document), "a dashboard without queries"


def test_the_schema_rejects_what_grafana_would_not_load():
    document = dashboards.load(FILES[0])
    bad_panel = copy.deepcopy(document)
    bad_panel["panels"][0]["gridPos"] = {"h": 8, "w": 12}  # x and y missing
    bad_field = copy.deepcopy(document)
    bad_field["__inputs"] = []  # an export-only field that is not part of the dashboard model
    no_version = copy.deepcopy(document)
    del no_version["schemaVersion"]
    for broken in (bad_panel, bad_field, no_version):
        assert schema_errors(broken), broken.keys()


def test_variables_and_grafana_intervals_are_substituted():
    values = {"instance": ".*", "__rate_interval": "1m"}
    assert (
        dashboards.substitute(
            'rate(x{instance=~"$instance"}[$__rate_interval]) + y{i=~"${instance}"} + [[instance]]', values
        )
        == 'rate(x{instance=~".*"}[1m]) + y{i=~".*"} + .*'
    )
    assert dashboards.substitute("$unknown", values) == "$unknown"


def test_every_target_is_found_with_its_panel():
    found = [t for f in FILES for t in dashboards.targets(dashboards.load(f))]
    assert len(found) >= 25
    assert all(t.expr and t.panel for t in found)
    hosts = [t for t in found if t.dashboard == "quadstats / Hosts"]
    assert any("node_cpu_seconds_total" in t.expr for t in hosts)
