# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One collection over selected containers: cgroup-direct fast path, engine API as fallback.

Used by the module (on the container host), the lookup (on the controller) and the exporter.
"""

from __future__ import annotations

import time

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse, cgroup_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import METRIC_GROUPS, CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    ContainerGone,
    ContainerStatsError,
    EngineApiError,
    UnknownContainer,
)
from ansible_collections.quadstats.stack.plugins.module_utils.containers.formulas import rates

SOURCES = ("auto", "cgroup", "api")


class NotOwnCgroup(ContainerStatsError):
    """The container's process is not in a cgroup of its own; only the engine API can tell."""


class StatsUnavailable(ContainerStatsError):
    """The engine refused the statistics of a running container (e.g. rootless on cgroup v1)."""


ALL_METRICS = (*METRIC_GROUPS, "state")
_PREFIXES = {"cpu": "cpu_", "memory": "memory_", "network": "net_", "blkio": "blkio_", "pids": "pids_"}


def check_metrics(metrics):
    """Validate a metric subset; raises with the allowed names."""
    metrics = list(metrics) if metrics else list(ALL_METRICS)
    bad = [m for m in metrics if m not in ALL_METRICS]
    if bad:
        raise ContainerStatsError(
            "unknown metric group(s) {}; choose from {}".format(", ".join(bad), ", ".join(ALL_METRICS))
        )
    return metrics


def keep_groups(values, metrics):
    """Only the fields of the requested metric groups."""
    prefixes = tuple(_PREFIXES[m] for m in metrics if m in _PREFIXES)
    return {k: v for k, v in values.items() if k.startswith(prefixes)}


def select(engine, running, containers=None, labels=None):
    """Pick the refs to sample. Names/ids not running are looked up: unknown ones raise
    UnknownContainer naming all of them; existing but stopped ones come back in ``not_running``."""
    chosen = running
    not_running = []
    if containers:
        by_key = {}
        for ref in running:
            by_key[ref["id"]] = ref
            if ref.get("name"):
                by_key[ref["name"]] = ref
        chosen = []
        unknown = []
        for wanted in containers:
            ref = by_key.get(wanted)
            if ref is None and len(wanted) >= 4:
                matches = [r for r in running if r["id"].startswith(wanted)]
                ref = matches[0] if len(matches) == 1 else None
            if ref is None:
                try:
                    found = engine.inspect(wanted)
                except UnknownContainer:
                    unknown.append(wanted)
                    continue
                not_running.append(found)
                continue
            if ref not in chosen:
                chosen.append(ref)
        if unknown:
            raise UnknownContainer(unknown)
    if labels:
        chosen = [ref for ref in chosen if api_parse.matches_labels(ref, labels)]
    return chosen, not_running


class Collector:
    """Samples containers of one engine. ``source``: auto (cgroup when readable, else API),
    cgroup (fail per container when not readable), api."""

    def __init__(self, engine, source="auto", metrics=None, mounts=(), reader=None):
        if source not in SOURCES:
            raise ContainerStatsError("source must be one of {} (got {!r})".format(", ".join(SOURCES), source))
        self.engine = engine
        self.source = source
        self.metrics = check_metrics(metrics)
        self.stat_groups = tuple(m for m in self.metrics if m in METRIC_GROUPS)
        self.mounts = list(mounts or ())
        self.reader = reader
        if self.reader is None and source != "api" and getattr(engine, "local", False):
            self.reader = CgroupReader()
        if source == "cgroup" and (self.reader is None or not self.reader.available()):
            raise ContainerStatsError("source=cgroup needs a local engine and a mounted cgroup filesystem")
        self._locations = {}

    def _base(self, ref, source):
        return {
            "id": ref["id"],
            "name": ref.get("name"),
            "image": ref.get("image"),
            "pid": ref.get("pid"),
            "labels": api_parse.series_labels(ref),
            "source": source,
            "state": "running",
            "timestamp_ns": time.time_ns(),
            "mono_ns": time.monotonic_ns(),
        }

    def _pid(self, ref):
        if not ref.get("pid"):
            found = self.engine.inspect(ref["id"])
            if not found.get("pid"):
                raise ContainerGone(ref.get("name") or ref["id"], "not running (state {})".format(found.get("state")))
            ref["pid"] = found["pid"]
        return ref["pid"]

    def _cgroup_sample(self, ref):
        pid = self._pid(ref)
        location = self._locations.get(ref["id"])
        if location is None or location.get("pid") != pid:
            location = self.reader.locate(pid)
            if ref["id"] not in location["path"]:
                # e.g. rootless podman on cgroup v1 or --cgroups=disabled: the process sits in a
                # cgroup shared with other processes, whose numbers are not the container's.
                name = ref.get("name") or ref["id"]
                raise NotOwnCgroup(f"container {name} has no cgroup of its own (its process is in {location['path']})")
            location["pid"] = pid
            self._locations[ref["id"]] = location
        sample = self._base(ref, "cgroup-v" + str(location["version"]))
        counters, gauges = self.reader.read(pid, self.stat_groups, location)[:2]
        sample["counters"] = counters
        sample["gauges"] = gauges
        sample["cgroup_path"] = location["path"]
        unit = cgroup_parse.unit_from_cgroup_path(location["path"])
        if unit and "unit" not in sample["labels"]:
            sample["labels"]["unit"] = unit
        if self.mounts:
            sample["disk"] = self.reader.disk_usage(pid, self.mounts)
        return sample

    def _api_samples(self, refs):
        out = {}
        if not refs:
            return out
        if self.engine.kind == "podman" and self.engine.local:
            try:
                entries = self.engine.libpod_stats([r["id"] for r in refs])
            except EngineApiError as exc:
                for ref in refs:
                    out[ref["id"]] = StatsUnavailable(f"{ref.get('name') or ref['id']}: {exc}")
                return out
            for ref in refs:
                entry = entries.get(ref["id"])
                if entry is None:
                    out[ref["id"]] = ContainerGone(ref.get("name") or ref["id"], "not running any more")
                    continue
                out[ref["id"]] = self._api_sample(ref, "api-libpod", api_parse.values_from_libpod_stats(entry))
            return out
        for ref in refs:
            try:
                payload = self.engine.compat_stats(ref["id"])
            except ContainerGone as exc:
                out[ref["id"]] = exc
                continue
            except EngineApiError as exc:
                out[ref["id"]] = StatsUnavailable(f"{ref.get('name') or ref['id']}: {exc}")
                continue
            out[ref["id"]] = self._api_sample(ref, "api-compat", api_parse.values_from_compat_stats(payload))
        return out

    def _api_sample(self, ref, source, values):
        """A sample from an engine API's (counters, gauges), limited to the requested groups."""
        counters, gauges = values
        sample = self._base(ref, source)
        sample["counters"] = keep_groups(counters, self.stat_groups)
        sample["gauges"] = keep_groups(gauges, self.stat_groups)
        return sample

    def sample(self, refs):
        """One sample per ref: {id: sample dict, ContainerGone or StatsUnavailable}."""
        out = {}
        api_refs = []
        for ref in refs:
            if self.reader is None or self.source == "api":
                api_refs.append(ref)
                continue
            try:
                out[ref["id"]] = self._cgroup_sample(ref)
            except ContainerGone as exc:
                out[ref["id"]] = exc
            except (PermissionError, NotOwnCgroup):
                if self.source == "cgroup":
                    raise
                api_refs.append(ref)
        out.update(self._api_samples(api_refs))
        if "state" in self.metrics:
            for ref in refs:
                sample = out.get(ref["id"])
                if isinstance(sample, dict):
                    self._add_state(ref, sample)
        return out

    def _add_state(self, ref, sample):
        if ref.get("restart_count") is None:
            try:
                found = self.engine.inspect(ref["id"])
            except UnknownContainer:
                return
            for key in ("restart_count", "oom_killed", "started_at"):
                ref[key] = found.get(key)
        sample["gauges"]["restart_count"] = ref.get("restart_count")
        sample["oom_killed"] = ref.get("oom_killed")
        sample["started_at"] = ref.get("started_at")

    def collect(self, containers=None, labels=None, sample_seconds=0, sleep=time.sleep):
        """Discover, sample (twice with rates when ``sample_seconds`` > 0) and shape the result."""
        running = self.engine.list_running()
        refs, not_running = select(self.engine, running, containers, labels)
        first = self.sample(refs)
        second = None
        if sample_seconds and sample_seconds > 0:
            sleep(sample_seconds)
            alive = [r for r in refs if isinstance(first.get(r["id"]), dict)]
            second = self.sample(alive)
        results = []
        gone = []
        for ref in refs:
            one = first.get(ref["id"])
            two = second.get(ref["id"]) if second is not None else None
            if isinstance(one, ContainerGone) or isinstance(two, ContainerGone):
                reason = str(one if isinstance(one, ContainerGone) else two)
                entry = one if isinstance(one, dict) else self._base(ref, "none")
                entry = dict(entry, state="gone", reason=reason, rates={})
                entry.setdefault("counters", {})
                entry.setdefault("gauges", {})
                gone.append(ref.get("name") or ref["id"])
                results.append(entry)
                continue
            if isinstance(one, StatsUnavailable) or isinstance(two, StatsUnavailable):
                reason = str(one if isinstance(one, StatsUnavailable) else two)
                entry = one if isinstance(one, dict) else self._base(ref, "none")
                entry = dict(entry, reason=reason, rates={})
                entry.setdefault("counters", {})
                entry.setdefault("gauges", {})
                results.append(entry)
                continue
            if second is not None:
                two["rates"] = rates(one, two)
                results.append(two)
            else:
                one["rates"] = {}
                results.append(one)
        for ref in not_running:
            entry = self._base(ref, "none")
            entry.update(state=ref.get("state") or "stopped", reason="not running", counters={}, gauges={}, rates={})
            gone.append(ref.get("name") or ref["id"])
            results.append(entry)
        return {"containers": results, "gone": gone}
