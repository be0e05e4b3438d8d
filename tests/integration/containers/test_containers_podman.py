"""The container statistics core against real rootful podman 4.3.1 containers doing known work.

Real cgroup v1 accounting (this machine's hybrid hierarchy), the engine's compat and libpod APIs,
the events stream, and the docker SDK over a loopback TCP service. Tolerances are physical bounds
(CPU of a single-threaded busy loop is at most one core; a container holds at least what it wrote),
cross-checked against an independent source where one exists (/proc/<pid>/stat).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest
from podman_env import REPO, Podman, block_device_of, free_tcp_port, podman_available, wait_for

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse, cgroup_parse, exposition
from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine as engine_mod
from ansible_collections.quadstats.stack.plugins.module_utils.containers.discovery import RunningSet
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import UnknownContainer
from ansible_collections.quadstats.stack.plugins.module_utils.containers.formulas import rates
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import (
    ContainerSampler,
    gone_names,
    select,
)

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
]

MIB = 1024 * 1024
HELD = 64 * MIB
WRITTEN = 20 * MIB
RECEIVED = 8 * MIB


@pytest.fixture(scope="module")
def podman():
    env = Podman()
    try:
        yield env
    finally:
        env.cleanup()


@pytest.fixture(scope="module")
def engine(podman):
    eng = engine_mod.connect(sock=podman.socket)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def work(podman):
    """Containers doing known work, started once for the module."""
    names = {
        "busy": podman.run("busy", "exec yes > /dev/null"),
        "mem": podman.run("mem", f"head -c {HELD} /dev/zero > /dev/shm/hold && exec sleep 600", "--shm-size", "128m"),
        "net": podman.run("net", "while true; do nc -l -p 9000 > /dev/null; done"),
    }
    device = block_device_of("/var/lib/containers")
    if device:
        # Kernels >= 6.10 only account cgroup v1 block IO on devices with a throttle rule.
        names["disk"] = podman.run(
            "disk",
            f"dd if=/dev/zero of=/tmp/f bs=1M count={WRITTEN // MIB} oflag=direct && touch /tmp/done && exec sleep 600",
            "--device-write-bps",
            f"{device}:10gb",
        )
    return names


def one(samples, name):
    [entry] = [c for c in samples if c["name"] == name]
    return entry


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def schedstat(pid):
    """(ns on a CPU, ns runnable but waiting for a CPU) of one task, from the scheduler."""
    with open(f"/proc/{pid}/schedstat") as handle:
        run, wait = handle.read().split()[:2]
    return int(run), int(wait)


def bracketed(pid, action):
    """Run ``action`` and measure the task's CPU share over the same window independently:
    returns (action's result, run %, wait %, /proc/<pid>/stat %)."""
    cpu0, (run0, wait0), t0 = proc_cpu_seconds(pid), schedstat(pid), time.monotonic_ns()
    out = action()
    cpu1, (run1, wait1), t1 = proc_cpu_seconds(pid), schedstat(pid), time.monotonic_ns()
    wall = t1 - t0
    return out, (run1 - run0) * 100 / wall, (wait1 - wait0) * 100 / wall, (cpu1 - cpu0) * 1e11 / wall


def test_engine_detected_as_rootful_podman(engine):
    described = engine.describe()
    assert described["kind"] == "podman"
    assert described["rootless"] is False
    assert described["version"]


def test_busy_container_uses_about_one_core(engine, work):
    """A busy loop wants one whole core: it is either running or waiting for a CPU (the machine's
    2 cores are shared, so the running share alone depends on other load). The collector's CPU % must
    match the scheduler's own accounting of the loop over the same window."""
    sampler = ContainerSampler(engine, metrics=["cpu"])
    refs = select(engine, engine.list_running(), [work["busy"]])[0]
    ident, pid = refs[0]["id"], refs[0]["pid"]

    def two_samples():
        first = sampler.read(refs)
        time.sleep(2)
        return first, sampler.read(refs)

    ((first, mono_first), (second, mono_second)), run_pct, wait_pct, proc_pct = bracketed(pid, two_samples)
    assert second[ident]["source"] == "cgroup-v1"
    elapsed = mono_second[ident] - mono_first[ident]
    measured = rates(first[ident]["counters"], second[ident]["counters"], elapsed)["cpu_percent"]
    facts = (measured, run_pct, wait_pct, proc_pct)
    assert measured <= 101, facts  # one thread cannot use more than one core
    assert run_pct + wait_pct >= 97, facts  # the loop wanted the whole core all the time
    assert abs(measured - run_pct) <= 2, facts  # cgroup cpuacct vs scheduler run time
    assert abs(measured - proc_pct) <= 5, facts  # /proc/<pid>/stat has 10 ms ticks
    assert measured >= 97 - wait_pct - 2, facts  # ~100 % of one core minus what others took


def test_memory_container_holds_what_it_wrote(engine, work):
    def held():
        result = ContainerSampler(engine, metrics=["memory"]).collect([work["mem"]])
        entry = one(result, work["mem"])
        return entry if entry["gauges"]["memory_working_set_bytes"] >= HELD else None

    entry = wait_for(held, what="64 MiB held in /dev/shm")
    gauges = entry["gauges"]
    assert gauges["memory_usage_bytes"] >= gauges["memory_working_set_bytes"] >= HELD
    assert gauges["memory_working_set_bytes"] < HELD + 16 * MIB
    assert gauges["memory_limit_bytes"] is None  # no limit given


def test_network_bytes_received(engine, work, podman):
    ip = podman.inspect(work["net"])["NetworkSettings"]["IPAddress"]
    if not ip:
        pytest.skip("container has no bridge address reachable from the machine")
    sampler = ContainerSampler(engine, metrics=["network"])
    before = one(sampler.collect([work["net"]]), work["net"])["counters"]["net_rx_bytes"]
    payload = b"q" * RECEIVED
    with socket.create_connection((ip, 9000), timeout=10) as conn:
        conn.sendall(payload)

    # the listener reads everything; wait until the kernel counted the bytes (readiness, not timing)
    def received():
        counters = one(sampler.collect([work["net"]]), work["net"])["counters"]
        return counters["net_rx_bytes"] - before if counters["net_rx_bytes"] - before >= RECEIVED else None

    delta = wait_for(received, what="received bytes")
    assert RECEIVED <= delta < RECEIVED * 1.2  # payload plus TCP/IP headers


def net_dev(pid):
    with open(f"/proc/{pid}/net/dev") as handle:
        return cgroup_parse.parse_net_dev(handle.read())


def test_api_network_figures_are_what_the_container_received_and_sent(engine, work, podman):
    """The API path (libpod and compat) against the container's own /proc/<pid>/net/dev, read just
    before and just after: each API figure must lie between the two reads. The container receives
    8 MiB and sends almost nothing, so swapped rx/tx could not pass. podman 4.3 swaps them; the core
    turns them back (engine.network_swapped)."""
    ip = podman.inspect(work["net"])["NetworkSettings"]["IPAddress"]
    if not ip:
        pytest.skip("container has no bridge address reachable from the machine")
    pid = podman.inspect(work["net"])["State"]["Pid"]
    start = net_dev(pid)["net_rx_bytes"]
    with socket.create_connection((ip, 9000), timeout=10) as conn:
        conn.sendall(b"n" * RECEIVED)
    wait_for(lambda: net_dev(pid)["net_rx_bytes"] - start >= RECEIVED, what="received bytes")
    sampler = ContainerSampler(engine, source="api", metrics=["network"])
    before = net_dev(pid)
    [libpod] = sampler.collect([work["net"]])
    compat = api_parse.values_from_compat_stats(engine.compat_stats(work["net"]), engine.network_swapped)[0]
    raw = engine.libpod_stats([libpod["id"]])[libpod["id"]]
    after = net_dev(pid)
    assert libpod["source"] == "api-libpod"
    if engine.network_swapped:  # podman < 4.4: the engine's own "input" is what the container sent
        assert before["net_tx_bytes"] <= raw["NetInput"] <= after["net_tx_bytes"], (raw, before, after)
        assert before["net_rx_bytes"] <= raw["NetOutput"] <= after["net_rx_bytes"], (raw, before, after)
    for counters in (libpod["counters"], compat):
        for key in ("net_rx_bytes", "net_tx_bytes"):
            assert before[key] <= counters[key] <= after[key], (key, before, counters, after)
    assert libpod["counters"]["net_rx_bytes"] > libpod["counters"]["net_tx_bytes"] + RECEIVED // 2


def test_disk_bytes_written_and_mount_usage(engine, work, podman):
    if "disk" not in work:
        pytest.skip("no block device found under /var/lib/containers for a blkio throttle rule")
    wait_for(lambda: podman.podman("exec", work["disk"], "test", "-f", "/tmp/done", check=False).returncode == 0)
    sampler = ContainerSampler(engine, metrics=["blkio"], mounts=["/tmp", "/nonexistent"])
    entry = one(sampler.collect([work["disk"]]), work["disk"])
    assert WRITTEN <= entry["counters"]["blkio_write_bytes"] < WRITTEN + 4 * MIB
    assert entry["counters"]["blkio_write_ops"] >= WRITTEN // MIB
    usage = entry["disk"]["/tmp"]
    assert usage["limit_bytes"] >= usage["used_bytes"] >= WRITTEN
    assert "error" in entry["disk"]["/nonexistent"]


def test_limits_and_an_oom_kill_are_counted(engine, podman):
    """32 MiB limit, 50 pids; a child that sorts 64 MiB from /dev/zero (one line, held in memory)
    is OOM-killed while the container's shell survives."""
    name = podman.run(
        "oom",
        f"(echo 1000 > /proc/self/oom_score_adj; head -c {HELD} /dev/zero | sort > /dev/null); exec sleep 600",
        *("--memory", "32m", "--memory-swap", "32m", "--pids-limit", "50"),
    )
    sampler = ContainerSampler(engine, metrics=["memory", "pids"])

    def killed():
        entry = one(sampler.collect([name]), name)
        return entry if entry["counters"].get("memory_oom_kills", 0) >= 1 else None

    entry = wait_for(killed, what="an OOM kill in the container")
    assert entry["state"] == "running"
    assert entry["counters"]["memory_oom_kills"] == 1
    assert entry["gauges"]["memory_limit_bytes"] == 32 * MIB
    assert entry["gauges"]["pids_max"] == 50
    assert entry["gauges"]["memory_usage_bytes"] <= 32 * MIB
    text = exposition.to_prometheus([entry])
    assert f'container_oom_events_total{{id="{entry["id"]}",image="{podman.image}",name="{name}"}} 1\n' in text
    assert (
        f'container_spec_memory_limit_bytes{{id="{entry["id"]}",image="{podman.image}",name="{name}"}} 33554432' in text
    )


def test_api_sources_agree_with_cgroups(engine, work, podman):
    pid = podman.inspect(work["busy"])["State"]["Pid"]
    sampler = ContainerSampler(engine, source="api", metrics=["cpu", "memory", "network"])
    libpod, run_pct = bracketed(pid, lambda: sampler.collect([work["busy"], work["mem"]], sample_seconds=2))[:2]
    busy = one(libpod, work["busy"])
    assert busy["source"] == "api-libpod"
    # the API's read time is less exact than the cgroup path's (request latency on each sample)
    assert abs(busy["rates"]["cpu_percent"] - run_pct) <= 10, (busy["rates"], run_pct)
    assert one(libpod, work["mem"])["gauges"]["memory_usage_bytes"] >= HELD
    compat = engine.compat_stats(work["mem"])
    assert compat["memory_stats"]["usage"] >= HELD
    by_id = engine.libpod_stats()
    assert podman.inspect(work["mem"])["Id"] in by_id


def test_docker_sdk_over_tcp_uses_the_api_path(podman, work):
    port = free_tcp_port()
    podman.start_service(f"tcp://127.0.0.1:{port}")
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, what="podman TCP service")
    remote = engine_mod.connect(sock=f"tcp://127.0.0.1:{port}")
    try:
        assert type(remote).__name__ == "SdkEngine"
        assert remote.kind == "podman"
        result = ContainerSampler(remote, metrics=["memory", "cpu"]).collect([work["mem"]])
        entry = one(result, work["mem"])
        assert entry["source"] == "api-compat"
        assert entry["gauges"]["memory_usage_bytes"] >= HELD
    finally:
        remote.close()


def test_events_track_start_exit_by_itself_rename_and_remove(engine, podman):
    running = RunningSet(engine.list_running())
    changes = []
    stop = threading.Event()
    # Replay from before the first container starts, so a stream that connects late under load misses nothing.
    since = int(time.time()) - 2

    errors = []

    def follow():
        # The stream ends after 20 idle seconds or on a connection error: reconnect and replay from
        # the start (a replayed event changes nothing twice), as the daemon does, until the test ends.
        while not stop.is_set():
            try:
                for event in engine.events(since=since, timeout=20):
                    change = running.apply(event)
                    if change:
                        changes.append((change[0], change[1]["name"], event["action"]))
                    if stop.is_set():
                        return
            except Exception as exc:  # reported in the failure message below
                errors.append(repr(exc))
                time.sleep(0.5)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.5)  # let the stream connect before the first event
    long_name = podman.run("ev-long", "exec sleep 600")
    short_name = podman.run("ev-short", "exec sleep 1")
    podman.podman("rename", long_name, long_name + "-renamed")
    podman.podman("wait", short_name)
    podman.podman("rm", "-f", "-t", "0", long_name + "-renamed")
    podman.podman("rm", short_name)
    try:
        wait_for(
            lambda: (
                ("removed", long_name + "-renamed", "destroy") in changes
                or ("removed", long_name + "-renamed", "die") in changes
            ),
            timeout=60,
            what="events for the removed container",
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; changes seen: {changes}; stream errors: {errors}") from None
    stop.set()
    assert ("added", long_name, "start") in changes
    assert ("added", short_name, "start") in changes
    assert ("renamed", long_name + "-renamed", "rename") in changes
    assert ("removed", short_name, "die") in changes  # exited by itself: only die, no stop
    assert short_name not in running.names()
    assert long_name + "-renamed" not in running.names()


def test_unknown_container_is_named(engine):
    with pytest.raises(UnknownContainer, match="qsct-no-such-container"):
        ContainerSampler(engine).collect(["qsct-no-such-container"])


def test_container_exiting_mid_sample_is_reported_gone(engine, podman):
    name = podman.run("gone", "exec sleep 2")
    result = ContainerSampler(engine).collect([name], sample_seconds=4)
    entry = one(result, name)
    assert entry["state"] == "gone"
    assert name in gone_names(result)
    assert entry["error"]["kind"] == "gone"
    assert entry["rates"] == {}
    assert "counters" in entry


def test_stopped_container_asked_by_name_is_not_a_crash(engine, podman):
    name = podman.run("stopped", "true")
    podman.podman("wait", name)
    result = ContainerSampler(engine).collect([name])
    assert one(result, name)["state"] in ("exited", "stopped")
    assert name in gone_names(result)


def test_permission_denied_names_user_and_socket(podman):
    """As ``nobody`` with the bare system python3 (stdlib only), the root-only socket is refused."""
    if not os.path.exists("/usr/bin/python3") or not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("needs /usr/bin/python3 and setpriv")
    code = (
        "import sys\n"
        "from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine\n"
        "try:\n    engine.connect(sock=sys.argv[1])\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", code, podman.socket],
        env={"PYTHONPATH": str(REPO / ".venv"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("EnginePermissionDenied"), proc.stdout
    assert podman.socket in proc.stdout
    assert "user nobody (uid 65534)" in proc.stdout


def test_core_runs_on_the_system_python_without_the_venv(podman, work):
    """The module's core needs only the standard library (what a bare target's python3 has)."""
    code = (
        "import sys, json\n"
        "from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine, sampler\n"
        "eng = engine.connect(sock=sys.argv[1])\n"
        "res = sampler.ContainerSampler(eng).collect([sys.argv[2]])\n"
        "print(json.dumps(res[0]['gauges']))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'requests', 'ansible')))\n"
    )
    proc = subprocess.run(
        [
            "/usr/bin/python3",
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO / '.venv')!r})\n" + code,
            podman.socket,
            work["mem"],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"memory_working_set_bytes"' in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
