# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure encoders of normalised samples: Prometheus text 0.0.4, InfluxDB line protocol, JSON lines.

A sample is a dict with ``labels`` (id, name, image, optional pod/unit/compose_project),
``counters``, ``gauges``, optional ``rates``, ``disk`` ({mount: {used_bytes, limit_bytes, ...}}) and
``timestamp`` (float seconds since the epoch; Prometheus text carries it in milliseconds, line protocol
in nanoseconds).
"""

from __future__ import annotations

import json

from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import (
    PROMETHEUS_CONTENT_TYPE,
    influx_key,
    influx_measurement,
    influx_tags,
    influx_timestamp,
    influx_typed,
    prom_family_header,
    prom_labels,
    prom_number,
    prom_timestamp,
)

__all__ = ["PROMETHEUS_CONTENT_TYPE", "to_influx", "to_json_lines", "to_prometheus"]

# (prometheus name, type, help, section, field, scale). cAdvisor's names where one exists.
PROMETHEUS_METRICS = (
    ("container_cpu_usage_seconds_total", "counter", "Cumulative CPU time consumed in seconds.",
     "counters", "cpu_usage_ns", 1e-9),
    ("container_cpu_user_seconds_total", "counter", "Cumulative user CPU time consumed in seconds.",
     "counters", "cpu_user_ns", 1e-9),
    ("container_cpu_system_seconds_total", "counter", "Cumulative system CPU time consumed in seconds.",
     "counters", "cpu_system_ns", 1e-9),
    ("container_cpu_cfs_throttled_periods_total", "counter", "Number of throttled period intervals.",
     "counters", "cpu_throttled_periods", 1),
    ("container_cpu_cfs_throttled_seconds_total", "counter", "Total time the container has been throttled.",
     "counters", "cpu_throttled_ns", 1e-9),
    ("container_memory_usage_bytes", "gauge", "Current memory usage in bytes, including page cache.",
     "gauges", "memory_usage_bytes", 1),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes (usage minus inactive file cache).",
     "gauges", "memory_working_set_bytes", 1),
    ("container_memory_rss", "gauge", "Size of anonymous memory (RSS) in bytes.",
     "gauges", "memory_rss_bytes", 1),
    ("container_memory_cache", "gauge", "Number of bytes of page cache memory.",
     "gauges", "memory_cache_bytes", 1),
    ("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container in bytes (0 = unlimited).",
     "gauges", "memory_limit_bytes", 1),
    ("container_oom_events_total", "counter", "Count of out of memory kills in the container.",
     "counters", "memory_oom_kills", 1),
    ("container_network_receive_bytes_total", "counter", "Cumulative count of bytes received.",
     "counters", "net_rx_bytes", 1),
    ("container_network_transmit_bytes_total", "counter", "Cumulative count of bytes transmitted.",
     "counters", "net_tx_bytes", 1),
    ("container_network_receive_packets_total", "counter", "Cumulative count of packets received.",
     "counters", "net_rx_packets", 1),
    ("container_network_transmit_packets_total", "counter", "Cumulative count of packets transmitted.",
     "counters", "net_tx_packets", 1),
    ("container_network_receive_errors_total", "counter", "Cumulative count of errors while receiving.",
     "counters", "net_rx_errors", 1),
    ("container_network_transmit_errors_total", "counter", "Cumulative count of errors while transmitting.",
     "counters", "net_tx_errors", 1),
    ("container_network_receive_packets_dropped_total", "counter", "Cumulative count of packets dropped on receive.",
     "counters", "net_rx_dropped", 1),
    ("container_network_transmit_packets_dropped_total", "counter", "Cumulative count of packets dropped on transmit.",
     "counters", "net_tx_dropped", 1),
    ("container_fs_reads_bytes_total", "counter", "Cumulative count of bytes read.",
     "counters", "blkio_read_bytes", 1),
    ("container_fs_writes_bytes_total", "counter", "Cumulative count of bytes written.",
     "counters", "blkio_write_bytes", 1),
    ("container_fs_reads_total", "counter", "Cumulative count of reads completed.",
     "counters", "blkio_read_ops", 1),
    ("container_fs_writes_total", "counter", "Cumulative count of writes completed.",
     "counters", "blkio_write_ops", 1),
    ("container_threads", "gauge", "Number of tasks (threads) in the container's pids cgroup.",
     "gauges", "pids_current", 1),
    ("container_threads_max", "gauge", "Maximum number of tasks allowed in the container (0 = unlimited).",
     "gauges", "pids_max", 1),
)  # fmt: skip

DISK_METRICS = (
    ("container_fs_usage_bytes", "Number of bytes consumed on the mount (statvfs).", "used_bytes"),
    ("container_fs_limit_bytes", "Number of bytes the mount can hold (statvfs).", "limit_bytes"),
)

# Gauges where None means "unlimited", exported as 0 like cAdvisor does.
_UNLIMITED_AS_ZERO = ("memory_limit_bytes", "pids_max")


def _prom_timestamp(sample, timestamps):
    if not timestamps or sample.get("timestamp") is None:
        return ""
    return " " + str(prom_timestamp(sample["timestamp"]))


def to_prometheus(samples, extra_labels=None, timestamps=False):
    """Prometheus text exposition 0.0.4 of container samples, grouped by metric family.

    Every series carries the container's labels (``name`` included) plus ``extra_labels``.
    ``timestamps`` adds each sample's read time (milliseconds since the epoch) to its series.
    Ends with a newline. Families with no value for any container are left out.
    """
    lines = []
    extra = dict(extra_labels or {})
    # Every family of a container carries the same label set: spell it (and the timestamp) once.
    label_texts = [prom_labels({**extra, **(sample.get("labels") or {})}) for sample in samples]
    stamps = [_prom_timestamp(sample, timestamps) for sample in samples]
    for name, mtype, help_text, section, field, scale in PROMETHEUS_METRICS:
        rows = []
        for sample, label_text, stamp in zip(samples, label_texts, stamps):
            value = (sample.get(section) or {}).get(field, "absent")
            if value == "absent":
                continue
            if value is None:
                if field not in _UNLIMITED_AS_ZERO:
                    continue
                value = 0
            if scale != 1:
                value = value * scale
            rows.append(f"{name}{label_text} {prom_number(value)}{stamp}")
        if rows:
            lines.extend(prom_family_header(name, mtype, help_text))
            lines.extend(rows)
    for name, help_text, field in DISK_METRICS:
        rows = []
        for sample in samples:
            for mount, usage in sorted((sample.get("disk") or {}).items()):
                if not isinstance(usage, dict) or usage.get(field) is None:
                    continue
                labels = dict(extra)
                labels.update(sample.get("labels") or {})
                labels["mountpoint"] = mount
                stamp = _prom_timestamp(sample, timestamps)
                rows.append(f"{name}{prom_labels(labels)} {prom_number(usage[field])}{stamp}")
        if rows:
            lines.extend(prom_family_header(name, "gauge", help_text))
            lines.extend(rows)
    return "\n".join(lines) + "\n" if lines else ""


def to_influx(samples, measurement="container"):
    """InfluxDB line protocol: one line per container,
    ``container,id=...,image=...,name=... cpu_usage_ns=1i,...,cpu_percent=99.1 <epoch ns>``.

    Counters and gauges are integer fields (``i``), rates floats; unknown values are left out;
    empty tag values are dropped (line protocol forbids them).
    """
    lines = []
    for sample in samples:
        tags = sample.get("labels") or {}
        tag_text = influx_tags(tags)
        fields = {}
        for section in ("counters", "gauges", "rates"):
            for key, value in (sample.get(section) or {}).items():
                if value is not None:
                    fields[key] = value
        for mount, usage in (sample.get("disk") or {}).items():
            if isinstance(usage, dict):
                for key in ("used_bytes", "limit_bytes"):
                    if usage.get(key) is not None:
                        fields["disk_{}_{}".format(mount.strip("/").replace("/", "_") or "root", key)] = usage[key]
        if not fields:
            continue
        typed = ((k, influx_typed(fields[k])) for k in sorted(fields))
        field_text = ",".join(f"{influx_key(k)}={text}" for k, text in typed if text is not None)
        if not field_text:
            continue
        line = f"{influx_measurement(measurement)}{tag_text} {field_text}"
        if sample.get("timestamp") is not None:
            line += " " + str(influx_timestamp(sample["timestamp"]))
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def to_json_lines(samples):
    """One compact JSON object per container per line, keys sorted; ends with a newline."""
    return "".join(json.dumps(sample, sort_keys=True, separators=(",", ":")) + "\n" for sample in samples)
