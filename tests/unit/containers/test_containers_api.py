"""Engine API payloads (recorded podman 4.3.1, hand-written Docker) into the normalised model."""

from __future__ import annotations

from containers_fixtures import DOCKER, PODMAN, V1_IO, V1_MEM, load_json, load_jsonl

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse, formulas
from ansible_collections.quadstats.stack.plugins.module_utils.containers.discovery import RunningSet

MIB = 1024 * 1024


def test_engine_kind_from_version():
    podman = api_parse.engine_from_version(load_json(PODMAN / "podman_compat_version.json"))
    assert (podman["kind"], podman["version"], podman["api_version"]) == ("podman", "4.3.1", "1.41")
    docker = api_parse.engine_from_version(load_json(DOCKER / "docker_version.json"))
    assert docker["kind"] == "docker"
    assert docker["version"] == "27.3.1"


def test_engine_kind_and_version_from_ping_headers():
    podman = api_parse.engine_from_ping(load_json(PODMAN / "podman_ping_headers.json"))
    assert podman == {"kind": "podman", "version": "4.3.1", "api_version": "1.41"}
    docker = api_parse.engine_from_ping(
        {k.lower(): v for k, v in load_json(DOCKER / "docker_ping_headers.json").items()}
    )
    assert docker == {"kind": "docker", "version": "27.3.1", "api_version": "1.47"}
    assert api_parse.engine_from_ping({"Api-Version": "1.41"})["version"] is None  # then /version is asked


def test_which_engine_versions_swap_network_rx_and_tx():
    assert api_parse.podman_swaps_network("podman", "4.3.1") is True
    assert api_parse.podman_swaps_network("podman", "4.3.0-rc1") is True
    assert api_parse.podman_swaps_network("podman", "4.4.0") is False
    assert api_parse.podman_swaps_network("podman", "5.4.2") is False
    assert api_parse.podman_swaps_network("podman", None) is False  # unknown: taken as it comes
    assert api_parse.podman_swaps_network("docker", "20.10.0") is False


def test_podman_4_3_compat_and_libpod_network_are_turned_back_to_the_containers_view():
    # Recorded: qsc-mem's own /proc/<pid>/net/dev says rx 1306 / tx 472; podman 4.3.1 answered
    # rx 612 / tx 1726 (compat) and NetInput 612 / NetOutput 1726 (libpod) moments earlier.
    compat = load_json(PODMAN / "podman_compat_stats_mem.json")
    counters = api_parse.values_from_compat_stats(compat, swapped_network=True)[0]
    assert (counters["net_rx_bytes"], counters["net_tx_bytes"]) == (1726, 612)
    entry = {e["ContainerID"]: e for e in load_json(PODMAN / "podman_libpod_stats.json")["Stats"]}[V1_MEM[0]]
    counters = api_parse.values_from_libpod_stats(entry, swapped_network=True)[0]
    assert (counters["net_rx_bytes"], counters["net_tx_bytes"]) == (1726, 612)
    as_sent = api_parse.values_from_libpod_stats(entry)[0]
    assert (as_sent["net_rx_bytes"], as_sent["net_tx_bytes"]) == (612, 1726)


def test_engine_times_become_epoch_seconds():
    assert api_parse.epoch_seconds("2026-11-23T10:46:05.5Z") == 1795430765.5
    assert api_parse.epoch_seconds("2026-11-23T11:46:05.5+01:00") == 1795430765.5
    assert api_parse.epoch_seconds("0001-01-01T00:00:00Z") is None
    assert api_parse.epoch_seconds("") is None


def test_rootless_detection():
    assert api_parse.rootless_from_info("podman", load_json(PODMAN / "podman_libpod_info.json")) is False
    assert api_parse.rootless_from_info("docker", load_json(DOCKER / "docker_info_rootless.json")) is True


def test_libpod_list_carries_pid_and_quadlet_and_compose_labels():
    refs = {
        r["name"]: r for r in map(api_parse.ref_from_libpod_list, load_json(PODMAN / "podman_libpod_containers.json"))
    }
    io = refs["qsc-io3"]
    assert io["id"] == V1_IO[0]
    assert io["pid"] == V1_IO[1]
    labels = api_parse.series_labels(io)
    assert labels["unit"] == "demo.service"
    assert labels["compose_project"] == "demo"
    assert labels["name"] == "qsc-io3"
    assert labels["image"] == "localhost/qsc-busybox:test"


def test_compat_list_and_inspect_strip_the_slash():
    refs = [api_parse.ref_from_compat_list(i) for i in load_json(PODMAN / "podman_compat_containers.json")]
    assert all(not r["name"].startswith("/") for r in refs)
    assert all(r["pid"] is None for r in refs)
    inspected = api_parse.ref_from_inspect(load_json(PODMAN / "podman_compat_inspect_io.json"))
    assert inspected["name"] == "qsc-io"
    assert inspected["pid"] > 0
    assert inspected["restart_count"] == 0
    docker = api_parse.ref_from_compat_list(load_json(DOCKER / "docker_containers.json")[0])
    assert docker["name"] == "shop-web-1"
    assert api_parse.series_labels(docker)["compose_project"] == "shop"


def test_label_filter():
    ref = {"engine_labels": {"PODMAN_SYSTEMD_UNIT": "web.service", "tier": "db"}}
    assert api_parse.matches_labels(ref, {"PODMAN_SYSTEMD_UNIT": ""})
    assert api_parse.matches_labels(ref, {"tier": "db"})
    assert not api_parse.matches_labels(ref, {"tier": "web"})
    assert not api_parse.matches_labels(ref, {"missing": None})


def test_podman_compat_stats_blkio_rows_with_swapped_major_minor():
    counters, gauges = api_parse.values_from_compat_stats(load_json(PODMAN / "podman_compat_stats_io3.json"))
    assert counters["blkio_write_bytes"] == 20 * MIB  # Sync/Total rows not added
    assert "blkio_write_ops" not in counters  # podman 4.3.1 sends no io_serviced_recursive
    assert "memory_working_set_bytes" not in gauges  # no memory_stats.stats from podman compat
    assert counters["net_rx_bytes"] > 0


def test_podman_compat_one_shot_has_no_precpu_so_no_docker_cpu_percent():
    stats = load_json(PODMAN / "podman_compat_stats_busy.json")
    assert formulas.docker_cpu_percent(stats) is None


def test_docker_cgroup_v2_stats_cpu_percent_uses_online_cpus_not_percpu_length():
    stats = load_json(DOCKER / "docker_stats_cgroup_v2.json")
    assert not stats["cpu_stats"]["cpu_usage"].get("percpu_usage")
    # 0.5 s of CPU over 4 s of system time on 4 CPUs -> 50 %
    assert formulas.docker_cpu_percent(stats) == 50.0
    counters, gauges = api_parse.values_from_compat_stats(stats)
    assert gauges["memory_working_set_bytes"] == 52428800 - 16777216
    assert counters["blkio_read_bytes"] == 1048576
    assert counters["blkio_write_bytes"] == 2097152
    assert counters["net_rx_bytes"] == 6000
    assert counters["net_tx_bytes"] == 7500
    assert counters["net_rx_dropped"] == 2
    assert gauges["pids_current"] == 9
    assert gauges["pids_max"] is None  # max uint64 = unlimited
    assert counters["memory_oom_kills"] == 0


def test_libpod_stats_entries():
    data = load_json(PODMAN / "podman_libpod_stats.json")
    by_id = {e["ContainerID"]: e for e in data["Stats"]}
    counters, gauges = api_parse.values_from_libpod_stats(by_id[V1_MEM[0]])
    assert gauges["memory_usage_bytes"] >= 64 * MIB
    assert counters["cpu_usage_ns"] > 0
    counters = api_parse.values_from_libpod_stats(by_id[V1_IO[0]])[0]
    assert counters["blkio_write_bytes"] == 20 * MIB


def test_events_recorded_from_podman_track_exit_by_itself_rename_and_remove():
    for name in ("podman_compat_events.jsonl", "podman_libpod_events.jsonl"):
        events = [api_parse.normalise_event(e) for e in load_jsonl(PODMAN / name)]
        running = RunningSet()
        changes = [running.apply(e) for e in events if e]
        kinds = [(kind, ref["name"]) for kind, ref in filter(None, changes)]
        assert ("added", "qsc-ev") in kinds
        # qsc-ev exited by itself (die/died), so it left the set before it was renamed and removed
        assert ("removed", "qsc-ev") in kinds
        assert "qsc-ev" not in running.names()
        assert "qsc-ev2" not in running.names()
        assert {"qsc-busy", "qsc-mem", "qsc-io3"} <= set(running.names())


def test_docker_events_rename_die_destroy():
    running = RunningSet()
    seen = []
    for raw in load_jsonl(DOCKER / "docker_events.jsonl"):
        event = api_parse.normalise_event(raw)
        if event is None:
            seen.append(None)
            continue
        change = running.apply(event)
        seen.append(change[0] if change else None)
        if event["action"] == "rename":
            assert event["old_name"] == "/job"
            assert running.names() == ["job2"]
    assert seen == ["added", "renamed", "removed", None, None]
    assert running.names() == []


def test_rename_of_a_running_container_and_destroy_without_die():
    running = RunningSet([{"id": "c1", "name": "a", "engine_labels": {}}])
    assert running.apply({"action": "rename", "id": "c1", "name": "/b"})[0] == "renamed"
    assert running.names() == ["b"]
    assert running.apply({"action": "destroy", "id": "c1"})[0] == "removed"
    assert running.apply({"action": "destroy", "id": "c1"}) is None
    assert (
        api_parse.normalise_event({"Type": "container", "Action": "exec_start: sh -c true", "id": "x"})["action"]
        == "exec_start"
    )
