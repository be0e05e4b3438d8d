"""The sampler's orchestration over the recorded cgroup v1 tree with a stand-in engine."""

from __future__ import annotations

import pytest
from containers_fixtures import PODMAN, V1, V1_BUSY, V1_MEM, load_json

from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import Engine
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    ContainerError,
    EngineApiError,
    NotOwnCgroup,
    UnknownContainer,
)
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import (
    STATE_FIELDS,
    ContainerSampler,
    gone_names,
)


class StandInEngine(Engine):
    """Answers like podman 4.3.1 did when the fixtures were recorded (libpod list and stats)."""

    origin = "socket"
    stats_api = "libpod"

    def __init__(self, refs):
        super().__init__("stand-in", "unix:///stand-in.sock", "podman", "4.3.1", "1.41")
        self.refs = refs
        self.stats = {e["ContainerID"]: e for e in load_json(PODMAN / "podman_libpod_stats.json")["Stats"]}
        self.inspected = []

    def list_running(self):
        return [dict(r) for r in self.refs]

    def inspect(self, ident):
        self.inspected.append(ident)
        raise UnknownContainer([ident])

    def libpod_stats(self, ids=None):
        return {i: self.stats[i] for i in ids or self.stats if i in self.stats}


def ref(ident, pid, name):
    return {
        "id": ident,
        "name": name,
        "image": "localhost/qsc-busybox:test",
        "pid": pid,
        "engine_labels": {},
        "state": "running",
        "restart_count": None,
        "started_at": 1795430765,
        "oom_killed": None,
    }


def reader(keep_open=0):
    mountinfo = (V1 / "proc" / "mountinfo").read_text()
    return CgroupReader(
        proc_root=str(V1 / "proc"), fs_root=str(V1), mountinfo_text=mountinfo, clk_tck=100, keep_open=keep_open
    )


def test_two_samples_give_rates_and_gone_containers_do_not_crash():
    engine = StandInEngine([ref(*V1_BUSY, "busy"), ref(*V1_MEM, "mem"), ref("f" * 64, 999999, "vanished")])
    sampler = ContainerSampler(engine, metrics=["cpu", "memory", "network", "state"], reader=reader())
    samples = sampler.collect(sample_seconds=1, sleep=lambda seconds: None)
    by_name = {c["name"]: c for c in samples}
    assert by_name["busy"]["source"] == "cgroup-v1"
    assert by_name["busy"]["rates"]["cpu_percent"] == 0.0  # same recorded files twice
    assert isinstance(by_name["busy"]["timestamp"], float)
    assert "mono_ns" not in by_name["busy"]  # monotonic time stays inside the core
    assert by_name["busy"]["started_at"] == 1795430765
    assert by_name["mem"]["gauges"]["memory_working_set_bytes"] >= 64 * 1024 * 1024
    assert by_name["vanished"]["state"] == "gone"
    assert by_name["vanished"]["error"]["kind"] == "gone"
    assert gone_names(samples) == ["vanished"]
    assert engine.inspected == []  # state came from the list: no request per container


def test_cgroup_locations_and_open_files_are_forgotten_when_containers_go():
    refs = [ref(*V1_BUSY, "busy"), ref(*V1_MEM, "mem")]
    engine = StandInEngine(refs)
    sampler = ContainerSampler(engine, metrics=["cpu"], reader=reader(keep_open=100))
    assert sampler.cache_sizes() == {"cgroup_locations": 0, "open_files": 0}
    first = sampler.collect()
    # cpu on cgroup v1: cpuacct.usage, cpuacct.stat and cpu.stat stay open per container
    assert sampler.cache_sizes() == {"cgroup_locations": 2, "open_files": 6}
    engine.refs = refs[:1]
    again = sampler.collect()
    assert again[0]["counters"] == first[0]["counters"]  # read again through the open files
    assert sampler.cache_sizes() == {"cgroup_locations": 1, "open_files": 3}
    engine.refs = []
    assert sampler.collect() == []
    assert sampler.cache_sizes() == {"cgroup_locations": 0, "open_files": 0}


def test_a_reader_keeping_files_open_reads_them_again_and_keeps_to_its_budget(tmp_path):
    path = tmp_path / "memory.usage_in_bytes"
    path.write_text("100\n")
    cgroups = CgroupReader(mountinfo_text="", keep_open=1)
    owner = []
    assert cgroups._read_file(str(path), owner) == "100\n"
    path.write_text("200\n")  # the same open file, read again from offset 0
    assert cgroups._read_file(str(path), owner) == "200\n"
    assert owner == [str(path)]
    other = tmp_path / "pids.current"
    other.write_text("4\n")
    assert cgroups._read_file(str(other), owner) == "4\n"
    assert cgroups.open_files() == 1  # the budget: opened, read and closed
    cgroups.close()
    assert cgroups.open_files() == 0


def test_a_process_without_a_cgroup_of_its_own_falls_back_to_the_api():
    # The PID's cgroup is another container's: its numbers must not be reported as this one's.
    impostor = ref(V1_MEM[0], V1_BUSY[1], "mem")
    auto = ContainerSampler(StandInEngine([impostor]), metrics=["memory"], reader=reader()).collect()
    assert auto[0]["source"] == "api-libpod"
    with pytest.raises(NotOwnCgroup, match="mem has no cgroup of its own") as info:
        ContainerSampler(StandInEngine([impostor]), source="cgroup", metrics=["memory"], reader=reader()).collect()
    assert info.value.kind == "unavailable"


def test_api_path_reports_what_the_container_received_on_podman_4_3():
    # podman 4.3.1 libpod stats of qsc-busy: NetInput 752 / NetOutput 3476, while the container's own
    # /proc/<pid>/net/dev (recorded moments apart) says rx 3056 / tx 682: the engine swaps them.
    busy = ref(*V1_BUSY, "busy")
    engine = StandInEngine([busy])
    assert engine.network_swapped is True
    [api] = ContainerSampler(engine, source="api", metrics=["network"]).collect()
    [cgroup] = ContainerSampler(engine, metrics=["network"], reader=reader()).collect()
    assert (api["counters"]["net_rx_bytes"], api["counters"]["net_tx_bytes"]) == (3476, 752)
    assert (cgroup["counters"]["net_rx_bytes"], cgroup["counters"]["net_tx_bytes"]) == (3056, 682)
    assert api["counters"]["net_rx_bytes"] > api["counters"]["net_tx_bytes"]
    assert cgroup["counters"]["net_rx_bytes"] > cgroup["counters"]["net_tx_bytes"]


def test_selection_by_name_id_prefix_and_unknown_names():
    engine = StandInEngine([ref(*V1_BUSY, "busy"), ref(*V1_MEM, "mem")])
    sampler = ContainerSampler(engine, metrics=["pids"], reader=reader())
    names = [c["name"] for c in sampler.collect(["mem", V1_BUSY[0][:12]])]
    assert names == ["mem", "busy"]
    with pytest.raises(UnknownContainer, match="nope, nada") as info:
        sampler.collect(["busy", "nope", "nada"])
    assert info.value.kind == "not_found"


class RefusingEngine(StandInEngine):
    """What rootless podman on cgroup v1 answers: no stats without cgroups v2."""

    def libpod_stats(self, ids=None):
        raise EngineApiError(
            "GET", "/v4.0.0/libpod/containers/stats", 409, "stats not supported in rootless mode without cgroups v2"
        )


def test_engine_refusing_stats_is_reported_per_container_not_a_crash():
    engine = RefusingEngine([ref(*V1_MEM, "mem")])
    samples = ContainerSampler(engine, source="api", metrics=["memory"]).collect(sample_seconds=1, sleep=lambda s: None)
    [entry] = samples
    assert entry["state"] == "running"
    assert entry["error"]["kind"] == "unavailable"
    assert "rootless mode without cgroups v2" in entry["error"]["message"]
    assert entry["counters"] == {}
    assert entry["gauges"] == {}
    assert gone_names(samples) == []


class DockerLikeEngine(StandInEngine):
    """A compat list without PIDs (as Docker's): the sampler inspects each container once."""

    kind = "docker"
    stats_api = "compat"

    def list_running(self):
        return [{k: v for k, v in r.items() if k not in ("pid", *STATE_FIELDS)} for r in self.refs]


def test_a_container_removed_between_list_and_inspect_is_gone_not_a_failure():
    engine = DockerLikeEngine([ref(*V1_BUSY, "busy")])
    [entry] = ContainerSampler(engine, metrics=["cpu"], reader=reader()).collect()
    assert engine.inspected == [V1_BUSY[0]]
    assert entry["state"] == "gone"
    assert entry["error"] == {"kind": "gone", "message": "container busy: removed after it was listed"}


class UnreadableReader(CgroupReader):
    """Stands in for cgroup files the user may not read (root, running the tests, reads them all)."""

    def read(self, pid, metrics, location=None):
        raise PermissionError(13, "Permission denied", "/sys/fs/cgroup/cpuacct/cpuacct.usage")


def test_unreadable_cgroups_fail_with_the_permission_kind_under_source_cgroup():
    mountinfo = (V1 / "proc" / "mountinfo").read_text()
    unreadable = UnreadableReader(proc_root=str(V1 / "proc"), fs_root=str(V1), mountinfo_text=mountinfo, clk_tck=100)
    engine = StandInEngine([ref(*V1_BUSY, "busy")])
    with pytest.raises(ContainerError, match=r"busy: .*Permission denied.*become_user") as info:
        ContainerSampler(engine, source="cgroup", metrics=["cpu"], reader=unreadable).collect()
    assert info.value.kind == "permission"
    [entry] = ContainerSampler(engine, metrics=["cpu"], reader=unreadable).collect()
    assert entry["source"] == "api-libpod"  # auto falls back
