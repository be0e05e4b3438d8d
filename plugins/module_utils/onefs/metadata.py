# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OneFS statistics key metadata and cluster identity: pure parsing, no I/O."""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_MALFORMED_RESPONSE
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError, close_matches

DEFAULT_MIN_INTERVAL = 5

META_FIELDS = (
    "key",
    "description",
    "units",
    "scope",
    "type",
    "aggregation_type",
    "policies",
    "policy_cache_time",
    "default_cache_time",
    "base_name",
    "real_name",
)


def update_interval(meta, minimum=DEFAULT_MIN_INTERVAL):
    """Update interval in seconds of one key.

    The first non-persistent policy's ``interval``; keys without policies (``policies: null``,
    e.g. protostats, cluster.health, node counts) fall back to ``minimum``. The result is never
    below ``minimum``.
    """
    policies = meta.get("policies") or []
    for policy in policies:
        if not policy.get("persistent") and policy.get("interval"):
            return max(int(policy["interval"]), minimum)
    return minimum


def cache_time(meta):
    """Seconds a value stays cached on the cluster (re-queries within it return the same value)."""
    for name in ("policy_cache_time", "default_cache_time"):
        value = meta.get(name)
        if value:
            return int(value)
    return 0


def parse_key_list(payload):
    """``{"keys":[…], "resume": …}`` from /platform/1/statistics/keys → (metas by key, resume token)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("keys"), list):
        raise OneFSError("statistics keys response has no 'keys' list", kind=KIND_MALFORMED_RESPONSE)
    metas = {}
    for item in payload["keys"]:
        if isinstance(item, dict) and item.get("key"):
            metas[item["key"]] = normalise_meta(item)
    return metas, payload.get("resume")


def normalise_meta(item, minimum=DEFAULT_MIN_INTERVAL):
    meta = {name: item.get(name) for name in META_FIELDS}
    meta["interval"] = update_interval(item, minimum)
    meta["cache_time"] = cache_time(item)
    return meta


def split_known(requested, known):
    """Split requested keys into (known, unknown, suggestions for the unknown ones)."""
    good, bad, hints = [], [], {}
    for key in requested:
        if key in known:
            good.append(key)
        else:
            bad.append(key)
            hints[key] = close_matches(key, known)
    return good, bad, hints


def bucket_by_interval(metas, minimum=DEFAULT_MIN_INTERVAL):
    """Group keys by update interval: ``{interval: [keys]}`` (what an exporter polls together)."""
    buckets = {}
    for key, meta in metas.items():
        interval = max(int(meta.get("interval") or minimum), minimum)
        buckets.setdefault(interval, []).append(key)
    return buckets


def parse_cluster_config(payload):
    """/platform/1/cluster/config → identity: name, guid, version, release, nodes with up/down."""
    if not isinstance(payload, dict) or "name" not in payload:
        raise OneFSError("cluster config response has no 'name'", kind=KIND_MALFORMED_RESPONSE)
    version = payload.get("onefs_version") or {}
    nodes = []
    for dev in payload.get("devices") or []:
        nodes.append(
            {
                "lnn": dev.get("lnn"),
                "devid": dev.get("devid"),
                "guid": dev.get("guid"),
                "is_up": bool(dev.get("is_up", True)),
            }
        )
    nodes.sort(key=lambda n: (n["lnn"] is None, n["lnn"]))
    return {
        "name": payload.get("name"),
        "guid": payload.get("guid"),
        "version": version.get("release") or version.get("version"),
        "build": version.get("build"),
        "revision": version.get("revision"),
        "local_lnn": payload.get("local_lnn"),
        "local_devid": payload.get("local_devid"),
        "has_quorum": payload.get("has_quorum"),
        "is_virtual": payload.get("is_virtual"),
        "nodes": nodes,
        "nodes_up": [n["lnn"] for n in nodes if n["is_up"]],
        "nodes_down": [n["lnn"] for n in nodes if not n["is_up"]],
    }


def devid_to_lnn(identity):
    return {n["devid"]: n["lnn"] for n in identity.get("nodes", [])}
