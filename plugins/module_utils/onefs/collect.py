# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One collection cycle over a :class:`PapiClient`: what modules, the lookup and the exporter share.

Unknown keys are detected up front from cached metadata (one bad key never sinks the query),
per-row errors are classified (degraded kept and flagged, transient 4-8 skipped this cycle,
permanent 1/2/9/10 remembered and no longer queried).
"""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import metadata as md
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import (
    KIND_PERMANENT,
    unknown_keys_message,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import rows_to_samples


def parse_nodes(nodes):
    """``'all'``/None → None (every node); otherwise a set of LNNs (ints)."""
    if nodes is None:
        return None
    if isinstance(nodes, (str, int)):
        nodes = [nodes]
    out = set()
    for item in nodes:
        if isinstance(item, str) and item.strip().lower() == "all":
            return None
        try:
            out.add(int(item))
        except (TypeError, ValueError):
            raise ValueError(f"nodes must be 'all' or a list of node LNNs (integers), got {item!r}") from None
    return out


class StatsCollector:
    def __init__(self, client, include_degraded=False, nodes=None, preserve_case=False, cluster_label=None):
        self.client = client
        self.include_degraded = include_degraded
        self.nodes = parse_nodes(nodes)
        self.preserve_case = preserve_case
        self.cluster_label = cluster_label
        self.permanent = {}  # (key, devid) -> error dict

    def identity(self):
        return self.client.cluster_identity()

    def _label(self, identity):
        if self.cluster_label:
            return self.cluster_label
        name = identity.get("name") or self.client.host
        return name if self.preserve_case else name.lower()

    def _skippable(self, key, up_devids):
        if (key, 0) in self.permanent:
            return True
        return bool(up_devids) and all((key, d) in self.permanent for d in up_devids)

    def collect(self, keys):
        """One cycle. Returns a dict: cluster, stats, errors, unknown_keys, suggestions, requests."""
        start_requests = self.client.requests
        identity = self.identity()
        metas, unknown, hints = self.client.key_metadata(keys)
        up_devids = [n["devid"] for n in identity["nodes"] if n["is_up"]]
        if self.permanent:
            wanted = [k for k in keys if k in metas and not self._skippable(k, up_devids)]
            chosen = set(wanted)
            skipped = [k for k in keys if k in metas and k not in chosen]
        else:
            wanted = [k for k in keys if k in metas]
            skipped = []
        rows, rejected = self.client.current(wanted) if wanted else ([], [])
        if rejected:
            unknown = unknown + [k for k in rejected if k not in unknown]
            for key in rejected:
                hints.setdefault(key, [])
        units = {k: m.get("units") for k, m in metas.items()}
        samples, errors = rows_to_samples(
            rows,
            units,
            self._label(identity),
            md.devid_to_lnn(identity),
            include_degraded=self.include_degraded,
            nodes=self.nodes,
        )
        for err in errors:
            if err["kind"] == KIND_PERMANENT:
                self.permanent[(err["key"], err["devid"] or 0)] = err
        for key in unknown:
            errors.append(
                {
                    "key": key,
                    "devid": None,
                    "node": None,
                    "code": "unknown_key",
                    "name": "unknown_key",
                    "meaning": unknown_keys_message([key], hints),
                    "kind": "unknown_key",
                    "message": None,
                    "kept": False,
                }
            )
        return {
            "cluster": {
                "name": identity.get("name"),
                "version": identity.get("version"),
                "guid": identity.get("guid"),
                "nodes_up": identity.get("nodes_up"),
                "nodes_down": identity.get("nodes_down"),
            },
            "stats": samples,
            "errors": errors,
            "unknown_keys": unknown,
            "suggestions": {k: hints.get(k, []) for k in unknown},
            "skipped_keys": skipped,
            "metadata": metas,
            "requests": self.client.requests - start_requests,
        }
