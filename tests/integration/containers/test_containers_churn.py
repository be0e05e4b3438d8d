"""A long-running sampler (as an exporter daemon holds one) over container churn on real podman:
100 containers started and removed leave its caches, and the event-fed running set, at their
starting size."""

from __future__ import annotations

import collections
import os
import threading
import time

import pytest
from podman_env import Podman, podman_available, wait_for

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine as engine_mod
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.discovery import RunningSet
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler

pytestmark = [
    pytest.mark.podman,
    pytest.mark.slow,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
]

CHURN = int(os.environ.get("QS_CHURN", "100"))


def test_hundred_containers_started_and_removed_leave_the_caches_at_their_starting_size():
    podman = Podman()
    eng = engine_mod.connect(sock=podman.socket)
    try:
        mine = {"io.quadstats.test": podman.run_id}
        # As the exporter daemon reads: files kept open between reads (they must be closed again).
        sampler = ContainerSampler(
            eng, metrics=["cpu", "memory", "network", "state"], reader=CgroupReader(keep_open=10000)
        )
        sampler.collect(labels=mine)
        start = sampler.cache_sizes()
        running = RunningSet(r for r in eng.list_running() if api_labels(r) == podman.run_id)
        start_running = len(running.by_id)
        since = int(time.time()) - 1

        def follow():
            # What a daemon does: an events stream from the time of its list; when the stream ends
            # (5 idle seconds here) it reopens from the last event's second, replaying that second in
            # order, which leaves the set as it was.
            resume = since
            while not stop.is_set():
                for event in eng.events(since=resume, timeout=5):
                    if event.get("time_ns"):
                        resume = event["time_ns"] // 1_000_000_000
                    if (event.get("name") or "").startswith(podman.prefix):
                        seen[event["action"]] += 1
                        running.apply(event)

        seen = collections.Counter()
        stop = threading.Event()
        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        names = [f"{podman.prefix}churn-{i:03d}" for i in range(CHURN)]
        for name in names:
            podman.podman("create", "--name", name, "--label", podman.label, podman.image, "sleep", "600")
        for first in range(0, CHURN, 25):
            podman.podman("start", *names[first : first + 25], timeout=300)
        during = sampler.collect(labels=mine)
        assert len(during) == CHURN
        assert {s["source"] for s in during} == {"cgroup-v1"}
        assert sampler.cache_sizes()["cgroup_locations"] == start["cgroup_locations"] + CHURN
        assert sampler.cache_sizes()["open_files"] >= start["open_files"] + CHURN
        wait_for(lambda: len(running.by_id) == start_running + CHURN, timeout=60, what="start events")
        for first in range(0, CHURN, 25):
            podman.podman("rm", "-f", "-t", "0", *names[first : first + 25], timeout=300)
        assert sampler.collect(labels=mine) == []
        assert sampler.cache_sizes() == start
        try:
            wait_for(lambda: len(running.by_id) == start_running, timeout=60, what="die/remove events")
        except TimeoutError as exc:
            state = f"{len(running.by_id)} left, events {dict(seen)}, stream open {follower.is_alive()}"
            raise AssertionError(f"{exc}: {state}") from None
        finally:
            stop.set()
    finally:
        eng.close()
        podman.cleanup()


def api_labels(ref):
    return (ref.get("engine_labels") or {}).get("io.quadstats.test")
