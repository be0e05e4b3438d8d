# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``/metrics`` page: the core's cAdvisor-named families, the series cAdvisor dashboards also
query (``container_last_seen``, ``container_start_time_seconds``, ``container_label_*`` labels), the
state/health/restart series, the host mounts (cAdvisor's root cgroup ``id="/"``) and self-metrics.

Pure functions over plain data; every name, label and number is spelled by ``wire_formats``.
"""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.containers import exposition
from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import (
    prom_family_header,
    prom_labels,
    prom_metric_name,
    prom_number,
)

SELF = "quadstats_container_exporter_"


def engine_label_names(engine_labels):
    """cAdvisor's ``container_label_<label>`` names (characters Prometheus refuses become ``_``)."""
    return {"container_label_" + prom_metric_name(k).replace(":", "_"): str(v) for k, v in engine_labels.items()}


def family(name, mtype, help_text, rows):
    """Lines of one family from (labels, value) rows; nothing when there are no rows."""
    if not rows:
        return []
    return [
        *prom_family_header(name, mtype, help_text),
        *(f"{name}{prom_labels(labels)} {prom_number(value)}" for labels, value in rows),
    ]


def container_families(samples, health):
    """State, health, restarts, last seen and start time of each running container."""
    last_seen, started, state, healthy, restarts = [], [], [], [], []
    for sample in samples:
        labels = sample["labels"]
        last_seen.append((labels, sample["timestamp"]))
        if sample.get("started_at"):
            started.append((labels, sample["started_at"]))
        state.append(({**labels, "state": sample.get("state") or "running"}, 1))
        status = health.get(sample["id"])
        if status:
            healthy.append(({**labels, "health": status}, 1))
        count = (sample.get("gauges") or {}).get("restart_count")
        if count is not None:
            restarts.append((labels, count))
    return [
        *family("container_last_seen", "gauge", "Last time the container was seen by the exporter.", last_seen),
        *family("container_start_time_seconds", "gauge", "Start time of the container since the Unix epoch.", started),
        *family("container_state", "gauge", "State of the container (1 for the state it is in).", state),
        *family("container_health_status", "gauge", "Health check status (1 for the status).", healthy),
        *family("container_restart_count", "gauge", "Restarts of the container counted by the engine.", restarts),
    ]


def summary(name, help_text, window, total, count):
    """A summary family: median and p95 over ``window`` (the last collections), sum and count of all."""
    if not window:
        return []
    ordered = sorted(window)
    rows = []
    for q in (0.5, 0.95):
        value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        rows.append(f"{name}{prom_labels({'quantile': str(q)})} {prom_number(value)}")
    return [*prom_family_header(name, "summary", help_text), *rows,
            f"{name}_sum {prom_number(total)}", f"{name}_count {prom_number(count)}"]  # fmt: skip


def self_families(stats):
    """The exporter's own figures (``stats`` is :meth:`Daemon.self_stats`)."""
    lines = []
    for name, mtype, help_text, rows in (
        ("engine_up", "gauge", "1 when the container engine answered the last request.", [({}, stats["engine_up"])]),
        ("containers", "gauge", "Running containers the exporter follows now.", [({}, stats["containers"])]),
        ("containers_seen_total", "counter", "Containers discovered (listed or started) since the exporter started.",
         [({}, stats["containers_seen"])]),
        ("cgroup_locations", "gauge", "Cgroup locations the sampler keeps (one per running container read).",
         [({}, stats["cgroup_locations"])]),
        ("events_total", "counter", "Container events received, by action.",
         [({"action": a}, n) for a, n in sorted(stats["events"].items())]),
        ("engine_reconnects_total", "counter", "Times the events stream was reopened after a fault.",
         [({}, stats["reconnects"])]),
        ("read_errors_total", "counter", "Containers that could not be read, by error kind.",
         [({"kind": k}, n) for k, n in sorted(stats["read_errors"].items())]),
    ):  # fmt: skip
        lines += family(SELF + name, mtype, help_text, rows)
    count = stats["collections"]
    lines += summary(SELF + "collection_duration_seconds", "Wall time of one full collection.",
                     stats["durations"], stats["duration_sum"], count)  # fmt: skip
    lines += summary(SELF + "collection_cpu_seconds", "CPU time of one full collection (the collecting thread).",
                     stats["cpu_durations"], stats["cpu_sum"], count)  # fmt: skip
    sinks = stats["sinks"]
    for name, mtype, help_text, rows in (
        ("sink_sent_total", "counter", "Payloads a sink delivered.", [({"sink": n}, s.sent) for n, s in sinks]),
        ("sink_errors_total", "counter", "Failed deliveries by sink and error kind.",
         [({"sink": n, "kind": k}, c) for n, s in sinks for k, c in sorted(s.errors.items())]),
        ("sink_dropped_total", "counter", "Payloads dropped because a sink's buffer was full.",
         [({"sink": n}, s.dropped) for n, s in sinks]),
        ("sink_buffered", "gauge", "Payloads waiting in a sink buffer.",
         [({"sink": n}, b) for n, b in stats["buffered"]]),
    ):  # fmt: skip
        lines += family(SELF + name, mtype, help_text, rows)
    return lines


def render(samples, health, disk, stats, engine_labels=None):
    """The whole ``/metrics`` page. ``engine_labels``: {id: engine labels} added as ``container_label_*``."""
    if engine_labels:
        samples = [
            {**s, "labels": {**engine_label_names(engine_labels.get(s["id"]) or {}), **s["labels"]}} for s in samples
        ]
    # Host mounts as cAdvisor spells the machine's filesystems: the root cgroup, id="/".
    machine = {"id": "/", "labels": {"id": "/"}, "disk": disk} if disk else None
    text = exposition.to_prometheus([*samples, machine] if machine else samples)
    lines = [*container_families(samples, health), *self_families(stats)]
    return text + "\n".join(lines) + "\n"
