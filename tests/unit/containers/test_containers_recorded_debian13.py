"""Recorded from a real rootless quadlet on Debian 13 (podman 5.4.2, cgroup v2, systemd-nspawn target).

Recorded by tests/harness/record_rootless_fixtures.py: ``qs-busy`` runs a Python busy loop and
``qs-idle`` sleeps. In that target the containers' cgroups have no controllers (cgroup.controllers
is empty), yet ``/proc/<pid>/cgroup`` still lists the kernel's v1 hierarchies, all at ``/``,
which nothing mounts there.
"""

from __future__ import annotations

from containers_fixtures import FIXTURES, load_json

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse, cgroup_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader

TREE = FIXTURES / "cgroup_v2_debian13"
API = FIXTURES / "api" / "podman-5.4.2"
BUSY = ("d168a7c19f5fd5e3becdedc1c836a8a6b768ac1a7fb3c9625c1f377cac8726a7", 419)
IDLE = ("2d815c87de0db974e42379b7d285b3ce0a3db60d022b47c91564b258ae35a070", 452)
UID = 1000


def reader():
    mountinfo = (TREE / "proc" / "mountinfo").read_text()
    return CgroupReader(proc_root=str(TREE / "proc"), fs_root=str(TREE), mountinfo_text=mountinfo, clk_tck=100)


def payload_dir(unit, ident):
    return (
        TREE / f"sys/fs/cgroup/user.slice/user-{UID}.slice/user@{UID}.service/app.slice/{unit}/libpod-payload-{ident}"
    )


def test_only_cgroup2_is_mounted_though_proc_lists_v1_hierarchies():
    mounts = cgroup_parse.parse_mountinfo((TREE / "proc" / "mountinfo").read_text())
    assert mounts["v2"] == ("/sys/fs/cgroup", "/")
    assert not mounts["v1"]
    parsed = cgroup_parse.parse_proc_cgroup((TREE / "proc" / str(BUSY[1]) / "cgroup").read_text())
    assert parsed["v1"]  # listed by the kernel ...
    assert parsed["v2"].endswith(f"qs-busy.service/libpod-payload-{BUSY[0]}")  # ... but v2 is what counts


def test_reader_locates_the_split_quadlet_layout_and_reads_real_cpu_time():
    for (ident, pid), unit in ((BUSY, "qs-busy.service"), (IDLE, "qs-idle.service")):
        counters, gauges, location = reader().read(pid)
        assert location["version"] == 2
        stat = cgroup_parse.parse_flat_keyed((payload_dir(unit, ident) / "cpu.stat").read_text())
        assert counters["cpu_usage_ns"] == stat["usage_usec"] * 1000
        assert counters["cpu_user_ns"] == stat["user_usec"] * 1000
        # No memory/pids controller in this cgroup: nothing is invented.
        assert (payload_dir(unit, ident) / "cgroup.controllers").read_text().strip() == ""
        assert not any(key.startswith(("memory_", "pids_")) for key in gauges)


def test_busy_container_used_far_more_cpu_than_the_idle_one():
    busy = reader().read(BUSY[1])[0]["cpu_usage_ns"]
    idle = reader().read(IDLE[1])[0]["cpu_usage_ns"]
    assert busy > 20 * idle


def test_podman_5_libpod_list_carries_the_quadlet_unit():
    refs = {
        ref["name"]: ref
        for ref in map(api_parse.ref_from_libpod_list, load_json(API / "podman_libpod_containers.json"))
    }
    assert refs["qs-busy"]["id"] == BUSY[0]
    assert api_parse.series_labels(refs["qs-busy"])["unit"] == "qs-busy.service"


def test_podman_5_engine_version_and_rootless_info():
    engine = api_parse.engine_from_version(load_json(API / "podman_compat_version.json"))
    assert engine["kind"] == "podman"
    assert engine["version"] == "5.4.2"
    info = load_json(API / "podman_libpod_info.json")
    assert info["host"]["cgroupVersion"] == "v2"
    assert api_parse.rootless_from_info("podman", info) is True


def test_podman_5_libpod_stats_cpu_agrees_with_the_cgroup_read_just_after():
    stats = {entry["Name"]: entry for entry in load_json(API / "podman_libpod_stats.json")["Stats"]}
    counters, gauges = api_parse.values_from_libpod_stats(stats["qs-busy"])
    from_cgroup = reader().read(BUSY[1])[0]["cpu_usage_ns"]
    # The recorder asked libpod first and read cpu.stat a moment later; a busy loop gains < 1 s/s.
    assert 0 <= from_cgroup - counters["cpu_usage_ns"] < 2_000_000_000
    # Without a memory controller libpod answers 0 bytes, a figure the cgroup path does not invent.
    assert stats["qs-busy"]["MemUsage"] == 0
    assert gauges.get("memory_usage_bytes") == 0


def test_podman_5_reports_network_from_the_containers_side():
    """podman 5.4.2's libpod ``Network`` map and compat ``networks`` equal the container's own
    /proc/<pid>/net/dev (rx 0 / tx 426, recorded in the same run): not swapped, unlike podman 4.3."""
    assert api_parse.podman_swaps_network("podman", "5.4.2") is False
    own = cgroup_parse.parse_net_dev((TREE / "proc" / str(BUSY[1]) / "net" / "dev").read_text())
    libpod = {e["Name"]: e for e in load_json(API / "podman_libpod_stats.json")["Stats"]}["qs-busy"]
    assert "NetInput" not in libpod  # podman 5 dropped the byte totals for the per-interface map
    from_libpod = api_parse.values_from_libpod_stats(libpod)[0]
    from_compat = api_parse.values_from_compat_stats(load_json(API / "podman_compat_stats_qs-busy.json"))[0]
    for counters in (from_libpod, from_compat):
        assert {k: counters[k] for k in own} == own
    assert (own["net_rx_bytes"], own["net_tx_bytes"], own["net_tx_packets"]) == (0, 426, 5)
