# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the exporter knows per cluster: the last good samples of each source until they expire,
and the self-metrics (up, last success, durations, requests, errors by kind, session renewals).

Thread-safe: the cluster's poller writes, the HTTP listeners read. Values are kept as the core's
frames (``samples.RowDecoder``: one tuple per decoded item, not one dict per value); rendering uses
the core's encoder (``exposition.frames_to_prometheus``) and caches the text until something changes.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import (
    PrometheusNames,
    frames_to_prometheus,
)
from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import (
    prom_family_header,
    prom_labels,
    prom_number,
)

SELF_PREFIX = "quadstats_onefs_exporter_"
# HELP texts of the sources without key metadata (stat keys use their metadata description).
FIXED_DESCRIPTIONS = {
    "node.summary.protocol": "OneFS protocol summary statistics (/platform/3/statistics/summary/protocol)",
    "node.summary.client": "OneFS client summary statistics (/platform/3/statistics/summary/client)",
    "node.summary.drive": "OneFS drive summary statistics (/platform/3/statistics/summary/drive)",
    "quota": "OneFS quota value (/platform/8/quota/quotas, goquotas' names)",
}
# name -> (type, help, label names besides cluster)
SELF_METRICS = {
    "up": ("gauge", "1 when the last collection from the cluster succeeded, else 0", ()),
    "last_success_timestamp_seconds": ("gauge", "Unix time of the last successful collection", ()),
    "collection_duration_seconds": ("gauge", "Duration of the last collection of each source", ("source",)),
    "requests_total": ("counter", "HTTP requests sent to the cluster's PAPI", ()),
    "errors_total": ("counter", "Errors by kind: failed collections and per-value errors", ("kind",)),
    "session_renewals_total": ("counter", "Session logins after the first one (expiry, 401, absolute timeout)", ()),
    "series": ("gauge", "Series currently exported for the cluster", ()),
}


class ClusterState:
    """Frames by source (a stat key, ``summary:<kind>``, ``quotas``) with their expiry, and counters."""

    def __init__(self, name, clock=time.monotonic):
        self.name = name
        self.clock = clock
        self._lock = threading.Lock()
        self._sources = {}  # source -> (frames, expires_at on clock)
        self._next_expiry = float("inf")
        self._rendered = {}  # timestamps flag -> text
        self._names = PrometheusNames()  # metric names and label sets between renders
        self.version = 0  # changes whenever the live samples change (a put or an expiry)
        self.descriptions = dict(FIXED_DESCRIPTIONS)  # sample name -> HELP text
        self._described = set()  # stat keys whose metadata was looked at
        self.up = 0
        self.last_success = 0.0
        self.durations = {}
        self.requests = 0
        self.errors = {}
        self.renewals = 0
        self.quotas_success = None  # (cluster label, wall time) of the last quota collection (goquotas' self-metric)
        self.failure = None  # (kind, message) while down

    # ------------------------------------------------------------ samples
    def put(self, source_frames, lifetime_of):
        """Store fresh frames: ``{source: frames}``; ``lifetime_of(source)`` gives seconds to keep them."""
        now = self.clock()
        with self._lock:
            for source, frames in source_frames.items():
                expires = now + lifetime_of(source)
                self._sources[source] = (frames, expires)
                self._next_expiry = min(self._next_expiry, expires)
            self._rendered = {}
            self.version += 1

    def _expire(self):
        now = self.clock()
        if now < self._next_expiry:
            return
        self._sources = {s: v for s, v in self._sources.items() if v[1] > now}
        self._next_expiry = min((v[1] for v in self._sources.values()), default=float("inf"))
        self._rendered = {}
        self.version += 1

    def current_version(self):
        """:attr:`version` after dropping what expired."""
        with self._lock:
            self._expire()
            return self.version

    def frames(self):
        with self._lock:
            self._expire()
            return [f for frames, _exp in self._sources.values() for f in frames]

    def series_count(self):
        with self._lock:
            self._expire()
            return sum(len(frame[3]) for frames, _exp in self._sources.values() for frame in frames)

    def render(self, timestamps=True):
        """Prometheus text of this cluster's live samples (cached until a put or an expiry)."""
        with self._lock:
            self._expire()
            text = self._rendered.get(timestamps)
            if text is None:
                frames = [f for frames, _exp in self._sources.values() for f in frames]
                text = frames_to_prometheus(frames, self.descriptions, timestamps, self._names)
                self._rendered[timestamps] = text
            return text

    # ------------------------------------------------------------ self-metrics
    def describe(self, metas):
        """Keep the metadata descriptions of stat keys for the HELP lines."""
        if self._described.issuperset(metas):  # every poll after the first: nothing new
            return
        self._described.update(metas)
        new = {k: m["description"] for k, m in metas.items() if m.get("description") and k not in self.descriptions}
        if new:
            with self._lock:
                self.descriptions = {**self.descriptions, **new}

    def record_duration(self, source, seconds):
        with self._lock:  # the listeners iterate durations while the poller adds sources
            self.durations[source] = round(seconds, 6)

    def count_error(self, kind, count=1):
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + count

    def self_values(self):
        """``[(metric, extra labels, value)]`` of this cluster's self-metrics."""
        with self._lock:
            out = [
                ("up", {}, self.up),
                ("last_success_timestamp_seconds", {}, self.last_success),
                ("requests_total", {}, self.requests),
                ("session_renewals_total", {}, self.renewals),
            ]
            out += [("collection_duration_seconds", {"source": s}, d) for s, d in sorted(self.durations.items())]
            out += [("errors_total", {"kind": k}, n) for k, n in sorted(self.errors.items())]
        out.append(("series", {}, self.series_count()))
        return out


QUOTA_COLLECTOR_METRIC = "isilon_quota_collector_last_success_timestamp_seconds"


def render_self_metrics(states):
    """Prometheus text of the self-metrics of ``states`` (one family header per metric), plus goquotas'
    ``isilon_quota_collector_last_success_timestamp_seconds`` for clusters whose quotas are collected
    (Dell's quota dashboards read it)."""
    rows = {}
    for state in states:
        for metric, labels, value in state.self_values():
            rows.setdefault(metric, []).append((dict(labels, cluster=state.name), value))
    lines = []
    for metric, (kind, help_text, _labels) in SELF_METRICS.items():
        if metric not in rows:
            continue
        name = SELF_PREFIX + metric
        lines.extend(prom_family_header(name, kind, help_text))
        lines.extend(name + prom_labels(labels) + " " + prom_number(value) for labels, value in rows[metric])
    quota_rows = [state.quotas_success for state in states if state.quotas_success]
    if quota_rows:
        lines.extend(prom_family_header(QUOTA_COLLECTOR_METRIC, "gauge", "Unix time of the last quota collection"))
        lines.extend(f"{QUOTA_COLLECTOR_METRIC}{prom_labels({'cluster': n})} {prom_number(t)}" for n, t in quota_rows)
    return "\n".join(lines) + "\n" if lines else ""


class MergedRender:
    """The OneFS series of several clusters as one text (families merged), rendered again only when
    one of the clusters' samples changed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key = None
        self._text = ""
        self._names = PrometheusNames()

    def render(self, states, timestamps=True):
        with self._lock:  # concurrent scrapes: one renders, the others wait for its text
            key = (timestamps, tuple((id(state), state.current_version()) for state in states))
            if key != self._key:
                descriptions = {k: v for state in states for k, v in state.descriptions.items()}
                frames = [f for state in states for f in state.frames()]
                self._text = frames_to_prometheus(frames, descriptions, timestamps, self._names)
                self._key = key
            return self._text


def render_clusters(states, timestamps=True, merged=None):
    """The /metrics text for ``states``: OneFS series (families merged across clusters) + self-metrics.

    ``merged`` (a :class:`MergedRender`) keeps the multi-cluster text between scrapes."""
    if len(states) == 1:
        return states[0].render(timestamps) + render_self_metrics(states)
    return (merged or MergedRender()).render(states, timestamps) + render_self_metrics(states)
