# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Output encoders for normalised OneFS samples (pure functions, no I/O).

- Prometheus text exposition with gostats-compatible names: ``isilon_stat_<key, . → _>`` for
  single values and ``isilon_stat_<key>_<field>`` for multi-field values; labels ``cluster``,
  ``node`` (LNN) and string sub-fields such as ``op_name``, ``class_name``, ``path``.
- InfluxDB line protocol as gostats writes it: measurement = stat key, field ``value`` or one
  field per numeric sub-field, tags ``cluster``, ``node`` and string sub-fields. Field values are
  written as floats, as gostats does, so existing measurements keep their field types.
"""

from __future__ import annotations

import math
import re

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
PROM_PREFIX = "isilon_stat_"


def prometheus_name(key, field=None):
    name = PROM_PREFIX + key.replace(".", "_")
    if field:
        name = name + "_" + field
    return _INVALID.sub("_", name)


def _prom_label_value(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _prom_number(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def prometheus_text(samples, descriptions=None, timestamps=False):
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
        help_text = descriptions.get(key) or ("OneFS statistic " + key)
        lines.append("# HELP {} {}".format(name, help_text.replace("\\", "\\\\").replace("\n", "\\n")))
        lines.append(f"# TYPE {name} gauge")
        for s in items:
            labels = s["labels"]
            # Samples of one row share their labels dict: format each dict once.
            head = heads.get(id(labels))
            if head is None:
                if labels:
                    body = ",".join(
                        '{}="{}"'.format(_INVALID.sub("_", k), _prom_label_value(v)) for k, v in sorted(labels.items())
                    )
                    head = heads[id(labels)] = (labels, "{" + body + "} ")
                else:
                    head = heads[id(labels)] = (labels, " ")
            line = name + head[1] + _prom_number(s["value"])
            if timestamps and s.get("timestamp"):
                line += " " + str(int(s["timestamp"]) * 1000)
            lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def _influx_escape_measurement(text):
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _influx_escape_tag(text):
    return str(text).replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _influx_escape_field_key(text):
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _influx_float(value):
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return repr(value)


def influx_lines(samples):
    """Samples → InfluxDB line protocol lines (timestamps in nanoseconds).

    Samples with the same key, labels and timestamp become one point: field ``value`` for
    single values, one field per numeric sub-field otherwise. Non-finite values are skipped.
    """
    points = {}
    order = []
    tags = {}  # id(labels) -> (labels kept alive, sorted label items)
    for s in samples:
        labels = s["labels"]
        cached = tags.get(id(labels))
        if cached is None:
            cached = tags[id(labels)] = (labels, tuple(sorted(labels.items())))
        ident = (s["name"], cached[1], s.get("timestamp"))
        point = points.get(ident)
        if point is None:
            point = points[ident] = []
            order.append(ident)
        text = _influx_float(s["value"])
        if text is not None:
            point.append((s["field"] or "value", text))
    lines = []
    for ident in order:
        fields = points[ident]
        if not fields:
            continue
        key, labels, stamp = ident
        head = _influx_escape_measurement(key)
        if labels:
            head += "," + ",".join(f"{_influx_escape_tag(k)}={_influx_escape_tag(v)}" for k, v in labels if v != "")
        body = ",".join(f"{_influx_escape_field_key(k)}={v}" for k, v in fields)
        line = head + " " + body
        if stamp:
            line += " " + str(int(stamp) * 1000000000)
        lines.append(line)
    return lines
