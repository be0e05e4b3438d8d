# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wire-format primitives shared by every domain's encoders (pure functions, no I/O).

Prometheus text exposition 0.0.4 and InfluxDB line protocol spelled once: escaping, number
formatting and label sets. What a metric is called and which labels it carries stay in each
domain's ``exposition`` module.
"""

from __future__ import annotations

import math
import re

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_LABEL_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def prom_metric_name(text):
    """A metric name with every character Prometheus does not allow replaced by ``_``."""
    return _METRIC_NAME_INVALID.sub("_", text)


def prom_label_value(value):
    """Label value escaping: backslash, double quote and newline."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prom_labels(labels):
    """``{a="1",b="2"}`` for a mapping (names sanitised, sorted); empty string for no labels."""
    if not labels:
        return ""
    body = ",".join(
        '{}="{}"'.format(_LABEL_NAME_INVALID.sub("_", str(k)), prom_label_value(v)) for k, v in sorted(labels.items())
    )
    return "{" + body + "}"


def prom_number(value):
    """A sample value as the text format spells it (integers exact, ``NaN``, ``+Inf``, ``-Inf``)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def prom_family_header(name, metric_type, help_text):
    """The ``# HELP`` and ``# TYPE`` lines of one metric family (help escaped)."""
    escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {name} {escaped}", f"# TYPE {name} {metric_type}"]


def influx_measurement(text):
    """Measurement escaping: backslash, comma and space."""
    return str(text).replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def influx_key(text):
    """Tag key, tag value and field key escaping: backslash, comma, equals sign and space."""
    return str(text).replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def influx_tags(tags):
    """``,k=v,…`` for a mapping, sorted; empty values dropped (line protocol forbids them)."""
    return "".join(f",{influx_key(k)}={influx_key(v)}" for k, v in sorted(tags.items()) if v != "")


def influx_float(value):
    """A float field value, or None for NaN and infinities (line protocol cannot carry them)."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return repr(value)


def influx_typed(value):
    """A field value keeping its type: ``true``/``false``, ``<n>i`` for integers, floats as floats."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    return influx_float(value)


def _epoch_units(seconds, per_second):
    # Whole seconds exactly, then the fraction: float(seconds) * 1e9 alone is off by hundreds of ns.
    whole = math.floor(seconds)
    return int(whole) * per_second + round((seconds - whole) * per_second)


def prom_timestamp(seconds):
    """A sample timestamp as Prometheus text carries it: integer milliseconds since the epoch."""
    return _epoch_units(seconds, 1000)


def influx_timestamp(seconds):
    """A point timestamp as line protocol carries it (default precision): integer nanoseconds."""
    return _epoch_units(seconds, 1000000000)
