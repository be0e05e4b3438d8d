# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container exporter daemon: discovery by events, collection on the containers core, sinks.

Threads: the main one collects every ``collection.interval`` for the push sinks and handles
signals; a discovery thread lists the running containers, then follows the engine's events
(reopening with backoff and listing again after every fault, so nothing is missed or kept); the
HTTP listener serves ``/metrics`` and the REST API (a scrape collects first when the last collection
is older than ``collection.scrape_max_age``); every push sink sends from its own thread. One lock
guards the engine's keep-alive connection, the sampler and the current samples.
"""

from __future__ import annotations

import collections
import http.client
import logging
import os
import resource
import threading
import time

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine as engine_mod
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.discovery import RunningSet
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import ContainerError, UnknownContainer
from ansible_collections.quadstats.stack.plugins.module_utils.containers.formulas import rates, statvfs_usage
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler
from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_UNKNOWN, KIND_UNREACHABLE
from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.container_exporter import prometheus
from ansible_collections.quadstats.stack.services.container_exporter.settings import push_sinks_enabled
from ansible_collections.quadstats.stack.services.container_exporter.sinks import build_sinks

log = logging.getLogger("quadstats.exporter.containers")

# Events that change what the exporter follows or reports; others are counted as "other".
WATCHED_ACTIONS = ("start", "die", "stop", "kill", "destroy", "rename", "oom", "health_status")
DURATION_WINDOW = 200
HEALTH_RECHECK_SECONDS = 1.0
# Faults of the engine connection that the discovery thread survives (and retries after).
ENGINE_FAULTS = (ContainerError, OSError, ValueError, http.client.HTTPException)


def open_file_budget(reserve=256, wanted=65536):
    """How many cgroup files the reader may keep open: the soft RLIMIT_NOFILE raised towards the
    hard limit (as far as ``wanted``), less ``reserve`` for sockets, the engine and the sinks."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.info("open files limit stays %s (%s): cgroup files beyond it are opened per read", soft, exc)
    if soft == resource.RLIM_INFINITY:
        soft = wanted
    return max(0, soft - reserve)


def host_disk_usage(mounts):
    """statvfs of host paths (mini-collector's disk figure) with the core's formula."""
    out = {}
    for mount in mounts:
        try:
            st = os.statvfs(mount)
        except OSError as exc:
            log.warning("disk.mounts: %s cannot be read: %s", mount, exc.strerror or exc)
            continue
        out[mount] = statvfs_usage(st.f_blocks, st.f_bavail, st.f_bfree, st.f_frsize)
    return out


def unreadable_sample(ref, error):
    """A running container whose figures could not be read (e.g. ``unavailable``): it is still there."""
    return {
        "id": ref["id"],
        "name": ref.get("name"),
        "image": ref.get("image"),
        "labels": api_parse.series_labels(ref),
        "source": "none",
        "state": "running",
        "timestamp": time.time(),
        "counters": {},
        "gauges": {},
        "rates": {},
        "error": error.to_dict(),
    }


class Daemon:
    """One exporter: ``start()``, then ``run()`` until :meth:`stop`; :meth:`reload` applies new settings."""

    def __init__(self, cfg, connect=engine_mod.connect):
        self.cfg = cfg
        self._connect = connect
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self.engine = None
        self.sampler = None
        self.running = RunningSet()
        self.samples = {}  # id -> newest sample (running containers only)
        self.health = {}  # id -> health check status
        self._previous = {}  # id -> (counters, monotonic ns) for rates
        self.last_collection = None  # monotonic seconds of the last full collection
        self.disk = {}
        self.sinks = []
        self.engine_up = 0
        self.events = collections.Counter()
        self.read_errors = collections.Counter()
        self.containers_seen = 0
        self.reconnects = 0
        self.durations = collections.deque(maxlen=DURATION_WINDOW)
        self.cpu_durations = collections.deque(maxlen=DURATION_WINDOW)
        self.duration_sum = 0.0
        self.cpu_sum = 0.0
        self.collections = 0
        self._discovery = None
        self._pending_cfg = None

    # ---- life cycle -------------------------------------------------------------------------

    def start(self):
        self.sinks = [sink.start() for sink in build_sinks(self.cfg)]
        self._discovery = threading.Thread(target=self._discover_forever, name="discovery", daemon=True)
        self._discovery.start()
        return self

    def run(self):
        """Collect for the push sinks every interval until stopped (returns at once without them)."""
        while not self.stopping.is_set():
            pending, self._pending_cfg = self._pending_cfg, None
            if pending is not None:
                try:
                    self.reload(pending)
                except (ConfigError, *ENGINE_FAULTS) as exc:
                    log.error("reload: %s", exc)
            interval = self.cfg["collection"]["interval"]
            if push_sinks_enabled(self.cfg) and self.engine is not None:
                started = time.monotonic()
                self.collect(push=True)
                wait = max(0.0, interval - (time.monotonic() - started))
            else:
                wait = interval
            self._wake.wait(wait)
            self._wake.clear()

    def stop(self):
        self.stopping.set()
        self._wake.set()

    def request_reload(self, cfg):
        """From a signal handler: :meth:`run` applies ``cfg`` next (never inside a collection)."""
        self._pending_cfg = cfg
        self._wake.set()

    def close(self):
        """After :meth:`run` returned: flush the sinks (bounded) and release the engine."""
        for sink in self.sinks:
            sink.stop(self.cfg["buffer"]["flush_seconds"])
        with self.lock:
            self._close_reader()
            if self.engine is not None:
                self.engine.close()  # also ends a podman events process

    def reload(self, cfg):
        """Apply new settings; engine settings need a restart (the events stream is bound to them)."""
        if cfg["engine"] != self.cfg["engine"]:
            log.warning("engine settings changed: restart the exporter to apply them; other settings applied")
            cfg = {**cfg, "engine": self.cfg["engine"]}
        new_sinks = build_sinks(cfg)  # reads the secret files: a wrong one keeps everything as it was
        old_sinks = self.sinks
        with self.lock:
            sampler_changed = cfg["collection"] != self.cfg["collection"] or cfg["discovery"] != self.cfg["discovery"]
            self.cfg = cfg
            if sampler_changed and self.engine is not None:
                self._new_sampler()
                self._resync(self.engine.list_running())
        for sink in old_sinks:
            sink.stop(cfg["buffer"]["flush_seconds"])
        self.sinks = [sink.start() for sink in new_sinks]
        log.info("settings reloaded")

    # ---- discovery --------------------------------------------------------------------------

    def _new_sampler(self):
        coll = self.cfg["collection"]
        self._close_reader()
        reader = None
        if coll["source"] != "api" and self.engine.local:
            # A daemon reads the same files every collection: keep them open (pread from offset 0).
            reader = CgroupReader(keep_open=open_file_budget())
        self.sampler = ContainerSampler(
            self.engine, source=coll["source"], metrics=coll["metrics"], mounts=coll["container_mounts"], reader=reader
        )
        self._previous.clear()

    def _close_reader(self):
        if self.sampler is not None and self.sampler.reader is not None:
            self.sampler.reader.close()

    def _wanted(self, ref):
        return api_parse.matches_labels(ref, self.cfg["discovery"]["labels"])

    def _resync(self, refs):
        """Replace the running set by a fresh list (keeping what is known of containers still there)."""
        fresh = RunningSet(ref for ref in refs if self._wanted(ref))
        for ident, ref in fresh.by_id.items():
            old = self.running.by_id.get(ident)
            if old is None:
                self.containers_seen += 1
            elif ref.get("restart_count") is None and old.get("restart_count") is not None:
                ref["restart_count"] = old["restart_count"]
        self.running = fresh
        self._forget_gone()
        for ref in fresh.refs():
            listed, known = ref.get("health"), self.health.get(ref["id"])
            if listed and known is None:
                self.health[ref["id"]] = listed
            elif listed and listed != known:
                # podman 4.3's list can lag behind the status inspect gave after a health_status
                # event: ask inspect, the authority, instead of letting an older status win.
                self._refresh_state(ref)
        unread = [ref for ref in fresh.refs() if ref["id"] not in self.samples]
        if unread and self.sampler is not None:
            self._read(unread)  # found by the list (start, reconnect): reported at once

    def _forget_gone(self):
        keep = self.running.by_id
        for store in (self.samples, self.health, self._previous):
            for ident in [i for i in store if i not in keep]:
                del store[ident]
        if self.sampler is not None:
            self.sampler.prune(keep)

    def _connect_engine(self):
        engine_cfg = self.cfg["engine"]
        found = self._connect(
            engine=engine_cfg["kind"],
            sock=engine_cfg["socket"],
            timeout=engine_cfg["timeout"],
            podman_command=engine_cfg["podman_command"],
        )
        info = found.describe()
        log.info(
            "%s %s reached through %s (%s, rootless %s)",
            info["kind"],
            info["version"],
            info["found_by"],
            info["endpoint"],
            info["rootless"],
        )
        with self.lock:
            self.engine = found
            self._new_sampler()

    def _discover_forever(self):
        backoff = 0.0
        first = True
        while not self.stopping.is_set():
            try:
                if self.engine is None:
                    self._connect_engine()
                since = int(time.time())
                with self.lock:
                    self._resync(self.engine.list_running())
                    self.engine_up = 1
                if not first:
                    log.info("events stream reopened; %d running containers listed again", len(self.running.by_id))
                first = False
                opened = time.monotonic()
                for event in self.engine.events(since=since, timeout=self.cfg["discovery"]["resync_seconds"]):
                    if self.stopping.is_set():
                        return
                    self.on_event(event)
                # The stream ended: idle for resync_seconds, or the engine closed it (restarted).
                if time.monotonic() - opened < 1:
                    raise ContainerError("the engine closed the events stream at once", kind=KIND_UNREACHABLE)
                backoff = 0.0
            except ENGINE_FAULTS as exc:
                if self.stopping.is_set():
                    return
                self.engine_up = 0
                self.reconnects += 1
                backoff = min(self.cfg["discovery"]["backoff_max_seconds"], backoff * 2 if backoff else 1.0)
                kind = getattr(exc, "kind", KIND_UNKNOWN)
                log.warning("container engine: %s (%s); retrying in %g s", exc, kind, backoff)
                self.stopping.wait(backoff)

    def on_event(self, event):
        """Apply one normalised event: the change is visible in the next scrape at once."""
        action = event["action"]
        with self.lock:
            try:
                self._apply(event, action)
            finally:
                # Counted once applied: a scrape that sees the count sees the change.
                self.events[action if action in WATCHED_ACTIONS else "other"] += 1

    def _apply(self, event, action):
        if action not in WATCHED_ACTIONS:
            return
        known = event.get("id") in self.running.by_id
        change = self.running.apply(event)
        if change is not None:
            kind, ref = change
            if kind == "added":
                if not self._wanted(ref):
                    self.running.by_id.pop(ref["id"], None)
                    return
                if not known:  # a replayed start (events since the list's second) is no new container
                    self.containers_seen += 1
                self._read([ref])
            elif kind == "removed":
                self._forget_gone()
            elif kind == "renamed" and ref["id"] in self.samples:
                sample = self.samples[ref["id"]]
                sample["name"] = ref["name"]
                sample["labels"] = {**sample["labels"], "name": ref["name"]}
        if action in ("health_status", "oom") and event["id"] in self.running.by_id:
            self._refresh_state(self.running.by_id[event["id"]])
        if action == "oom" and event["id"] in self.running.by_id:
            # A process in the container was OOM-killed and the container runs on: read its counters
            # now, so the OOM-kill counter moves with the event, not at the next collection.
            self._read([self.running.by_id[event["id"]]])
        if action == "health_status" and not self.stopping.is_set():
            # podman 4.3 sends the event before it stores the new status: ask once more a moment later.
            later = threading.Timer(HEALTH_RECHECK_SECONDS, self._recheck_health, (event["id"],))
            later.daemon = True
            later.start()

    def _recheck_health(self, ident):
        with self.lock:
            ref = self.running.by_id.get(ident)
            if ref is not None and not self.stopping.is_set():
                self._refresh_state(ref)

    def _refresh_state(self, ref):
        """Health (the event carries no status on podman) and the OOM flag, from inspect."""
        try:
            found = self.engine.inspect(ref["id"])
        except UnknownContainer:
            return
        except ENGINE_FAULTS as exc:
            log.debug("inspect %s after an event: %s", ref.get("name"), exc)
            return
        if found.get("health"):
            self.health[ref["id"]] = found["health"]
        for key in ("restart_count", "oom_killed"):
            if found.get(key) is not None:
                ref[key] = found[key]

    # ---- collection -------------------------------------------------------------------------

    def _read(self, refs):
        """Read ``refs`` (lock held): new samples with rates; gone containers are forgotten."""
        results, mono = self.sampler.read(refs)
        for ident, read in results.items():
            ref = self.running.by_id.get(ident)
            result = read
            if isinstance(read, ContainerError):
                self.read_errors[read.kind] += 1
                if read.kind == "gone":
                    self.running.by_id.pop(ident, None)
                    continue
                if ref is not None:
                    result = unreadable_sample(ref, read)
            if ref is None:
                continue
            before = self._previous.get(ident)
            counters = result.get("counters") or {}
            if ident in mono:
                result["rates"] = rates(before[0], counters, mono[ident] - before[1]) if before else {}
                if counters:
                    self._previous[ident] = (counters, mono[ident])
            self.samples[ident] = result
        self._forget_gone()

    def collect(self, push=False):
        """One full collection of every followed container (and the host mounts); returns the samples."""
        with self.lock:
            if self.sampler is None:
                return []
            started = time.perf_counter()
            cpu_started = time.thread_time()
            try:
                self._read(self.running.refs())
            except ENGINE_FAULTS as exc:
                self.read_errors[getattr(exc, "kind", KIND_UNKNOWN)] += 1
                log.warning("collection failed: %s", exc)
            self.disk = host_disk_usage(self.cfg["disk"]["mounts"])
            elapsed = time.perf_counter() - started
            cpu = time.thread_time() - cpu_started
            self.durations.append(elapsed)
            self.cpu_durations.append(cpu)
            self.duration_sum += elapsed
            self.cpu_sum += cpu
            self.collections += 1
            self.last_collection = time.monotonic()
            samples = [self.samples[i] for i in sorted(self.samples)]
            extra = {"disk": dict(self.disk), "time": time.time()}
        if push:
            for sink in self.sinks:
                sink.offer(samples, extra)
        return samples

    def fresh_samples(self):
        """Samples no older than ``collection.scrape_max_age`` (collecting first when needed)."""
        max_age = self.cfg["collection"]["scrape_max_age"]
        if self.last_collection is None or time.monotonic() - self.last_collection >= max_age:
            return self.collect()
        with self.lock:
            return [self.samples[i] for i in sorted(self.samples)]

    # ---- views ------------------------------------------------------------------------------

    def self_stats(self):
        with self.lock:
            return {
                "engine_up": self.engine_up,
                "containers": len(self.running.by_id),
                "containers_seen": self.containers_seen,
                "cgroup_locations": self.sampler.cache_sizes()["cgroup_locations"] if self.sampler else 0,
                "events": dict(self.events),
                "reconnects": self.reconnects,
                "read_errors": dict(self.read_errors),
                "durations": list(self.durations),
                "duration_sum": self.duration_sum,
                "cpu_durations": list(self.cpu_durations),
                "cpu_sum": self.cpu_sum,
                "collections": self.collections,
                "sinks": [(s.name, s.stats) for s in self.sinks],
                "buffered": [(s.name, s.buffered()) for s in self.sinks],
            }

    def metrics_text(self):
        samples = self.fresh_samples()
        with self.lock:
            health = dict(self.health)
            disk = dict(self.disk)
            engine_labels = None
            if self.cfg["listen"]["engine_labels"]:
                engine_labels = {i: r.get("engine_labels") or {} for i, r in self.running.by_id.items()}
        return prometheus.render(samples, health, disk, self.self_stats(), engine_labels)

    def container_views(self):
        """The REST API's list: every followed container's newest sample plus its health."""
        samples = self.fresh_samples()
        with self.lock:
            return [{**s, "health": self.health.get(s["id"])} for s in samples]
