# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One reading of OneFS statistics over a :class:`PapiClient`: what modules, the lookup and the exporter share.

Unknown keys are detected up front from cached metadata (one bad key never sinks the query),
per-row errors are classified (degraded kept and flagged, transient 4-8 skipped this cycle,
permanent 1/2/9/10 not queried again until the client's next refresh). When the rows disagree
with the cached node map (a node went down or came back, an LNN changed), the identity is read
again in the same cycle.
"""

from __future__ import annotations

import logging

from ansible_collections.quadstats.stack.plugins.module_utils.errors import (
    KIND_DEGRADED,
    KIND_NOT_FOUND,
    KIND_PERMANENT,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import metadata as md
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import quotas as qt
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import (
    UNKNOWN_KEY_CODE,
    key_error,
    unknown_keys_message,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import LOGGER_NAME
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import RowDecoder, frames_to_samples
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.summary import summary_samples

CLUSTER_FIELDS = ("name", "version", "guid", "nodes_up", "nodes_down")


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


def node_map_disagrees(identity, answers, cluster_degraded=False):
    """Why the rows contradict the identity's node map (a short reason), or None when they agree.

    ``answers``: the ``(devid, LNN)`` pairs the rows answered with (``RowDecoder.node_answers``);
    ``cluster_degraded``: a cluster value was degraded (some node input missing).
    Node rows from a devid the map does not know, under another LNN, or from a node it has as
    down; an up node without any row while other nodes answered; a cluster value degraded
    while the map has every node up.
    """
    lnn_of = {n["devid"]: n["lnn"] for n in identity["nodes"]}
    up = {n["devid"] for n in identity["nodes"] if n["is_up"]}
    answered = set()
    for devid, node in answers:
        if devid not in lnn_of:
            return f"rows from unknown devid {devid}"
        if node is not None and node != lnn_of[devid]:
            return f"devid {devid} answers as LNN {node}, not {lnn_of[devid]}"
        if devid not in up:
            return f"devid {devid} answers but is down in the node map"
        answered.add(devid)
    if answered and up - answered:
        return "no rows from devid(s) " + ", ".join(str(d) for d in sorted(up - answered))
    if cluster_degraded and not identity["nodes_down"]:
        return "cluster values degraded while every node is up in the node map"
    return None


class OneFSSampler:
    """Reads statistics keys from one cluster; keep one per client for a long-running exporter."""

    def __init__(
        self, client, include_degraded=False, nodes=None, preserve_case=False, cluster_label=None, *, devid_label=False
    ):
        self.client = client
        self.devid_label = devid_label
        self.include_degraded = include_degraded
        self.nodes = parse_nodes(nodes)
        self.preserve_case = preserve_case
        self.cluster_label = cluster_label
        self.permanent = {}  # (key, devid) -> error dict, until the client's next refresh
        self._generation = client.generation
        self._unexplained = None
        self._decoder = RowDecoder()
        self._metas = self._units = None  # the last key metadata seen and its units per key
        self._agreed = (None, None)  # (identity, node answers) of the last rows that agreed with the node map
        self._of_identity = (None, None, None)  # (identity, its devid -> LNN map, its cluster fields)
        self._log = logging.getLogger(LOGGER_NAME)

    def identity(self):
        return self.client.cluster_identity()

    def label(self):
        """The ``cluster`` label value of this cluster's samples."""
        return self._label(self.identity())

    def _label(self, identity):
        if self.cluster_label:
            return self.cluster_label
        name = identity.get("name") or self.client.host
        return name if self.preserve_case else name.lower()

    def _follow_refresh(self):
        """Permanent errors were learned from the cluster as it was: forget them when the client refreshes."""
        if self._generation != self.client.generation:
            self._generation = self.client.generation
            self.permanent.clear()

    def _skippable(self, key, up_devids):
        if (key, 0) in self.permanent:
            return True
        return bool(up_devids) and all((key, d) in self.permanent for d in up_devids)

    def collect(self, keys):
        """One reading: the list of samples (see :meth:`read` for errors and cluster identity)."""
        return self.read(keys)["stats"]

    def read(self, keys):
        """One reading. Returns a dict: cluster, stats, errors, unknown_keys, suggestions, skipped_keys,
        metadata, requests."""
        reading = self.read_frames(keys)
        reading["stats"] = frames_to_samples(reading["stats"])
        return reading

    def read_frames(self, keys, defer=False):
        """:meth:`read` with ``stats`` as frames (``samples.RowDecoder``), not one dict per value.
        ``defer``: list and dict values stay deferred frames until :meth:`expand`."""
        start_requests = self.client.requests
        identity = self.identity()
        metas, unknown, hints = self.client.key_metadata(keys)
        self._follow_refresh()
        up_devids = [n["devid"] for n in identity["nodes"] if n["is_up"]]
        if self.permanent:
            wanted = [k for k in keys if k in metas and not self._skippable(k, up_devids)]
            chosen = set(wanted)
            skipped = [k for k in keys if k in metas and k not in chosen]
        else:
            # metas has the keys in order, once each: when it has as many, they are all known
            wanted = keys if len(metas) == len(keys) else [k for k in keys if k in metas]
            skipped = []
        if metas is not self._metas:  # the client answers with the same dict while nothing changed
            self._metas = metas
            self._units = {k: m.get("units") for k, m in metas.items()}
        rows, rejected = self.client.current(wanted) if wanted else ([], [])
        self._follow_refresh()
        if rejected:
            unknown = unknown + [k for k in rejected if k not in unknown]
            for key in rejected:
                hints.setdefault(key, [])
        units = self._units
        identity, frames, errors = self._decode_checked(rows, units, identity, defer)
        for err in errors:
            if err["kind"] == KIND_PERMANENT:
                self.permanent[(err["key"], err.get("devid") or 0)] = err
        for key in unknown:
            meaning = unknown_keys_message([key], hints)
            errors.append(key_error(KIND_NOT_FOUND, meaning, key, code=UNKNOWN_KEY_CODE, name=UNKNOWN_KEY_CODE))
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(
                "OneFS %s: %d rows, %d errors (%d degraded), %d unknown keys",
                self.client.host,
                len(rows),
                len(errors),
                sum(1 for e in errors if e["kind"] == KIND_DEGRADED),
                len(unknown),
            )
        return {
            "cluster": dict(self._identity_parts(identity)[1]),
            "stats": frames,
            "errors": errors,
            "unknown_keys": unknown,
            "suggestions": {k: hints.get(k, []) for k in unknown},
            "skipped_keys": skipped,
            "metadata": metas,
            "requests": self.client.requests - start_requests,
        }

    def _decode_checked(self, rows, units, identity, defer):
        """(identity, frames, errors) of rows, the identity read again when the rows contradict its node map."""
        frames, errors = self._decode(rows, units, identity, defer)
        decoder = self._decoder
        if identity is self._agreed[0] and decoder.node_answers == self._agreed[1] and not decoder.cluster_degraded:
            reason = None  # the same nodes answered as last time, and that agreed with this node map
        else:
            reason = node_map_disagrees(identity, decoder.node_answers, decoder.cluster_degraded)
            self._agreed = (identity, decoder.node_answers) if reason is None else (None, None)
        if reason and reason != self._unexplained:
            self._log.info("OneFS %s: node map changed (%s); reading the identity again", self.client.host, reason)
            identity = self.client.cluster_identity(refresh=True)
            # A disagreement a fresh identity does not explain is not re-read every cycle.
            self._unexplained = node_map_disagrees(identity, decoder.node_answers, decoder.cluster_degraded)
            frames, errors = self._decode(rows, units, identity, defer)  # LNNs and the label from the fresh map
        elif not reason:
            self._unexplained = None
        return identity, frames, errors

    def expand(self, frames):
        """Frames of :meth:`read_frames` with their deferred frames decoded."""
        return self._decoder.expand(frames)

    def _identity_parts(self, identity):
        """(devid -> LNN, cluster fields) of an identity, worked out again only for another identity
        dict (the client answers with the same one until a refresh)."""
        if identity is not self._of_identity[0]:
            self._of_identity = (identity, md.devid_to_lnn(identity), {n: identity.get(n) for n in CLUSTER_FIELDS})
        return self._of_identity[1:]

    def _decode(self, rows, units, identity, defer=False):
        return self._decoder.decode(
            rows,
            units,
            self._label(identity),
            self._identity_parts(identity)[0],
            include_degraded=self.include_degraded,
            nodes=self.nodes,
            devid_label=self.devid_label,
            defer=defer,
        )

    def read_summary(self, kind):
        """Samples of one summary kind (``protocol``, ``client``, ``drive``): ``node.summary.<kind>``."""
        label = self._label(self.identity())
        return summary_samples(kind, self.client.summary(kind), label)

    def read_quotas(self, types=qt.DEFAULT_QUOTA_TYPES):
        """Samples of every quota of ``types`` (goquotas' fields and labels, see ``quotas.py``)."""
        label = self._label(self.identity())
        return qt.quota_samples(self.client.quotas(types), label)
