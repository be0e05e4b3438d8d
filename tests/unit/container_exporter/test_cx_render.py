"""The /metrics page and the heartbeat JSON, from samples the core reads off the recorded cgroup v1
tree (tests/unit/containers/fixtures): cAdvisor dashboards' names and labels, one family per name."""

from __future__ import annotations

import re
from pathlib import Path

from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import Engine
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler
from ansible_collections.quadstats.stack.services.container_exporter import prometheus
from ansible_collections.quadstats.stack.services.container_exporter.sinks import SinkStats, heartbeat_metrics
from fixtures.dashboards import load_dashboard_metrics

V1 = Path(__file__).resolve().parents[1] / "containers" / "fixtures" / "cgroup_v1"
BUSY = ("8873f39a38c3a8750e85b1e28375a4dd0189b76e3e35243ef6e482b6e3a4bea8", 6882)
MEM = ("a05c190c1f49b131d8976f3ccdc5f60ffc1d615f7dd4502e2c75c376a1f56ec4", 7863)
COMPOSE = {
    "org.label-schema.group": "monitoring",
    "com.docker.compose.project": "shop",
    "com.docker.compose.project.working_dir": "/srv/shop",
    "com.docker.compose.service": "web",
}
# What the recorded cAdvisor dashboards query that this exporter does not give, and why.
NOT_OURS = {
    "container_memory_swap": "the core reads no swap figure (cgroup v1 swap accounting is off on Debian by default)",
    "machine_cpu_cores": "a machine figure, not a container one (node_exporter's node_cpu_seconds_total has it)",
}
LABELS_NOT_OURS = {
    "instance": "added by Prometheus at scrape time",
    "container_name": "a kubelet-era label standalone cAdvisor never had (dashboard 179 sums it away)",
}


class RecordedEngine(Engine):
    origin = "socket"

    def __init__(self, refs):
        super().__init__("recorded", "unix:///recorded.sock", "podman", "4.3.1", "1.41")
        self.refs = refs

    def list_running(self):
        return [dict(r) for r in self.refs]


def recorded_samples():
    refs = [
        {"id": BUSY[0], "name": "web", "image": "localhost/shop:1", "pid": BUSY[1], "engine_labels": COMPOSE,
         "restart_count": 2, "started_at": 1795430765, "oom_killed": False},
        {"id": MEM[0], "name": "cache", "image": "localhost/cache:1", "pid": MEM[1], "engine_labels": {},
         "restart_count": None, "started_at": 1795430765, "oom_killed": False},
    ]  # fmt: skip
    mountinfo = (V1 / "proc" / "mountinfo").read_text()
    reader = CgroupReader(proc_root=str(V1 / "proc"), fs_root=str(V1), mountinfo_text=mountinfo, clk_tck=100)
    sampler = ContainerSampler(RecordedEngine(refs), reader=reader)
    return sampler.collect(), {r["id"]: r["engine_labels"] for r in refs}


def stats():
    sink = SinkStats()
    sink.sent, sink.errors["unreachable"] = 3, 2
    return {
        "engine_up": 1, "containers": 2, "containers_seen": 2, "cgroup_locations": 2,
        "events": {"start": 2}, "reconnects": 0,
        "read_errors": {}, "durations": [0.002, 0.001, 0.003], "duration_sum": 0.006, "collections": 3,
        "cpu_durations": [0.001, 0.001, 0.002], "cpu_sum": 0.004,
        "sinks": [("backend", sink)], "buffered": [("backend", 1)],
    }  # fmt: skip


def parse(text):
    """{metric: set(label names)} and the families declared, from Prometheus text."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
        assert match, line
        names = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(3) or ""))
        found.setdefault(match.group(1), set()).update(names)
    return found


def test_every_dashboard_name_and_label_we_collect_is_there():
    samples, engine_labels = recorded_samples()
    disk = {"/": {"used_bytes": 10, "limit_bytes": 40}}
    text = prometheus.render(samples, {BUSY[0]: "healthy"}, disk, stats(), engine_labels)
    ours = parse(text)
    missing = []
    for metric, labels in load_dashboard_metrics("cadvisor", origin="cadvisor").items():
        if metric in NOT_OURS:
            assert metric not in ours, f"{metric} is listed as not ours but is exported: update NOT_OURS"
            continue
        if metric not in ours:
            missing.append(metric)
            continue
        lacking = labels - ours[metric] - set(LABELS_NOT_OURS)
        if lacking:
            missing.append(f"{metric}{sorted(lacking)}")
    assert missing == []


def test_one_family_per_name_and_the_state_series():
    samples, engine_labels = recorded_samples()
    disk = {"/data": {"used_bytes": 10, "limit_bytes": 40}}
    text = prometheus.render(samples, {BUSY[0]: "healthy"}, disk, stats(), engine_labels)
    types = re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE)
    assert len(types) == len(set(types))
    assert text.endswith("\n")
    assert re.search(r'^container_health_status\{.*health="healthy".*name="web".*\} 1$', text, re.MULTILINE)
    assert re.search(r'^container_restart_count\{.*name="web".*\} 2$', text, re.MULTILINE)
    assert 'container_restart_count{id="' + MEM[0] not in text  # unknown on podman 4.3: absent, not 0
    assert re.search(r'^container_state\{.*name="cache",state="running"\} 1$', text, re.MULTILINE)
    assert 'container_fs_usage_bytes{id="/",mountpoint="/data"} 10' in text
    assert 'quadstats_container_exporter_sink_errors_total{kind="unreachable",sink="backend"} 2' in text
    assert 'quadstats_container_exporter_collection_duration_seconds{quantile="0.5"} 0.002' in text
    assert "quadstats_container_exporter_collection_duration_seconds_count 3" in text
    assert 'quadstats_container_exporter_collection_cpu_seconds{quantile="0.95"} 0.002' in text


def test_heartbeats_in_the_metrics_backend_format():
    samples, _labels = recorded_samples()
    samples.append({**samples[0], "id": "c" * 64, "name": "old", "state": "gone"})
    disk = {"/": {"used_bytes": 300, "limit_bytes": 400}, "/broken": {}}
    items = heartbeat_metrics("web1", samples, disk, 5, 1796036523.25)
    assert items == [
        {
            "host": "web1",
            "name": "container web",
            "type": "ping",
            "value": 5,
            "timestamp": "2026-11-30T11:02:03.250000Z",
        },
        {
            "host": "web1",
            "name": "container cache",
            "type": "ping",
            "value": 5,
            "timestamp": "2026-11-30T11:02:03.250000Z",
        },
        {"host": "web1", "name": "/", "type": "disk", "value": 75.0, "timestamp": "2026-11-30T11:02:03.250000Z"},
    ]
