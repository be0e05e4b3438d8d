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
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import samples_to_frames
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
    return frames_to_prometheus(samples_to_frames(samples), descriptions, timestamps)


class PrometheusNames:
    """Metric names per (key, fields) and label sets per labels dict, kept between renders of a
    long-running exporter (its decoder shares labels dicts between cycles). Bounded: cleared when large."""

    MAX_ENTRIES = 20000

    def __init__(self):
        self.names = {}  # (key, fields) -> metric names
        self.heads = {}  # id(labels) -> (labels kept alive, so the id stays theirs; formatted label set)

    def trim(self):
        if len(self.heads) > self.MAX_ENTRIES or len(self.names) > self.MAX_ENTRIES:
            self.names.clear()
            self.heads.clear()


def frames_to_prometheus(frames, descriptions=None, timestamps=False, names=None):
    """Frames (``samples.RowDecoder``) → Prometheus text format 0.0.4, as :func:`to_prometheus`.
    ``names``: a :class:`PrometheusNames` to reuse between calls."""
    descriptions = descriptions or {}
    cache = names or PrometheusNames()
    cache.trim()
    names_of = cache.names
    heads = cache.heads
    families = {}  # metric name -> (key, lines)
    slots_of = {}  # (key, fields) -> ((metric name, its lines), …) per field, in this call
    for key, labels, fields, values, _unit, stamp, _degraded in frames:
        slots = slots_of.get((key, fields))
        if slots is None:
            metric_names = names_of.get((key, fields))
            if metric_names is None:
                metric_names = names_of[(key, fields)] = tuple(prometheus_name(key, f) for f in fields)
            slots = slots_of[(key, fields)] = tuple(
                (name, families.setdefault(name, (key, []))[1]) for name in metric_names
            )
        # Frames share their labels dicts: format each dict once.
        head = heads.get(id(labels))
        if head is None:
            head = heads[id(labels)] = (labels, prom_labels(labels) + " ")
        head = head[1]
        tail = " " + str(int(stamp) * 1000) if timestamps and stamp else ""
        for (name, lines), value in zip(slots, values):
            cls = type(value)
            # Plain ints and finite floats inline; everything else as prom_number spells it.
            if cls is int:
                text = str(value)
            elif cls is float and value - value == 0.0:
                text = repr(value)
            else:
                text = prom_number(value)
            lines.append(f"{name}{head}{text}{tail}")
    lines = []
    for name, (key, items) in families.items():
        lines.extend(prom_family_header(name, "gauge", descriptions.get(key) or ("OneFS statistic " + key)))
        lines.extend(items)
    return "\n".join(lines) + "\n" if lines else ""


def to_influx(samples):
    """Samples → InfluxDB line protocol (timestamps in nanoseconds).

    Samples with the same key, labels and timestamp become one point: field ``value`` for
    single values, one field per numeric sub-field otherwise. Non-finite values are skipped.
    """
    return frames_to_influx(samples_to_frames(samples))


def frames_to_influx(frames):
    """Frames (``samples.RowDecoder``) → InfluxDB line protocol, as :func:`to_influx`."""
    points = {}
    tags = {}  # id(labels) -> (labels kept alive, tag set text)
    for key, labels, fields, values, _unit, stamp, _degraded in frames:
        cached = tags.get(id(labels))
        if cached is None:
            cached = tags[id(labels)] = (labels, influx_tags(labels))
        ident = (key, cached[1], stamp)
        point = points.get(ident)
        if point is None:
            point = points[ident] = []
        for field, value in zip(fields, values):
            text = influx_float(value)
            if text is not None:
                point.append((field or "value", text))
    lines = []
    for (key, tag_text, stamp), fields in points.items():
        if not fields:
            continue
        line = influx_measurement(key) + tag_text + " " + ",".join(f"{influx_key(k)}={v}" for k, v in fields)
        if stamp:
            line += " " + str(int(stamp) * 1000000000)
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""
