# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One collection over selected containers: cgroup-direct fast path, engine API as fallback.

Used by the module (on the container host), the lookup (on the controller) and, next, the exporter
daemon. A collection costs one list request (podman's list carries state, PID and start time) plus
file reads; the only per-container requests are Docker's inspects (its list has no PID) and the
compat stats of the API path on Docker.
"""

from __future__ import annotations

import logging
import time

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse, cgroup_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import METRIC_GROUPS, CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    ContainerError,
    ContainerGone,
    InvalidOption,
    NotOwnCgroup,
    StatsUnavailable,
    UnknownContainer,
)
from ansible_collections.quadstats.stack.plugins.module_utils.containers.formulas import rates
from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_GONE, KIND_PERMISSION, error_dict

SOURCES = ("auto", "cgroup", "api")
ALL_METRICS = (*METRIC_GROUPS, "state")
_PREFIXES = {"cpu": "cpu_", "memory": "memory_", "network": "net_", "blkio": "blkio_", "pids": "pids_"}
# What the "state" group adds to a running container's sample, from the engine's list (or inspect).
STATE_FIELDS = ("restart_count", "oom_killed", "started_at")

log = logging.getLogger("quadstats.containers")


def check_metrics(metrics):
    """Validate a metric subset; raises with the allowed names."""
    metrics = list(metrics) if metrics else list(ALL_METRICS)
    bad = [m for m in metrics if m not in ALL_METRICS]
    if bad:
        raise InvalidOption(
            "metrics", "unknown metric group(s) {}; choose from {}".format(", ".join(bad), ", ".join(ALL_METRICS))
        )
    return metrics


def check_sample_seconds(value):
    """``sample_seconds`` as a number >= 0."""
    try:
        seconds = float(value or 0)
    except (TypeError, ValueError):
        raise InvalidOption("sample_seconds", f"must be a number of seconds, 0 or more (got {value!r})") from None
    if seconds < 0:
        raise InvalidOption("sample_seconds", f"must be 0 or more (got {value!r})")
    return seconds


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


def _label(ref):
    return ref.get("name") or ref["id"]


class ContainerSampler:
    """Samples the containers of one engine. ``source``: auto (cgroup when readable, else API),
    cgroup (fail when a container's cgroup is not readable), api.

    Keeps one cache, the cgroup location of each container (checked against its PID); entries of
    containers that are no longer running are dropped at every :meth:`collect`.
    """

    def __init__(self, engine, source="auto", metrics=None, mounts=(), reader=None):
        if source not in SOURCES:
            raise InvalidOption("source", "must be one of {} (got {!r})".format(", ".join(SOURCES), source))
        self.engine = engine
        self.source = source
        self.metrics = check_metrics(metrics)
        self.stat_groups = tuple(m for m in self.metrics if m in METRIC_GROUPS)
        self.mounts = list(mounts or ())
        self.reader = reader
        if self.reader is None and source != "api" and engine.local:
            self.reader = CgroupReader()
        if source == "cgroup" and (self.reader is None or not self.reader.available()):
            raise InvalidOption("source", "cgroup needs a local engine and a mounted cgroup filesystem")
        self._locations = {}

    def cache_sizes(self):
        """Entries per cache (for daemons and tests: they must not grow with container churn)."""
        return {
            "cgroup_locations": len(self._locations),
            "open_files": self.reader.open_files() if self.reader is not None else 0,
        }

    def prune(self, running_ids):
        """Forget the cgroup locations of containers not in ``running_ids``."""
        keep = set(running_ids)
        for ident in [i for i in self._locations if i not in keep]:
            self._forget_location(ident)
            log.debug("forgot the cgroup location of container %s (no longer running)", ident)

    def _forget_location(self, ident):
        location = self._locations.pop(ident, None)
        if location is not None and self.reader is not None:
            self.reader.release(location)  # the files a long-running reader kept open for it

    def _base(self, ref, source):
        return {
            "id": ref["id"],
            "name": ref.get("name"),
            "image": ref.get("image"),
            "pid": ref.get("pid"),
            "labels": api_parse.series_labels(ref),
            "source": source,
            "state": "running",
            "timestamp": time.time(),
        }

    def _pid(self, ref):
        if not ref.get("pid"):
            # Docker's list has no PID: one inspect, which also carries the state fields.
            try:
                found = self.engine.inspect(ref["id"])
            except UnknownContainer:
                raise ContainerGone(_label(ref), "removed after it was listed") from None
            if not found.get("pid"):
                raise ContainerGone(_label(ref), "not running (state {})".format(found.get("state")))
            ref["pid"] = found["pid"]
            for key in STATE_FIELDS:
                ref[key] = found.get(key)
        return ref["pid"]

    def _cgroup_sample(self, ref):
        pid = self._pid(ref)
        location = self._locations.get(ref["id"])
        if location is None or location.get("pid") != pid:
            self._forget_location(ref["id"])
            location = self.reader.locate(pid)
            if ref["id"] not in location["path"]:
                # e.g. rootless podman on cgroup v1 or --cgroups=disabled: the process sits in a
                # cgroup shared with other processes, whose numbers are not the container's.
                path = location["path"]
                raise NotOwnCgroup(f"container {_label(ref)} has no cgroup of its own (its process is in {path})")
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
        swapped = self.engine.network_swapped
        if self.engine.stats_api == "libpod":
            try:
                entries = self.engine.libpod_stats([r["id"] for r in refs])
            except ContainerError as exc:
                return {ref["id"]: StatsUnavailable(f"{_label(ref)}: {exc}") for ref in refs}
            for ref in refs:
                entry = entries.get(ref["id"])
                if entry is None:
                    out[ref["id"]] = ContainerGone(_label(ref), "not running any more")
                    continue
                values = api_parse.values_from_libpod_stats(entry, swapped)
                out[ref["id"]] = self._api_sample(ref, "api-libpod", values)
            return out
        for ref in refs:
            try:
                payload = self.engine.compat_stats(ref["id"])
            except ContainerGone as exc:
                out[ref["id"]] = exc
                continue
            except ContainerError as exc:
                out[ref["id"]] = StatsUnavailable(f"{_label(ref)}: {exc}")
                continue
            values = api_parse.values_from_compat_stats(payload, swapped)
            out[ref["id"]] = self._api_sample(ref, "api-compat", values)
        return out

    def _api_sample(self, ref, source, values):
        """A sample from an engine API's (counters, gauges), limited to the requested groups."""
        counters, gauges = values
        sample = self._base(ref, source)
        sample["counters"] = keep_groups(counters, self.stat_groups)
        sample["gauges"] = keep_groups(gauges, self.stat_groups)
        return sample

    def read(self, refs):
        """Read once: ({id: sample or ContainerGone/StatsUnavailable}, {id: monotonic ns of the read});
        rates between two reads are ``formulas.rates(counters, counters, ns between the reads)``."""
        out = {}
        mono = {}
        api_refs = []
        for ref in refs:
            if self.reader is None or self.source == "api":
                api_refs.append(ref)
                continue
            try:
                out[ref["id"]] = self._cgroup_sample(ref)
                mono[ref["id"]] = time.monotonic_ns()
            except ContainerGone as exc:
                out[ref["id"]] = exc
                self._forget_location(ref["id"])
            except (PermissionError, NotOwnCgroup) as exc:
                if self.source == "cgroup" and isinstance(exc, PermissionError):
                    raise ContainerError(
                        f"container {_label(ref)}: {exc}; read cgroups as the engine's user (become_user) "
                        "or use source=auto to fall back to the engine API",
                        kind=KIND_PERMISSION,
                    ) from None
                if self.source == "cgroup":
                    raise
                log.debug("container %s: cgroup not readable (%s); asking the engine API", _label(ref), exc)
                api_refs.append(ref)
        if api_refs:
            out.update(self._api_samples(api_refs))
            now = time.monotonic_ns()
            mono.update((ref["id"], now) for ref in api_refs)
        if "state" in self.metrics:
            for ref in refs:
                sample = out.get(ref["id"])
                if isinstance(sample, dict):
                    self._add_state(ref, sample)
        return out, mono

    def sample(self, refs):
        """One sample per ref: {id: sample dict, ContainerGone or StatsUnavailable}."""
        return self.read(refs)[0]

    def _add_state(self, ref, sample):
        if "restart_count" not in ref:
            # A Docker compat list entry read through the API path: its list has no state details.
            try:
                found = self.engine.inspect(ref["id"])
            except UnknownContainer:
                found = {}
            for key in STATE_FIELDS:
                ref[key] = found.get(key)
        sample["gauges"]["restart_count"] = ref.get("restart_count")
        sample["oom_killed"] = ref.get("oom_killed")
        sample["started_at"] = ref.get("started_at")

    def collect(self, containers=None, labels=None, sample_seconds=0, sleep=time.sleep):
        """Discover, sample (twice with rates when ``sample_seconds`` > 0): a list of samples."""
        sample_seconds = check_sample_seconds(sample_seconds)
        running = self.engine.list_running()
        self.prune(ref["id"] for ref in running)
        refs, not_running = select(self.engine, running, containers, labels)
        first, mono_first = self.read(refs)
        second = mono_second = None
        if sample_seconds > 0:
            sleep(sample_seconds)
            second, mono_second = self.read([r for r in refs if isinstance(first.get(r["id"]), dict)])
        results = []
        for ref in refs:
            ident = ref["id"]
            one = first.get(ident)
            two = second.get(ident) if second is not None else None
            failure = next((s for s in (one, two) if isinstance(s, ContainerError)), None)
            if failure is not None:
                entry = dict(one if isinstance(one, dict) else self._base(ref, "none"), rates={})
                entry["error"] = failure.to_dict()
                if failure.kind == KIND_GONE:
                    entry["state"] = "gone"
                entry.setdefault("counters", {})
                entry.setdefault("gauges", {})
                results.append(entry)
            elif two is not None:
                two["rates"] = rates(one["counters"], two["counters"], mono_second[ident] - mono_first[ident])
                results.append(two)
            else:
                one["rates"] = {}
                results.append(one)
        for ref in not_running:
            entry = self._base(ref, "none")
            state = ref.get("state") or "stopped"
            entry.update(state=state, counters={}, gauges={}, rates={})
            entry["error"] = error_dict(KIND_GONE, f"container {_label(ref)}: not running (state {state})")
            results.append(entry)
        return results


def gone_names(samples):
    """Names (or ids) of the sampled containers that were not running or went away."""
    return [s.get("name") or s["id"] for s in samples if s.get("state") != "running"]
