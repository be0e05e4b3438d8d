"""The collector's orchestration over the recorded cgroup v1 tree with a stand-in engine."""

from __future__ import annotations

import pytest
from containers_fixtures import PODMAN, V1, V1_BUSY, V1_MEM, load_json

from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.collector import Collector, NotOwnCgroup
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import EngineApiError, UnknownContainer


class StandInEngine:
    """Answers like podman 4.3.1 did when the fixtures were recorded (libpod list and stats)."""

    kind = "podman"
    local = True

    def __init__(self, refs):
        self.refs = refs
        self.stats = {e["ContainerID"]: e for e in load_json(PODMAN / "podman_libpod_stats.json")["Stats"]}

    def list_running(self):
        return [dict(r) for r in self.refs]

    def inspect(self, ident):
        raise UnknownContainer([ident])

    def libpod_stats(self, ids=None):
        return {i: self.stats[i] for i in ids or self.stats if i in self.stats}


def ref(ident, pid, name):
    return {"id": ident, "name": name, "image": "localhost/qsc-busybox:test", "pid": pid, "engine_labels": {}}


def reader():
    mountinfo = (V1 / "proc" / "mountinfo").read_text()
    return CgroupReader(proc_root=str(V1 / "proc"), fs_root=str(V1), mountinfo_text=mountinfo, clk_tck=100)


def test_two_samples_give_rates_and_gone_containers_do_not_crash():
    engine = StandInEngine([ref(*V1_BUSY, "busy"), ref(*V1_MEM, "mem"), ref("f" * 64, 999999, "vanished")])
    collector = Collector(engine, metrics=["cpu", "memory", "network"], reader=reader())
    result = collector.collect(sample_seconds=1, sleep=lambda seconds: None)
    by_name = {c["name"]: c for c in result["containers"]}
    assert by_name["busy"]["source"] == "cgroup-v1"
    assert by_name["busy"]["rates"]["cpu_percent"] == 0.0  # same recorded files twice
    assert by_name["mem"]["gauges"]["memory_working_set_bytes"] >= 64 * 1024 * 1024
    assert by_name["vanished"]["state"] == "gone"
    assert result["gone"] == ["vanished"]


def test_a_process_without_a_cgroup_of_its_own_falls_back_to_the_api():
    # The PID's cgroup is another container's: its numbers must not be reported as this one's.
    impostor = ref(V1_MEM[0], V1_BUSY[1], "mem")
    auto = Collector(StandInEngine([impostor]), metrics=["memory"], reader=reader()).collect()
    assert auto["containers"][0]["source"] == "api-libpod"
    with pytest.raises(NotOwnCgroup, match="mem has no cgroup of its own"):
        Collector(StandInEngine([impostor]), source="cgroup", metrics=["memory"], reader=reader()).collect()


def test_selection_by_name_id_prefix_and_unknown_names():
    engine = StandInEngine([ref(*V1_BUSY, "busy"), ref(*V1_MEM, "mem")])
    collector = Collector(engine, metrics=["pids"], reader=reader())
    names = [c["name"] for c in collector.collect(["mem", V1_BUSY[0][:12]])["containers"]]
    assert names == ["mem", "busy"]
    with pytest.raises(UnknownContainer, match="nope, nada"):
        collector.collect(["busy", "nope", "nada"])


class RefusingEngine(StandInEngine):
    """What rootless podman on cgroup v1 answers: no stats without cgroups v2."""

    def libpod_stats(self, ids=None):
        raise EngineApiError(
            "GET", "/v4.0.0/libpod/containers/stats", 409, "stats not supported in rootless mode without cgroups v2"
        )


def test_engine_refusing_stats_is_reported_per_container_not_a_crash():
    engine = RefusingEngine([ref(*V1_MEM, "mem")])
    result = Collector(engine, source="api", metrics=["memory"]).collect(sample_seconds=1, sleep=lambda s: None)
    [entry] = result["containers"]
    assert entry["state"] == "running"
    assert "rootless mode without cgroups v2" in entry["reason"]
    assert entry["counters"] == {}
    assert entry["gauges"] == {}
    assert result["gone"] == []
