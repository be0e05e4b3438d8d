# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OneFS summary statistics (``/platform/3/statistics/summary/<kind>``) as samples. Pure.

Each item of the answer's ``<kind>`` list becomes one sample per numeric field, named
``node.summary.<kind>`` (so the Prometheus name is ``isilon_stat_node_summary_<kind>_<field>``, as
gostats spells it). String fields become labels (``class``, ``operation``, ``protocol``,
``drive_id``, ``type``, client addresses), ``node`` (the LNN) becomes the ``node`` label, the
``user`` dict of client items becomes ``user_id``/``user_name``/``user_type``, and ``time`` is the
sample's timestamp (gostats also exports it as a ``_time`` series; dashboards do not use it).
"""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_MALFORMED_RESPONSE
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError

SUMMARY_KINDS = ("protocol", "client", "drive")
SUMMARY_PATH = "/platform/3/statistics/summary/"
SAMPLE_PREFIX = "node.summary."


def summary_target(kind):
    """The request target of one summary kind (degraded values included, as gostats asks)."""
    if kind not in SUMMARY_KINDS:
        raise ValueError(f"summary kind must be one of {', '.join(SUMMARY_KINDS)}, got {kind!r}")
    return SUMMARY_PATH + kind + "?degraded=true"


def summary_items(kind, payload):
    """The list of items of a summary answer; malformed answers raise ``malformed_response``."""
    items = payload.get(kind) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise OneFSError(f"statistics summary/{kind} response has no '{kind}' list", kind=KIND_MALFORMED_RESPONSE)
    return items


def summary_samples(kind, payload, cluster):
    """Samples of one summary answer (``payload`` as parsed JSON, ``cluster`` the cluster label)."""
    name = SAMPLE_PREFIX + kind
    samples = []
    for item in summary_items(kind, payload):
        if not isinstance(item, dict):
            continue
        labels = {"cluster": cluster}
        fields = []
        for field, val in item.items():
            cls = type(val)
            if field == "time":
                continue
            if field == "node" and cls is int:
                labels["node"] = str(val)
            elif cls is int or cls is float:
                fields.append((field, val))
            elif cls is bool:
                fields.append((field, int(val)))
            elif cls is str:
                labels[field] = val
            elif cls is dict:
                for sub, sval in val.items():
                    if isinstance(sval, (str, int)) and not isinstance(sval, bool):
                        labels[field + "_" + sub] = str(sval)
        stamp = item.get("time")
        for field, val in fields:
            samples.append(
                {
                    "name": name,
                    "field": field,
                    "labels": labels,
                    "value": val,
                    "unit": None,
                    "timestamp": stamp if isinstance(stamp, int) else None,
                    "degraded": False,
                }
            )
    return samples
