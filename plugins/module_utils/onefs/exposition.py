# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Output encoders for normalised OneFS samples (pure functions, no I/O).

- Prometheus text exposition with gostats-compatible names: ``isilon_stat_<key, . → _>`` for
  single values and ``isilon_stat_<key>_<field>`` for multi-field values; labels ``cluster``,
  ``node`` (LNN) and string sub-fields such as ``op_name``, ``class_name``, ``path``.
- Quota samples (``quotas.py``) keep goquotas' names: ``isilon_quota_<field>``, measurement ``quota``.
- InfluxDB line protocol as gostats writes it: measurement = stat key, field ``value`` or one
  field per numeric sub-field, tags ``cluster``, ``node`` and string sub-fields. Field values are
  written as floats, as gostats does, so existing measurements keep their field types.

Both return one string ending with a newline, or ``""`` for no samples; timestamps are the
samples' seconds converted to milliseconds (Prometheus) and nanoseconds (InfluxDB).
"""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.quotas import QUOTA_SAMPLE_NAME
from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import (
    influx_float,
    influx_key,
    influx_measurement,
    influx_tags,
    prom_family_header,
    prom_labels,
    prom_metric_name,
    prom_number,
)

PROM_PREFIX = "isilon_stat_"
QUOTA_PREFIX = "isilon_quota_"


def prometheus_name(key, field=None):
    if key == QUOTA_SAMPLE_NAME:  # quotas keep goquotas' names: isilon_quota_<field>
        return prom_metric_name(QUOTA_PREFIX + (field or "value"))
    name = PROM_PREFIX + key.replace(".", "_")
    if field:
        name = name + "_" + field
    return prom_metric_name(name)


def to_prometheus(samples, descriptions=None, timestamps=False):
    """Samples → Prometheus text format 0.0.4 (one family per metric name, all gauges)."""
    descriptions = descriptions or {}
    families = {}
    order = []
    for s in samples:
        name = prometheus_name(s["name"], s["field"])
        fam = families.get(name)
        if fam is None:
            fam = families[name] = (s["name"], [])
            order.append(name)
        fam[1].append(s)
    lines = []
    heads = {}  # id(labels) -> (labels kept alive, formatted label set)
    for name in order:
        key, items = families[name]
        lines.extend(prom_family_header(name, "gauge", descriptions.get(key) or ("OneFS statistic " + key)))
        for s in items:
            labels = s["labels"]
            # Samples of one row share their labels dict: format each dict once.
            head = heads.get(id(labels))
            if head is None:
                head = heads[id(labels)] = (labels, prom_labels(labels) + " ")
            line = name + head[1] + prom_number(s["value"])
            if timestamps and s.get("timestamp"):
                line += " " + str(int(s["timestamp"]) * 1000)
            lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def to_influx(samples):
    """Samples → InfluxDB line protocol (timestamps in nanoseconds).

    Samples with the same key, labels and timestamp become one point: field ``value`` for
    single values, one field per numeric sub-field otherwise. Non-finite values are skipped.
    """
    points = {}
    order = []
    tags = {}  # id(labels) -> (labels kept alive, tag set text)
    for s in samples:
        labels = s["labels"]
        cached = tags.get(id(labels))
        if cached is None:
            cached = tags[id(labels)] = (labels, influx_tags(labels))
        ident = (s["name"], cached[1], s.get("timestamp"))
        point = points.get(ident)
        if point is None:
            point = points[ident] = []
            order.append(ident)
        text = influx_float(s["value"])
        if text is not None:
            point.append((s["field"] or "value", text))
    lines = []
    for ident in order:
        fields = points[ident]
        if not fields:
            continue
        key, tag_text, stamp = ident
        line = influx_measurement(key) + tag_text + " " + ",".join(f"{influx_key(k)}={v}" for k, v in fields)
        if stamp:
            line += " " + str(int(stamp) * 1000000000)
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""
