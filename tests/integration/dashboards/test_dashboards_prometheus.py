"""The OneFS and container dashboards return data from a real Prometheus fed by our exporters.

Grafana cannot run here; Debian trixie's Prometheus can. It scrapes the OneFS exporter (polling
the PAPI simulator with the shipped default stat groups, summaries and quotas: a stand-in for a
real cluster) and the container exporter (rootful podman on this machine, one busy container),
and every panel target of the two dashboards is evaluated as Grafana would send it
(``harness.dashboards``). The host and backend dashboards need the collector stand-in and the
backend of a deployment: they are evaluated against the deployed stack's Prometheus instead.
"""

from __future__ import annotations

import json
import time

import pytest
from cx_env import Exporter, use_cx_prefix
from onefs_exporter_helpers import PASSWORD, USER, ExporterProcess, cluster_entry, free_port, http_get
from podman_env import Podman, podman_available

from harness import dashboards
from harness.daemon import secret_file
from harness.onefs_simulator.factory import simulator_factory
from harness.prometheus import Prometheus

pytestmark = [
    pytest.mark.podman,
    pytest.mark.slow,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman on this machine"),
]
CHECKED = {"quadstats / OneFS clusters", "quadstats / Containers"}
# Panels that cannot have data on this machine, with the reason; the deployed stack checks them.
NOT_HERE = {
    "quadstats / Containers / Restarts": "podman 4.3's list has no restart count (podman 5 has)",
}


@pytest.fixture
def onefs_exporter(tmp_path):
    with simulator_factory(seed=3, nodes=3, password=PASSWORD, username=USER) as make:
        sim = make(cluster_name="Dash")
        password = secret_file(tmp_path / "onefs.password", PASSWORD)
        port = free_port()
        config = tmp_path / "onefs.yml"
        entry = cluster_entry("dash", sim, password, summary=["protocol", "client", "drive"], quotas=True)
        config.write_text(json.dumps({"clusters": [entry], "sinks": {"prometheus": {"port": port}}}))
        proc = ExporterProcess(config, tmp_path / "onefs.log")
        try:
            yield proc, port
        finally:
            proc.stop()


@pytest.fixture
def container_exporter(tmp_path):
    podman = use_cx_prefix(Podman())
    try:
        podman.run("busy", "while :; do :; done", "--label", f"io.quadstats.test={podman.run_id}")
        settings = {
            "engine": {"socket": podman.socket},
            "discovery": {"labels": {"io.quadstats.test": podman.run_id}},
            "collection": {"scrape_max_age": 0},
        }
        exporter = Exporter(tmp_path, settings)
        try:
            yield exporter
        finally:
            exporter.stop()
    finally:
        podman.cleanup()


def test_onefs_and_container_dashboards_return_data(onefs_exporter, container_exporter):
    onefs, onefs_port = onefs_exporter
    onefs.wait_for(
        lambda: (
            'quadstats_onefs_exporter_up{cluster="dash"} 1' in http_get(f"http://127.0.0.1:{onefs_port}/metrics")[1]
        ),
        timeout=60,
        what="the OneFS exporter's first collection",
    )
    jobs = (
        {"job_name": "onefs", "static_configs": [{"targets": [f"127.0.0.1:{onefs_port}"]}]},
        {"job_name": "containers", "static_configs": [{"targets": [f"127.0.0.1:{container_exporter.port}"]}]},
    )
    prom = Prometheus(scrape_configs=jobs).start()
    try:
        api = dashboards.PrometheusAPI(prom.url)
        deadline = time.monotonic() + 90
        while True:  # rate() over [1m] needs two scrapes of every series; give it a few
            problems, checked = dashboards.evaluate(api, titles=CHECKED)
            problems = [p for p in problems if not any(p.startswith(f"{panel} / ") for panel in NOT_HERE)]
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(3)
    finally:
        prom.stop()
    assert problems == [], "\n".join(problems)
    assert len(checked) >= 15, checked
