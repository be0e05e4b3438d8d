"""Container statistics benchmark: one full collection over N idle containers, five ways.

Starts a private rootful ``podman system service`` (test-only containers.conf: runc, ulimits),
N idle busybox containers (local image, no registry), discovers them once (PIDs from the libpod
list; the events stream keeps that set exact afterwards), then times one full collection of CPU,
memory, network, block IO and pids for all N containers, side by side in one run:

1. ``cgroup``  - this collection's cgroup-direct path (Collector source=cgroup);
2. ``api``     - this collection's API path (Collector source=api: one libpod stats call);
3. ``podman stats --no-stream --format json`` (CLI, its own process);
4. ``libpod``  - ``GET /v4.0.0/libpod/containers/stats?stream=false`` (raw, all containers);
5. ``compat``  - one ``GET /containers/{id}/stats?stream=false&one-shot=true`` per container.

Wall time and CPU time (min/median/max over the repeats). CPU counts every process doing the work:
this process (``process_time``), the podman service (its /proc/<pid>/stat) and, for the CLI, the
child process (``RUSAGE_CHILDREN``). The collector's memory is the max RSS of a fresh Python process
that runs only the cgroup collector. Containers are removed at the end.

Run from the repository root as root:
  .venv/bin/python benchmarks/container_stats_bench.py [--containers 100 --repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv"), str(ROOT / "tests"), str(ROOT / "tests" / "integration" / "containers")]

from podman_env import Podman, podman_available  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine as engine_mod  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.collector import Collector  # noqa: E402

GROUPS = ["cpu", "memory", "network", "blkio", "pids"]

RSS_PROBE = """
import resource, sys
GROUPS = ["cpu", "memory", "network", "blkio", "pids"]
sys.path.insert(0, sys.argv[1])
from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine, collector
eng = engine.connect(sock=sys.argv[2])
col = collector.Collector(eng, source="cgroup", metrics=GROUPS)
refs = [r for r in eng.list_running() if r["name"].startswith(sys.argv[3])]
for _ in range(20):
    samples = col.sample(refs)
print(len(samples), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def proc_cpu(pid):
    """CPU seconds of every thread of ``pid`` (scheduler run time, nanosecond resolution)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except FileNotFoundError:
            continue
    return total / 1e9


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(action, service_pid, repeats):
    walls, cpus = [], []
    action()  # warm-up (connections, caches), not counted
    for _repeat in range(repeats):
        svc0, own0, kids0, t0 = proc_cpu(service_pid), time.process_time(), children_cpu(), time.perf_counter()
        count = action()
        t1, own1, kids1, svc1 = time.perf_counter(), time.process_time(), children_cpu(), proc_cpu(service_pid)
        walls.append((t1 - t0) * 1000)
        cpus.append(((own1 - own0) + (kids1 - kids0) + (svc1 - svc0)) * 1000)
    return count, walls, cpus


def fmt(values):
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def start_containers(env, count):
    names = [f"{env.prefix}idle-{i:03d}" for i in range(count)]
    for name in names:
        env.podman("create", "--name", name, "--label", env.label, env.image, "sleep", "3600")
    for start in range(0, count, 25):
        env.podman("start", *names[start : start + 25], timeout=300)
    return names


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if not podman_available():
        sys.exit("needs root, podman and runc (apt-get install podman runc busybox-static)")
    env = Podman()
    try:
        t0 = time.perf_counter()
        start_containers(env, args.containers)
        print(f"started {args.containers} idle containers in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        service_pid = env.services[0].pid
        eng = engine_mod.connect(sock=env.socket)
        t0 = time.perf_counter()
        refs = [r for r in eng.list_running() if r["name"].startswith(env.prefix)]
        discovery_ms = (time.perf_counter() - t0) * 1000
        if len(refs) != args.containers:
            sys.exit(f"expected {args.containers} running containers, found {len(refs)}")
        cgroup = Collector(eng, source="cgroup", metrics=GROUPS)
        api = Collector(eng, source="api", metrics=GROUPS)
        ids = [r["id"] for r in refs]
        names = [r["name"] for r in refs]

        def cli():
            proc = env.podman("stats", "--no-stream", "--format", "json", *names, check=False)
            if proc.returncode != 0:
                raise RuntimeError("podman stats failed: " + proc.stderr.strip())
            return len(json.loads(proc.stdout))

        methods = [
            ("cgroup path (this collection)", lambda: len(cgroup.sample(refs))),
            ("API path (this collection, libpod)", lambda: len(api.sample(refs))),
            ("podman stats --no-stream", cli),
            ("libpod all-containers stats endpoint", lambda: len(eng.libpod_stats())),
            ("compat stats?one-shot=true per container", lambda: sum(1 for i in ids if eng.compat_stats(i))),
        ]
        rows = []
        for label, action in methods:
            count, walls, cpus = measure(action, service_pid, args.repeats)
            rows.append((label, count, walls, cpus))
            print(f"{label}: wall {fmt(walls)} ms, cpu {fmt(cpus)} ms", file=sys.stderr)
        eng.close()
        probe = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, str(ROOT / ".venv"), env.socket, env.prefix],
            capture_output=True,
            text=True,
            check=True,
        )
        sampled, rss_kib = probe.stdout.split()
    finally:
        env.cleanup()
    print(
        f"\n{args.containers} idle containers, rootful podman {eng.version} (runc, cgroup v1 hybrid), "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.repeats} repeats; {time.strftime('%Y-%m-%d')}\n"
    )
    print("| method | containers | wall ms min / median / max | CPU ms min / median / max |")
    print("|---|---|---|---|")
    for label, count, walls, cpus in rows:
        print(f"| {label} | {count} | {fmt(walls)} | {fmt(cpus)} |")
    print(f"\ndiscovery (libpod list with PIDs, once; then events): {discovery_ms:.1f} ms")
    rss_mib = int(rss_kib) / 1024
    print(f"collector process max RSS (fresh python, {sampled} containers x 20 collections): {rss_mib:.1f} MiB")


if __name__ == "__main__":
    main()
