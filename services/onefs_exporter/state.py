# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the exporter knows per cluster: the last good samples of each source until they expire,
and the self-metrics (up, last success, durations, requests, errors by kind, session renewals).

Thread-safe: the cluster's poller writes, the HTTP listeners read. Values are kept as the core's
frames (``samples.RowDecoder``: one tuple per decoded item, not one dict per value). The poller stores
each reading of stat keys whole (:meth:`ClusterState.put_reading`), its frames deferred (a healthy
reading is one block frame of checked columns, not decoded): they are decoded here when something
reads the values (a render, the series count), once per change, so polls nobody reads between cost
no decoding. Rendering uses the core's encoder (``exposition.frames_to_prometheus``)
and caches the text until something changes.
"""

from __future__ import annotations

import threading
import time
from itertools import repeat
from operator import eq

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import (
    PrometheusNames,
    frames_to_prometheus,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import RowDecoder, frame_keys
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
        self._sources = {}  # source -> (frames, expires_at on clock, the stat keys it holds or None: all)
        self._holder = {}  # stat key -> the reading (a source numbered by put_reading) holding its values
        self._split = set()  # readings a later reading took some (not all) of their keys from
        self._readings = 0
        self._next_expiry = float("inf")
        self._rendered = {}  # timestamps flag -> text
        self._decoder = RowDecoder()  # decodes deferred frames (under the lock: not thread-safe)
        self._live = None  # the decoded frames of every live source, until a put or an expiry
        self._names = PrometheusNames()  # metric names and label sets between renders
        self.version = 0  # changes whenever the live samples change (a put or an expiry)
        self.descriptions = dict(FIXED_DESCRIPTIONS)  # sample name -> HELP text
        self._described = set()  # stat keys whose metadata was looked at
        self._described_metas = None  # the last metadata dict looked at whole (the client reuses it)
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
        expiries = [now + lifetime for lifetime in map(lifetime_of, source_frames)]
        with self._lock:
            self._sources.update(
                zip(source_frames, zip(source_frames.values(), expiries, repeat(None), strict=False), strict=True)
            )
            self._next_expiry = min(self._next_expiry, *expiries) if expiries else self._next_expiry
            self._changed()

    def put_reading(self, frames, keys, lifetime):
        """Store one reading of stat keys as one entry: ``frames`` (deferred ones as they are), of which
        the values of ``keys`` (a dict) are served for ``lifetime`` seconds. An earlier reading's values
        of these keys are no longer served; the earlier reading is dropped once it holds no key."""
        expires = self.clock() + lifetime
        with self._lock:
            holder = self._holder
            old = holder.get(next(iter(keys), None))
            entry = self._sources.get(old) if old is not None else None
            if entry is not None and (
                (entry[2] is keys and old not in self._split)  # the decoder's keys dict of the same rows
                or (len(entry[2]) == len(keys) and all(map(eq, map(holder.get, keys), repeat(old))))
            ):
                # The keys of the reading this one replaces (every poll of a group): its entry, new values.
                self._sources[old] = (frames, expires, keys)
                self._split.discard(old)  # it holds every one of its keys again
                self._next_expiry = min(self._next_expiry, expires)
                self._changed()
                return
            self._readings += 1
            source = self._readings
            earlier = set(map(holder.get, keys))
            self._sources[source] = (frames, expires, keys)
            holder.update(dict.fromkeys(keys, source))
            for old in earlier:
                entry = self._sources.get(old)
                if entry is None:
                    continue
                # Usually the new reading has every key of the earlier one: it holds none any more.
                if entry[2].keys() <= keys.keys() or not any(map(eq, map(holder.get, entry[2]), repeat(old))):
                    del self._sources[old]
                    self._split.discard(old)
                else:
                    self._split.add(old)
            self._next_expiry = min(self._next_expiry, expires)
            self._changed()

    def _changed(self):
        self._rendered = {}
        self._live = None
        self.version += 1

    def _expire(self):
        now = self.clock()
        if now < self._next_expiry:
            return
        live = {}
        for source, entry in self._sources.items():
            if entry[1] > now:
                live[source] = entry
            elif entry[2] is not None:
                self._split.discard(source)
                for key in entry[2]:
                    if self._holder.get(key) == source:
                        del self._holder[key]
        self._sources = live
        self._next_expiry = min((v[1] for v in live.values()), default=float("inf"))
        self._changed()

    def _held_frames(self, source, frames, keys):
        """``frames`` of a reading, decoded, without those of keys a later reading holds now."""
        holder = self._holder
        if keys is None:
            return self._decoder.expand(frames)
        if all(map(eq, map(holder.get, keys), repeat(source))) and len(keys) == len(frame_keys(frames)):
            return self._decoder.expand(frames)
        held = {key for key in keys if holder.get(key) == source}
        return [frame for frame in self._decoder.expand(frames) if frame[0] in held]

    def _live_frames(self):
        """Every live source's frames, deferred ones decoded (call with the lock held)."""
        self._expire()
        if self._live is None:
            live = []
            for source, (frames, _expires, keys) in self._sources.items():
                live.extend(self._held_frames(source, frames, keys))
            self._live = live
        return self._live

    def current_version(self):
        """:attr:`version` after dropping what expired."""
        with self._lock:
            self._expire()
            return self.version

    def frames(self):
        with self._lock:
            return list(self._live_frames())

    def series_count(self):
        with self._lock:
            return sum(len(frame[3]) for frame in self._live_frames())

    def render(self, timestamps=True):
        """Prometheus text of this cluster's live samples (cached until a put or an expiry)."""
        with self._lock:
            frames = self._live_frames()
            text = self._rendered.get(timestamps)
            if text is None:
                text = frames_to_prometheus(frames, self.descriptions, timestamps, self._names)
                self._rendered[timestamps] = text
            return text

    # ------------------------------------------------------------ self-metrics
    def describe(self, metas):
        """Keep the metadata descriptions of stat keys for the HELP lines."""
        if metas is self._described_metas or self._described.issuperset(metas):  # every poll after the first
            self._described_metas = metas
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
