# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OneFS quotas (``/platform/8/quota/quotas``, ``/platform/1`` on older releases) as samples. Pure.

One sample per quota value, named ``quota`` with the value's name as ``field``, so the Prometheus
name is ``isilon_quota_<field>`` and the InfluxDB measurement ``quota``: the names and labels of
gostats' sibling exporter goquotas (Isilon/powerscale_data_insights ``cmd/goquotas/backend.go``):

- labels on every sample: ``cluster``, ``quota_id``, ``quota_type``, ``path``, ``persona_type``,
  ``persona_id``, ``persona_name``, ``thresholds_on``, ``linked``, ``include_snapshots`` (empty
  when unset);
- ``container``, ``enforced``, ``present`` (1), ``ready``, ``linked`` as 0/1; ``efficiency_ratio``,
  ``reduction_ratio``; ``usage_<x>_bytes`` / ``usage_inodes`` / ``usage_shadow_refs`` only when
  the usage value's ``*_ready`` flag is true; ``usage_bytes`` = the usage ``thresholds_on`` selects;
  ``<threshold>_bytes`` and ``<threshold>_utilization_ratio`` (usage / threshold, threshold > 0);
  ``*_exceeded``, ``*_last_exceeded_timestamp_seconds``, ``soft_grace_seconds``,
  ``advisory_threshold_percent``, ``soft_threshold_percent`` when present.

Quota samples carry no timestamp (the scrape's time), as in goquotas. ``/platform/1`` answers
(usage ``logical``/``physical``/``inodes`` without ready flags) are read as ready fslogical,
physical and inodes values.
"""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_MALFORMED_RESPONSE
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError

QUOTA_SAMPLE_NAME = "quota"
QUOTA_PATHS = ("/platform/8/quota/quotas", "/platform/1/quota/quotas")
QUOTA_TYPES = ("directory", "default-directory", "user", "default-user", "group", "default-group")
DEFAULT_QUOTA_TYPES = ("directory", "default-directory")
LABEL_NAMES = (
    "cluster",
    "quota_id",
    "quota_type",
    "path",
    "persona_type",
    "persona_id",
    "persona_name",
    "thresholds_on",
    "linked",
    "include_snapshots",
)
# usage value -> sample field (goquotas' names)
USAGE_FIELDS = (
    ("applogical", "usage_applogical_bytes"),
    ("fslogical", "usage_fslogical_bytes"),
    ("fsphysical", "usage_fsphysical_bytes"),
    ("inodes", "usage_inodes"),
    ("physical", "usage_physical_bytes"),
    ("physical_data", "usage_physical_data_bytes"),
    ("physical_protection", "usage_physical_protection_bytes"),
    ("shadow_refs", "usage_shadow_refs"),
)
SELECTED_USAGE = {"applogicalsize": "applogical", "physicalsize": "physical"}  # default: fslogical
THRESHOLD_EXTRAS = (
    ("advisory_exceeded", "advisory_exceeded"),
    ("soft_exceeded", "soft_exceeded"),
    ("hard_exceeded", "hard_exceeded"),
    ("advisory_last_exceeded", "advisory_last_exceeded_timestamp_seconds"),
    ("soft_last_exceeded", "soft_last_exceeded_timestamp_seconds"),
    ("hard_last_exceeded", "hard_last_exceeded_timestamp_seconds"),
    ("soft_grace", "soft_grace_seconds"),
    ("percent_advisory", "advisory_threshold_percent"),
    ("percent_soft", "soft_threshold_percent"),
)
PAGE_LIMIT = 1000


def first_page_target(path, quota_type, limit=PAGE_LIMIT):
    """The first page of one quota type (a resume token cannot be combined with other arguments)."""
    return f"{path}?type={quote(quota_type, safe='-')}&limit={int(limit)}"


def resume_target(path, resume):
    return path + "?resume=" + quote(str(resume), safe="")


def parse_quota_page(payload):
    """``{"quotas": [...], "resume": token|null}`` → (quotas, resume)."""
    quotas = payload.get("quotas") if isinstance(payload, dict) else None
    if not isinstance(quotas, list):
        raise OneFSError("quota list response has no 'quotas' list", kind=KIND_MALFORMED_RESPONSE)
    for item in quotas:
        if not isinstance(item, dict) or not item.get("id") or not item.get("path") or not item.get("type"):
            raise OneFSError("quota list response has a quota without id, path or type", kind=KIND_MALFORMED_RESPONSE)
    return quotas, payload.get("resume") or None


def _bool_text(value):
    return "true" if value else "false"


def _usage(quota):
    """Usage values with their ready flags; /platform/1's shape read as always ready."""
    usage = dict(quota.get("usage") or {})
    if "fslogical" not in usage and "logical" in usage:
        usage["fslogical"] = usage["logical"]
        for name in ("fslogical", "physical", "inodes"):
            if name in usage:
                usage.setdefault(name + "_ready", True)
    return usage


def _number(value):
    return type(value) in (int, float)


def quota_labels(quota, cluster):
    persona = quota.get("persona") or {}
    linked = quota.get("linked")
    return {
        "cluster": cluster,
        "quota_id": str(quota.get("id") or ""),
        "quota_type": str(quota.get("type") or ""),
        "path": str(quota.get("path") or ""),
        "persona_type": str(persona.get("type") or ""),
        "persona_id": str(persona.get("id") or ""),
        "persona_name": str(persona.get("name") or ""),
        "thresholds_on": str(quota.get("thresholds_on") or ""),
        "linked": "" if linked is None else _bool_text(linked),
        "include_snapshots": _bool_text(quota.get("include_snapshots")),
    }


def quota_fields(quota):
    """``[(field, number)]`` of one quota, goquotas' fields and rules."""
    fields = [
        ("container", int(bool(quota.get("container")))),
        ("enforced", int(bool(quota.get("enforced")))),
        ("present", 1),
        ("ready", int(bool(quota.get("ready")))),
    ]
    if quota.get("linked") is not None:
        fields.append(("linked", int(bool(quota["linked"]))))
    for name in ("efficiency_ratio", "reduction_ratio"):
        if _number(quota.get(name)):
            fields.append((name, quota[name]))
    usage = _usage(quota)
    for source, field in USAGE_FIELDS:
        if _number(usage.get(source)) and usage.get(source + "_ready") is True:
            fields.append((field, usage[source]))
    selected = SELECTED_USAGE.get(quota.get("thresholds_on"), "fslogical")
    used = usage.get(selected) if usage.get(selected + "_ready") is True and _number(usage.get(selected)) else None
    if used is not None:
        fields.append(("usage_bytes", used))
    thresholds = quota.get("thresholds") or {}
    for name in ("advisory", "soft", "hard"):
        limit = thresholds.get(name)
        if not _number(limit):
            continue
        fields.append((name + "_bytes", limit))
        if used is not None and limit > 0:
            fields.append((name + "_utilization_ratio", used / limit))
    for source, field in THRESHOLD_EXTRAS:
        value = thresholds.get(source)
        if isinstance(value, bool):
            fields.append((field, int(value)))
        elif _number(value):
            fields.append((field, value))
    return fields


def quota_samples(quotas, cluster):
    """Samples of a list of quotas (the ``quotas`` of one or more pages)."""
    samples = []
    for quota in quotas:
        labels = quota_labels(quota, cluster)
        for field, value in quota_fields(quota):
            samples.append(
                {
                    "name": QUOTA_SAMPLE_NAME,
                    "field": field,
                    "labels": labels,
                    "value": value,
                    "unit": None,
                    "timestamp": None,
                    "degraded": False,
                }
            )
    return samples
