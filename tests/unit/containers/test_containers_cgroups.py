"""cgroup v1 (recorded) and v2 (real format, hand-written) parsing and the reader over both trees."""

from __future__ import annotations

import pytest
from containers_fixtures import V1, V1_BUSY, V1_IO, V1_MEM, V2, V2_QUADLET, V2_ROOTFUL, v1_file

from ansible_collections.quadstats.stack.plugins.module_utils.containers import cgroup_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import ContainerGone

MIB = 1024 * 1024


def v1_reader():
    mountinfo = (V1 / "proc" / "mountinfo").read_text()
    return CgroupReader(proc_root=str(V1 / "proc"), fs_root=str(V1), mountinfo_text=mountinfo, clk_tck=100)


def v2_reader():
    mountinfo = (V2 / "proc" / "mountinfo").read_text()
    return CgroupReader(proc_root=str(V2 / "proc"), fs_root=str(V2), mountinfo_text=mountinfo, clk_tck=100)


def test_proc_cgroup_hybrid_lists_v1_controllers_and_the_unified_path():
    ident, pid = V1_BUSY
    parsed = cgroup_parse.parse_proc_cgroup((V1 / "proc" / str(pid) / "cgroup").read_text())
    expected = "/libpod_parent/libpod-" + ident
    assert parsed["v1"]["memory"] == expected
    assert parsed["v1"]["cpuacct"] == expected
    assert parsed["v1"]["name=systemd"] == expected
    assert parsed["v2"] == expected


def test_mountinfo_finds_v1_controllers_and_the_empty_unified_mount():
    mounts = cgroup_parse.parse_mountinfo((V1 / "proc" / "mountinfo").read_text())
    assert mounts["v1"]["memory"] == ("/sys/fs/cgroup/memory", "/")
    assert mounts["v1"]["blkio"] == ("/sys/fs/cgroup/blkio", "/")
    assert mounts["v2"] == ("/sys/fs/cgroup/unified", "/")


def test_join_cgroup_strips_a_mounted_sub_root():
    assert cgroup_parse.join_cgroup(("/sys/fs/cgroup", "/"), "/a/b") == "/sys/fs/cgroup/a/b"
    assert cgroup_parse.join_cgroup(("/sys/fs/cgroup/memory", "/a"), "/a/b") == "/sys/fs/cgroup/memory/b"


def test_v1_reader_busy_container_matches_the_recorded_files():
    ident, pid = V1_BUSY
    counters, gauges, location = v1_reader().read(pid)
    assert location["version"] == 1
    assert counters["cpu_usage_ns"] == int(v1_file("cpuacct", ident, "cpuacct.usage"))
    stat = cgroup_parse.parse_flat_keyed(v1_file("cpuacct", ident, "cpuacct.stat"))
    assert counters["cpu_user_ns"] == stat["user"] * 10_000_000
    assert gauges["pids_current"] == 1
    assert gauges["pids_max"] == 2048
    assert gauges["memory_limit_bytes"] is None  # the kernel's "unlimited" page-counter maximum
    assert counters["memory_oom_kills"] == 0
    # eth0 only, loopback excluded
    assert counters["net_rx_bytes"] > 0
    assert counters["net_rx_packets"] > 0


def test_v1_reader_memory_container_holds_the_64_mib_it_wrote():
    pid = V1_MEM[1]
    gauges = v1_reader().read(pid, ("memory",))[1]
    assert gauges["memory_usage_bytes"] >= 64 * MIB
    assert gauges["memory_working_set_bytes"] >= 64 * MIB  # shmem is not inactive_file
    assert gauges["memory_working_set_bytes"] == gauges["memory_usage_bytes"] - gauges["memory_inactive_file_bytes"]


def test_v1_reader_io_container_counts_its_20_mib_direct_write_once():
    pid = V1_IO[1]
    counters = v1_reader().read(pid, ("blkio",))[0]
    # Sync/Total rows repeat the write; only the Write row counts.
    assert counters["blkio_write_bytes"] == 20 * MIB
    assert counters["blkio_read_bytes"] == 0
    assert counters["blkio_write_ops"] >= 20


def test_v1_metric_subset_reads_only_those_groups():
    pid = V1_BUSY[1]
    counters, gauges = v1_reader().read(pid, ("cpu",))[:2]
    assert set(counters) <= {
        "cpu_usage_ns",
        "cpu_user_ns",
        "cpu_system_ns",
        "cpu_throttled_periods",
        "cpu_throttled_ns",
    }
    assert gauges == {}


def test_v2_rootless_quadlet_split_layout_is_located_from_the_pid():
    ident, pid = V2_QUADLET
    reader = v2_reader()
    location = reader.locate(pid)
    assert location["version"] == 2
    assert location["path"].endswith("/app.slice/web.service/libpod-payload-" + ident)
    assert cgroup_parse.unit_from_cgroup_path(location["path"]) == "web.service"
    counters, gauges = reader.read(pid)[:2]
    assert counters["cpu_usage_ns"] == 48213977 * 1000
    assert counters["cpu_user_ns"] == 45100312 * 1000
    assert gauges["memory_usage_bytes"] == 79691776
    assert gauges["memory_working_set_bytes"] == 79691776 - 9437184
    assert gauges["memory_limit_bytes"] == 512 * MIB
    assert counters["memory_oom_kills"] == 1
    # two devices summed, discard rows ignored
    assert counters["blkio_read_bytes"] == 1056768 + 4096
    assert counters["blkio_write_bytes"] == 25 * MIB
    assert counters["blkio_read_ops"] == 40
    assert counters["blkio_write_ops"] == 52
    assert gauges["pids_current"] == 3
    assert gauges["pids_max"] == 2048
    assert counters["net_rx_bytes"] == 10487296
    assert counters["net_tx_bytes"] == 524812
    assert counters["net_rx_dropped"] == 3


def test_v2_rootful_scope_unlimited_and_working_set_clamped_at_zero():
    pid = V2_ROOTFUL[1]
    counters, gauges, location = v2_reader().read(pid)
    assert location["path"].endswith(".scope/container")
    assert cgroup_parse.unit_from_cgroup_path(location["path"]) is None
    assert gauges["memory_limit_bytes"] is None
    assert gauges["pids_max"] is None
    assert gauges["memory_working_set_bytes"] == 0
    assert counters["cpu_throttled_periods"] == 4
    assert counters["cpu_throttled_ns"] == 250_000_000
    assert counters["blkio_write_bytes"] == 0


def test_missing_process_is_reported_gone():
    with pytest.raises(ContainerGone, match="no longer exists"):
        v1_reader().read(999999)


def test_removed_cgroup_is_reported_gone(tmp_path):
    proc = tmp_path / "proc" / "77"
    (proc / "net").mkdir(parents=True)
    (proc / "cgroup").write_text("0::/machine.slice/libpod-gone.scope/container\n")
    (proc / "net" / "dev").write_text("")
    reader = CgroupReader(
        proc_root=str(tmp_path / "proc"),
        fs_root=str(tmp_path),
        mountinfo_text="26 25 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
    )
    with pytest.raises(ContainerGone, match="was removed"):
        reader.read(77)


def test_blkio_v1_matches_only_exact_read_write_rows():
    text = "8:0 Read 10\n8:0 Write 20\n8:0 Sync 30\n8:0 Async 0\n8:0 Discard 5\n8:0 Total 30\n8:16 read 1\nTotal 31\n"
    assert cgroup_parse.parse_v1_blkio(text) == (11, 20)
    assert cgroup_parse.parse_v1_blkio(None) == (None, None)


def test_limits_and_small_parsers():
    assert cgroup_parse.parse_max("max\n") is None
    assert cgroup_parse.parse_max("1024\n") == 1024
    assert cgroup_parse.parse_v1_memory_limit("9223372036854771712\n") is None
    assert cgroup_parse.parse_v1_memory_limit("536870912\n") == 536870912
    assert cgroup_parse.working_set(100, 160) == 0
    assert cgroup_parse.working_set(100, None) == 100
    assert cgroup_parse.unit_from_cgroup_path("/user.slice/user-1000.slice/user@1000.service/init.scope") is None


def test_disk_usage_through_proc_root(tmp_path):
    (tmp_path / "proc" / "5" / "root" / "data").mkdir(parents=True)
    reader = CgroupReader(proc_root=str(tmp_path / "proc"), mountinfo_text="")
    usage = reader.disk_usage(5, ["/data", "/missing"])
    assert usage["/data"]["limit_bytes"] >= usage["/data"]["used_bytes"] > 0
    assert "error" in usage["/missing"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user 5\nsystem 7\n", {"user": 5, "system": 7}),
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 2", {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 2}),
        ("", {}),
        ("a 1 2\nb\n", {}),  # the token pairs do not parse: the line loop decides
        ("a x\nb 2\n", {"b": 2}),
        ("a 1\n\nb 2\n", {"a": 1, "b": 2}),
    ],
)
def test_flat_keyed_files_parse_line_by_line_in_effect(text, expected):
    """The one-split fast path gives what reading line by line gives, odd lines included."""
    assert cgroup_parse.parse_flat_keyed(text) == expected
