# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One thread per cluster: polls each stat group on its own interval through the OneFS core.

Per cycle and stat group, the keys that are due are read with one ``OneFSSampler.read`` (the core
batches them into the fewest ``statistics/current`` requests the URL limit allows). A group whose
interval is ``*``/``*N`` schedules each key at N x its own metadata interval, so keys with the same
interval travel together. The ``PapiClient`` lives as long as the poller: its session is reused and
renewed, its identity, node map and metadata refreshed on the core's schedule.

A failure marks the cluster down (``up`` 0, one log line per change of state), keeps its last good
values until they expire and retries after ``min_update_interval``; other clusters are unaffected.
"""

from __future__ import annotations

import logging
import threading
import time
from itertools import chain, repeat
from operator import add

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_UNKNOWN, QuadstatsError
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import (
    PER_KEY_METADATA_LIMIT,
    PapiClient,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import (
    frame_keys,
    frames_of_keys,
    samples_to_frames,
)
from ansible_collections.quadstats.stack.services.onefs_exporter.config import cluster_groups

log = logging.getLogger("quadstats.exporter.onefs")
# Kinds that say the cluster itself cannot be read now: stop this cycle and retry later.
CLUSTER_KINDS = frozenset(("unreachable", "timeout", "tls", "authentication", "permission", "malformed_response"))


class _Lifetimes(dict):
    """Lifetimes of stat keys looked up at C level; a key not in it asks ``lifetime_of``."""

    def __init__(self, lifetime_of):
        super().__init__()
        self.lifetime_of = lifetime_of

    def __missing__(self, source):
        return self.lifetime_of(source)


class ClusterPoller:
    """Polls one cluster until :meth:`stop`. ``publish(cluster_name, frames)`` gets fresh values as frames
    (``samples.RowDecoder``)."""

    def __init__(self, config, cluster, state, *, publish=None, clock=time.monotonic, wall=time.time):
        self.config = config
        self.cluster = cluster
        self.state = state
        self.publish = publish
        self.clock = clock
        self.wall = wall
        self.groups = cluster_groups(config, cluster)
        self._stop = threading.Event()
        self._thread = None
        self.client = None
        self.sampler = None
        self._requests_base = state.requests
        self._renewals_base = state.renewals
        self.key_intervals = {}  # (group, key) -> seconds
        self.next_due = {}  # (group, key) | "summary:<kind>" | "quotas" -> clock time
        self.cycles = 0
        self._partial = {}  # source -> kind of its failure, while it fails (one log line per change)
        self._group_due_keys = None  # [(group, its due keys)], built once
        # group name -> the due time every key of the group shares; its keys are then not in next_due
        self._group_due = {}
        self._intervals = {}  # group name -> (keys, the metadata dict they came from, _key_intervals' answer)
        self._lifetimes = _Lifetimes(self._lifetime)  # stat key -> seconds its values live (as _lifetime)

    # ------------------------------------------------------------ lifecycle
    def start(self):
        self._thread = threading.Thread(target=self.run, name=f"onefs-{self.cluster.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, join_timeout=None):
        self._stop.set()
        if self._thread is not None and join_timeout is not None:
            self._thread.join(join_timeout)

    def join(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self):
        return self._thread is not None and self._thread.is_alive()

    def connect(self):
        """Create the PAPI client and the sampler (no request yet; the first cycle logs in)."""
        c = self.cluster
        self.client = PapiClient(
            c.host,
            c.port,
            username=c.username,
            password=c.password,
            auth=c.auth,
            validate_certs=c.verify,
            ca_path=c.ca_file,
            timeout=c.timeout,
            retries=c.retries,
            refresh_interval=self.config.refresh_interval,
            sleep=self._stop.wait,
        )
        self.sampler = OneFSSampler(
            self.client,
            include_degraded=self.config.include_degraded,
            preserve_case=c.preserve_case,
            cluster_label=c.cluster_label,
            devid_label=True,
        )

    def run(self):
        try:
            self.connect()
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # a bug in one cycle must not end the thread
                    log.exception("cluster %s: unexpected error in a collection cycle", self.cluster.name)
                    self._down(KIND_UNKNOWN, f"{type(exc).__name__}: {exc}")
                self._stop.wait(max(0.0, self.next_wake() - self.clock()))
        finally:
            if self.client is not None:
                self.client.close()

    # ------------------------------------------------------------ scheduling
    def next_wake(self):
        return min(
            chain(self.next_due.values(), self._group_due.values()),
            default=self.clock() + self.config.min_update_interval,
        )

    def _sources(self, stats=True):
        """Every scheduled unit of work: (due key, group or None, kind); ``stats`` False: not the stat keys."""
        for group in self.groups if stats else ():
            for key in group.keys:
                yield (group.name, key), group, "stat"
        for kind in self.cluster.summary:
            yield "summary:" + kind, None, "summary"
        if self.cluster.quotas:
            yield "quotas", None, "quotas"

    def tick(self):
        """Collect everything that is due now; stop at the first cluster-level failure."""
        now = self.clock()
        self.cycles += 1
        due_groups = {}
        extra = []
        next_due = self.next_due
        if self._group_due_keys is None:
            self._group_due_keys = [(g, tuple((g.name, key) for key in g.keys)) for g in self.groups]
        for group, due_keys in self._group_due_keys:
            keys = self._keys_due(group, due_keys, now)
            if keys:
                entry = due_groups.get(group.name)
                if entry is None:
                    due_groups[group.name] = (group, keys)
                else:
                    entry[1].extend(keys)
        for due_key, _group, kind in self._sources(stats=False):
            if next_due.setdefault(due_key, now) <= now:
                extra.append((due_key, kind))
        work = [("group", g, keys) for g, keys in due_groups.values()] + [(k, d, None) for d, k in extra]
        if sum(len(keys) for _g, keys in due_groups.values()) > PER_KEY_METADATA_LIMIT:
            work.insert(0, ("metadata", None, None))
        for index, (kind, item, keys) in enumerate(work):
            if self._stop.is_set():
                return
            if not self._run_one(kind, item, keys, now):
                self._retry_later(work[index:])
                return

    def _keys_due(self, group, due_keys, now):
        every_key_due = self._group_due.get(group.name)
        if every_key_due is not None:  # the keys share one due time: no look at each key
            return list(group.keys) if every_key_due <= now else []
        # Each key's due time, unset ones set to now, at C level; then the keys due now.
        dues = map(self.next_due.setdefault, due_keys, repeat(now))
        return [due_key[1] for due_key, due in zip(due_keys, dues, strict=True) if due <= now]

    def _each_key_due(self, group):
        """Back to one due time per key in next_due for the keys of ``group`` (before one of them moves)."""
        every_key_due = self._group_due.pop(group.name, None)
        if every_key_due is not None:
            self.next_due.update(dict.fromkeys(((group.name, key) for key in group.keys), every_key_due))

    def _retry_later(self, work):
        """After a cluster-level failure, everything still due is tried again after min_update_interval."""
        retry = self.clock() + self.config.min_update_interval
        for kind, item, keys in work:
            if kind == "group":
                self._each_key_due(item)
                for key in keys:
                    self.next_due[(item.name, key)] = retry
            elif kind != "metadata":
                self.next_due[item] = retry

    def _schedule(self, due_key, interval, now, current=None):
        """Next due time: one interval after the last one, or from now when that has passed already."""
        current = self.clock() if current is None else current
        nxt = self.next_due.get(due_key, now) + interval
        if nxt <= current:
            nxt = current + interval
        self.next_due[due_key] = nxt

    def _fetch(self, kind, item, keys, now):
        """Read one unit of work; returns (duration source, the frames of a group (stored already) or
        {source: frames} to store)."""
        if kind == "group":
            return "group:" + item.name, self._collect_group(item, keys, now)
        if kind == "summary":
            fresh = {item: samples_to_frames(self.sampler.read_summary(item.split(":", 1)[1]))}
            self._schedule(item, self.config.summary_interval, now)
            return item, fresh
        fresh = {"quotas": samples_to_frames(self.sampler.read_quotas(self.config.quota_types))}
        self._schedule(item, self.config.quota_interval, now)
        return "quotas", fresh

    def _run_one(self, kind, item, keys, now):
        """Do one unit of work; False after a cluster-level failure (the rest of the cycle waits)."""
        start = self.clock()
        try:
            if kind == "metadata":
                # Many keys at once: one paged key list, not one metadata request per key and group.
                self.client.load_all_keys()
                return True
            source, fresh = self._fetch(kind, item, keys, now)
        except QuadstatsError as exc:
            self._account()
            self.state.count_error(exc.kind)
            if exc.kind in CLUSTER_KINDS:
                self._down(exc.kind, str(exc))
                return False
            # Not the cluster as a whole (an endpoint missing, an API error): try again soon.
            what = "group:" + item.name if kind == "group" else item  # item is the source name otherwise
            if self._partial.get(what) != exc.kind:
                log.warning("cluster %s: %s failed (%s): %s", self.cluster.name, what, exc.kind, exc)
                self._partial[what] = exc.kind
            self._retry_later([(kind, item, keys)])
            return True
        self._account()
        if self._partial.pop(source, None) is not None:
            log.info("cluster %s: %s works again", self.cluster.name, source)
        self.state.record_duration(source, self.clock() - start)
        if kind == "group":
            frames = fresh
        else:
            self.state.put(fresh, self._lifetime)
            frames = [f for batch in fresh.values() for f in batch]
        if kind == "quotas":
            self.state.quotas_success = (self.sampler.label(), self.wall())
        self._up()
        if self.publish is not None:
            frames = self.sampler.expand(frames)
            if frames:
                self.publish(self.cluster.name, frames)
        return True

    def _collect_group(self, group, keys, now):
        """Read the due keys of a group and store the reading as one entry per lifetime; returns its frames."""
        # Deferred: rows are checked now, decoded when read (a render, a sink), not on every poll.
        reading = self.sampler.read_frames(keys, defer=True)
        metas = reading["metadata"]
        self.state.describe(metas)
        frames = reading["stats"]
        for err in reading["errors"]:
            self.state.count_error(err["kind"])
        current = self.clock()
        intervals, due_keys, lifetimes = self._key_intervals(group, keys, metas)
        held = frame_keys(frames)  # keys without values this time keep their earlier ones until they expire
        if len(lifetimes) == 1:  # every key of the reading lives as long (a group with one interval)
            self.state.put_reading(frames, held, lifetimes[0])
        else:
            by_lifetime = {}
            for key in held:
                by_lifetime.setdefault(self._lifetimes[key], {})[key] = None
            for lifetime, held_keys in by_lifetime.items():  # each entry keeps only its keys' rows
                self.state.put_reading(frames_of_keys(frames, held_keys), held_keys, lifetime)
        self._schedule_group(group, keys, intervals, due_keys, now, current, len(lifetimes) == 1)
        return frames

    def _schedule_group(self, group, keys, intervals, due_keys, now, current, one_interval):  # noqa: PLR0917
        """As _schedule for each key read: one interval after its last due time, or from now when that has
        passed. While every key of the group shares one due time, that time is kept for the group."""
        next_due = self.next_due
        every_key_due = self._group_due.get(group.name)
        whole = one_interval and len(keys) == len(group.keys)
        if whole and every_key_due is not None:
            nxt = every_key_due + intervals[0]
            self._group_due[group.name] = nxt if nxt > current else current + intervals[0]
            return
        self._each_key_due(group)
        nxts = list(map(add, map(next_due.get, due_keys, repeat(now)), intervals))
        if nxts and min(nxts) > current:  # the usual case, at C level
            next_due.update(zip(due_keys, nxts, strict=True))
        else:
            for due_key, interval, nxt in zip(due_keys, intervals, nxts, strict=True):
                next_due[due_key] = nxt if nxt > current else current + interval
        if whole and len(set(map(next_due.__getitem__, due_keys))) == 1:
            self._group_due[group.name] = next_due[due_keys[0]]
            for due_key in due_keys:
                del next_due[due_key]

    def _key_intervals(self, group, keys, metas):
        """Each key's interval in ``group``, its due key and the distinct lifetimes of the keys, computed
        again (and each key's interval and lifetime recorded) only when the keys or their metadata change."""
        cached = self._intervals.get(group.name)
        if cached is not None and cached[1] is metas and cached[0] == keys:
            return cached[2]
        minimum = self.config.min_update_interval
        for_key = group.interval.for_key
        by_meta = {}  # the key's metadata interval -> its interval in this group
        intervals = []
        for key in keys:
            meta = metas.get(key)
            if meta is None:  # unknown key: the core looks it up again at its next refresh
                interval = self.config.refresh_interval
            else:
                own = meta.get("interval")
                interval = by_meta.get(own)
                if interval is None:
                    interval = by_meta[own] = for_key(own, minimum)
            intervals.append(interval)
        mult = self.config.expiry_multiplier
        lifetimes = {key: mult * interval for key, interval in zip(keys, intervals, strict=True)}
        self.key_intervals.update(zip(keys, intervals, strict=True))
        self._lifetimes.update(lifetimes)
        answer = (intervals, [(group.name, key) for key in keys], list(dict.fromkeys(lifetimes.values())))
        self._intervals[group.name] = (keys, metas, answer)
        return answer

    def _lifetime(self, source):
        mult = self.config.expiry_multiplier
        interval = self.key_intervals.get(source)  # a stat key (the common case)
        if interval is not None:
            return mult * interval
        if source == "quotas":
            return mult * self.config.quota_interval
        if source.startswith("summary:"):
            return mult * self.config.summary_interval
        return mult * self.key_intervals.get(source, self.config.min_update_interval)

    # ------------------------------------------------------------ state
    def _account(self):
        client = self.client
        self.state.requests = self._requests_base + client.requests
        self.state.renewals = self._renewals_base + max(0, client.logins - 1)

    def _up(self):
        state = self.state
        state.last_success = self.wall()
        if not state.up:
            if state.failure is not None:
                log.warning("cluster %s: collecting again (was down: %s)", self.cluster.name, state.failure[0])
            else:
                log.info("cluster %s: collecting from %s:%s", self.cluster.name, self.cluster.host, self.cluster.port)
            state.up = 1
            state.failure = None

    def _down(self, kind, message):
        state = self.state
        if state.up or state.failure is None or state.failure[0] != kind:
            log.error("cluster %s: collection failed (%s): %s", self.cluster.name, kind, message)
        state.up = 0
        state.failure = (kind, message)
