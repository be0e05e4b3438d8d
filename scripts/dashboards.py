"""Write the collection's Grafana dashboards (dashboards/grafana/*.json) from the panel lists below.

The JSON files are what users import; this script is their single source so every panel has the
same datasource variable, units and layout. ``tests/unit/common/test_grafana_dashboards.py`` fails when a
committed file differs from what this script writes, and validates each file against Grafana's
dashboard schema; ``tests/harness/dashboards.py`` evaluates every panel's PromQL against a real
Prometheus. Run: ``.venv/bin/python scripts/dashboards.py`` (``--check`` only compares).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "dashboards" / "grafana"
SCHEMA_VERSION = 42  # Grafana's dashboard schema version (@grafana/schema 13.2.3), see docs/dashboards.md
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PSEUDO_FS = 'fstype!~"tmpfs|devtmpfs|overlay|squashfs|proc|sysfs|cgroup2?|nsfs|fuse.*|ramfs|autofs"'


def query(expr: str, legend: str = "") -> dict:
    return {"expr": expr, "legendFormat": legend}


def panel(title: str, kind: str, queries: list[dict], unit: str = "short", description: str = "", **options) -> dict:
    return {"title": title, "type": kind, "queries": queries, "unit": unit, "description": description, **options}


def variable(name: str, label: str, metric: str, label_name: str, *, multi: bool = True) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": f"label_values({metric}, {label_name})", "refId": f"var-{name}"},
        "refresh": 2,
        "includeAll": multi,
        "multi": multi,
        "allValue": ".*" if multi else None,
        "sort": 1,
        "current": {"text": "All", "value": "$__all"} if multi else None,
    }


def datasource_variable() -> dict:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}


HOSTS = {
    "uid": "quadstats-hosts",
    "title": "quadstats / Hosts",
    "description": "Host metrics (node-exporter names) sent by the stats collector (Grafana Alloy's unix exporter).",
    "variables": [variable("instance", "Host", "node_load1", "instance")],
    "panels": [
        panel(
            "CPU busy",
            "timeseries",
            [
                query(
                    '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", instance=~"$instance"}'
                    "[$__rate_interval])))",
                    "{{instance}}",
                )
            ],
            "percent",
            "Share of CPU time not idle, all CPUs of the host.",
        ),
        panel(
            "Load average",
            "timeseries",
            [
                query('node_load1{instance=~"$instance"}', "{{instance}} 1m"),
                query('node_load5{instance=~"$instance"}', "{{instance}} 5m"),
                query('node_load15{instance=~"$instance"}', "{{instance}} 15m"),
            ],
        ),
        panel(
            "Memory used",
            "timeseries",
            [
                query(
                    '100 * (1 - node_memory_MemAvailable_bytes{instance=~"$instance"}'
                    ' / node_memory_MemTotal_bytes{instance=~"$instance"})',
                    "{{instance}}",
                )
            ],
            "percent",
            "MemAvailable against MemTotal (page cache counts as available).",
        ),
        panel(
            "Filesystem used",
            "timeseries",
            [
                query(
                    f'100 * (1 - node_filesystem_avail_bytes{{instance=~"$instance", {PSEUDO_FS}}}'
                    f' / node_filesystem_size_bytes{{instance=~"$instance", {PSEUDO_FS}}})',
                    "{{instance}} {{mountpoint}}",
                )
            ],
            "percent",
            "Space used per mount point as a user sees it (avail, not free); pseudo filesystems left out.",
        ),
        panel(
            "Filesystems",
            "table",
            [
                query(f'node_filesystem_size_bytes{{instance=~"$instance", {PSEUDO_FS}}}', "size"),
                query(f'node_filesystem_avail_bytes{{instance=~"$instance", {PSEUDO_FS}}}', "available"),
            ],
            "bytes",
            instant=True,
        ),
    ],
}

CONTAINER = 'instance=~"$instance", name=~"$name"'
RATE = "[$__rate_interval]"
CONTAINERS = {
    "uid": "quadstats-containers",
    "title": "quadstats / Containers",
    "description": "Per container figures from the container exporter (cAdvisor names; name, id and image labels).",
    "variables": [
        variable("instance", "Host", "container_last_seen", "instance"),
        variable("name", "Container", 'container_last_seen{instance=~"$instance"}', "name"),
    ],
    "panels": [
        panel(
            "CPU",
            "timeseries",
            [
                query(
                    f"sum by (instance, name) (rate(container_cpu_usage_seconds_total{{{CONTAINER}}}{RATE}))",
                    "{{name}}",
                )
            ],
            "cores",
            "CPU seconds per second: 1 is one core busy.",
        ),
        panel(
            "Memory working set",
            "timeseries",
            [query(f"sum by (instance, name) (container_memory_working_set_bytes{{{CONTAINER}}})", "{{name}}")],
            "bytes",
            "Usage minus inactive file cache: what the OOM killer looks at.",
        ),
        panel(
            "Network received",
            "timeseries",
            [
                query(
                    f"sum by (instance, name) (rate(container_network_receive_bytes_total{{{CONTAINER}}}{RATE}))",
                    "{{name}}",
                )
            ],
            "Bps",
        ),
        panel(
            "Network sent",
            "timeseries",
            [
                query(
                    f"sum by (instance, name) (rate(container_network_transmit_bytes_total{{{CONTAINER}}}{RATE}))",
                    "{{name}}",
                )
            ],
            "Bps",
        ),
        panel(
            "Restarts",
            "stat",
            [query(f"max by (instance, name) (container_restart_count{{{CONTAINER}}})", "{{name}}")],
            description="Restarts counted by the engine.",
        ),
        panel(
            "State",
            "table",
            [query(f"container_state{{{CONTAINER}}} == 1", "{{name}} {{state}}")],
            description="The state each container is in (running, exited, …).",
            instant=True,
        ),
        panel(
            "Last seen",
            "table",
            [query(f"time() - max by (instance, name, image) (container_last_seen{{{CONTAINER}}})", "{{name}}")],
            "s",
            "Seconds since the exporter last saw the container.",
            instant=True,
        ),
    ],
}

CLUSTER = 'cluster=~"$cluster"'
ONEFS = {
    "uid": "quadstats-onefs",
    "title": "quadstats / OneFS clusters",
    "description": (
        "Dell PowerScale (OneFS) clusters from the OneFS exporter. Dell's own PowerScale Data Insights"
        " dashboards (Isilon/powerscale_data_insights, dashboards/prometheus/) work with it too: it exports"
        " gostats' names and labels."
    ),
    "variables": [variable("cluster", "Cluster", "quadstats_onefs_exporter_up", "cluster")],
    "panels": [
        panel(
            "Exporter reaches the cluster",
            "stat",
            [query(f"quadstats_onefs_exporter_up{{{CLUSTER}}}", "{{cluster}}")],
            description="1 when the last collection succeeded.",
        ),
        panel(
            "Cluster health",
            "stat",
            [query(f"isilon_stat_cluster_health{{{CLUSTER}}}", "{{cluster}}")],
            description="OneFS cluster.health: 0 ok, 1 attention, 2 down, 3 invalid.",
        ),
        panel(
            "Nodes down",
            "stat",
            [query(f"isilon_stat_cluster_node_count_down{{{CLUSTER}}}", "{{cluster}}")],
        ),
        panel(
            "Capacity used",
            "timeseries",
            [query(f"isilon_stat_ifs_percent_used{{{CLUSTER}}}", "{{cluster}}")],
            "percent",
        ),
        panel(
            "Capacity",
            "timeseries",
            [
                query(f"isilon_stat_ifs_bytes_used{{{CLUSTER}}}", "{{cluster}} used"),
                query(f"isilon_stat_ifs_bytes_total{{{CLUSTER}}}", "{{cluster}} total"),
            ],
            "bytes",
        ),
        panel(
            "File system throughput",
            "timeseries",
            [
                query(f"isilon_stat_ifs_bytes_in_rate{{{CLUSTER}}}", "{{cluster}} in"),
                query(f"isilon_stat_ifs_bytes_out_rate{{{CLUSTER}}}", "{{cluster}} out"),
            ],
            "Bps",
        ),
        panel(
            "Cluster CPU",
            "timeseries",
            [
                query(f"isilon_stat_cluster_cpu_user_avg{{{CLUSTER}}} / 10", "{{cluster}} user"),
                query(f"isilon_stat_cluster_cpu_sys_avg{{{CLUSTER}}} / 10", "{{cluster}} system"),
            ],
            "percent",
            "OneFS reports CPU in tenths of a percent.",
        ),
        panel(
            "External network per node",
            "timeseries",
            [query(f"isilon_stat_node_net_ext_bytes_in_rate{{{CLUSTER}}}", "{{cluster}} node {{node}}")],
            "Bps",
        ),
        panel(
            "Quota usage",
            "table",
            [query(f"isilon_quota_usage_bytes{{{CLUSTER}}}", "{{cluster}} {{path}}")],
            "bytes",
            instant=True,
        ),
        panel(
            "Collection duration",
            "timeseries",
            [query(f"quadstats_onefs_exporter_collection_duration_seconds{{{CLUSTER}}}", "{{cluster}} {{source}}")],
            "s",
        ),
    ],
}

BACKEND = {
    "uid": "quadstats-backend",
    "title": "quadstats / Backend",
    "description": "The quadstats backend's own metrics: ingest, latency, alert states, Telegram delivery.",
    "variables": [variable("instance", "Backend", "quadstats_backend_outbox_messages", "instance")],
    "panels": [
        panel(
            "Requests by route",
            "timeseries",
            [
                query(
                    'sum by (route, status) (rate(quadstats_backend_http_requests_total{instance=~"$instance"}'
                    "[$__rate_interval]))",
                    "{{route}} {{status}}",
                )
            ],
            "reqps",
        ),
        panel(
            "Request latency p99",
            "timeseries",
            [
                query(
                    "histogram_quantile(0.99, sum by (route, le) ("
                    "rate(quadstats_backend_http_request_duration_seconds_bucket"
                    '{instance=~"$instance"}[$__rate_interval])))',
                    "{{route}}",
                )
            ],
            "s",
        ),
        panel(
            "Metrics by state",
            "stat",
            [query('sum by (type, state) (quadstats_backend_metrics{instance=~"$instance"})', "{{type}} {{state}}")],
            description="Metrics the backend tracks, by type and alert state.",
        ),
        panel(
            "Outbox",
            "timeseries",
            [query('sum by (state) (quadstats_backend_outbox_messages{instance=~"$instance"})', "{{state}}")],
            description="Notifications waiting, sent and failed.",
        ),
        panel(
            "Telegram sends",
            "timeseries",
            [
                query(
                    'sum by (outcome) (increase(quadstats_backend_telegram_sends_total{instance=~"$instance"}[1h]))',
                    "{{outcome}}",
                )
            ],
            description="Telegram API calls in the last hour by outcome.",
        ),
    ],
}

DASHBOARDS = {"hosts": HOSTS, "containers": CONTAINERS, "onefs": ONEFS, "backend": BACKEND}
GRID_WIDTH = {"stat": 6, "timeseries": 12, "table": 12}
GRID_HEIGHT = {"stat": 5, "timeseries": 8, "table": 8}


def render_panels(panels: list[dict]) -> list[dict]:
    """Grafana panels laid out left to right, wrapping at 24 columns."""
    out, x, y, row_height = [], 0, 0, 0
    for number, spec in enumerate(panels, start=1):
        w, h = GRID_WIDTH[spec["type"]], GRID_HEIGHT[spec["type"]]
        if x + w > 24:
            x, y, row_height = 0, y + row_height, 0
        targets = []
        for ref, q in enumerate(spec["queries"]):
            target = {"refId": chr(ord("A") + ref), "datasource": DATASOURCE, "expr": q["expr"], "range": True}
            if q["legendFormat"]:
                target["legendFormat"] = q["legendFormat"]
            if spec.get("instant"):
                target.update(range=False, instant=True, format="table")
            targets.append(target)
        item = {
            "id": number,
            "type": spec["type"],
            "title": spec["title"],
            "datasource": DATASOURCE,
            "gridPos": {"h": h, "w": w, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": spec["unit"]}, "overrides": []},
            "options": {},
            "targets": targets,
        }
        if spec["description"]:
            item["description"] = spec["description"]
        out.append(item)
        x, row_height = x + w, max(row_height, h)
    return out


def render(spec: dict) -> dict:
    variables = [datasource_variable()]
    for v in spec["variables"]:
        variables.append({k: val for k, val in v.items() if val is not None})
    return {
        "uid": spec["uid"],
        "title": spec["title"],
        "description": spec["description"],
        "tags": ["quadstats"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "browser",
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": render_panels(spec["panels"]),
    }


def rendered() -> dict[str, str]:
    return {f"quadstats-{name}.json": json.dumps(render(spec), indent=2) + "\n" for name, spec in DASHBOARDS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args()
    stale = []
    for name, text in rendered().items():
        path = OUT / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    verb = "differ from scripts/dashboards.py (run it)" if args.check else "written"
    print(f"{len(stale)} dashboard file(s) {verb}: {', '.join(stale) or '-'}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
