"""Where one exporter collection's time goes: the daemon in-process over N real containers.

Starts a private rootful ``podman system service`` and N idle busybox containers (as
``container_exporter_bench.py``), runs the exporter's ``Daemon`` in this process (discovery by the
events stream, no listener, no push sinks) and then times ``Daemon.collect()`` ``--collections``
times: wall (``perf_counter``) and CPU (``thread_time``) per collection, with the load average
before and after. ``--cprofile`` adds one cProfile of ``--profile-collections`` collections (top
functions by own time); ``--pause`` waits before the timed part so ``strace -c -p <pid>`` can be
attached (the pid is printed).

Run from the repository root as root:
  .venv/bin/python benchmarks/container_collection_profile.py [--containers 100 --collections 200 --cprofile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / ".venv"),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "integration" / "containers"),
    str(ROOT / "tests" / "integration" / "container_exporter"),
]

from cx_env import use_cx_prefix  # noqa: E402
from podman_env import Podman, podman_available, wait_for  # noqa: E402

from ansible_collections.quadstats.stack.services.container_exporter.daemon import Daemon  # noqa: E402
from ansible_collections.quadstats.stack.services.container_exporter.settings import parse_settings  # noqa: E402


def quantiles(values):
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"min {ordered[0]:.2f} / median {statistics.median(ordered):.2f} / p95 {p95:.2f} / max {ordered[-1]:.2f}"


class GcClock:
    """Time spent in the cyclic garbage collector, by generation (``gc.callbacks``)."""

    def __init__(self):
        self.started = None
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]

    def __call__(self, phase, info):
        if phase == "start":
            self.started = time.perf_counter()
        elif self.started is not None:
            self.seconds[info["generation"]] += time.perf_counter() - self.started
            self.runs[info["generation"]] += 1


def timed(daemon, count):
    """Wall, CPU, user-mode and kernel-mode ms of each of ``count`` collections (this thread)."""
    wall, cpu, user, system = [], [], [], []
    for _round in range(count):
        before = resource.getrusage(resource.RUSAGE_THREAD)
        started, cpu_started = time.perf_counter(), time.thread_time()
        daemon.collect()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - cpu_started) * 1000)
        after = resource.getrusage(resource.RUSAGE_THREAD)
        user.append((after.ru_utime - before.ru_utime) * 1000)
        system.append((after.ru_stime - before.ru_stime) * 1000)
    return wall, cpu, user, system


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--collections", type=int, default=200)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--profile-collections", type=int, default=100)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to wait before the timed part")
    args = parser.parse_args()
    if not podman_available():
        sys.exit("needs root, podman and runc")
    podman = use_cx_prefix(Podman())
    daemon = None
    try:
        names = [f"{podman.prefix}prof-{i:03d}" for i in range(args.containers)]
        for name in names:
            podman.podman("create", "--name", name, "--label", podman.label, podman.image, "sleep", "3600")
        for first in range(0, len(names), 25):
            podman.podman("start", *names[first : first + 25], timeout=300)
        cfg = parse_settings(
            {
                "engine": {"socket": podman.socket},
                "discovery": {"labels": {"io.quadstats.test": podman.run_id}},
                "listen": {"enabled": False},
                "log_level": "warning",
            }
        )
        daemon = Daemon(cfg).start()
        wait_for(lambda: len(daemon.samples) == args.containers, timeout=120, what=f"{args.containers} containers")
        daemon.collect()  # warm-up: first rates
        if args.pause:
            print(f"pid {os.getpid()}: timed part in {args.pause:g} s", flush=True)
            time.sleep(args.pause)
        load_before = os.getloadavg()
        gc_clock = GcClock()
        gc.callbacks.append(gc_clock)
        wall, cpu, user, system = timed(daemon, args.collections)
        gc.callbacks.remove(gc_clock)
        load_after = os.getloadavg()
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, "
              f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip
        print(f"{args.containers} containers, {args.collections} collections (Daemon.collect, in-process)")
        print(f"wall ms: {quantiles(wall)}")
        print(f"CPU ms:  {quantiles(cpu)}")
        # rusage is charged in scheduler ticks: only the means say something per collection.
        print(f"  mean user-mode ms {statistics.mean(user):.2f}, kernel-mode ms {statistics.mean(system):.2f}")
        print("cyclic GC during the timed part (runs, ms in total) by generation: "
              + ", ".join(f"gen{g} {n} / {t * 1000:.1f}" for g, (n, t) in enumerate(zip(gc_clock.runs, gc_clock.seconds)))
              + f"; {len(gc.get_objects())} tracked objects")  # fmt: skip
        waits = [w - c for w, c in zip(wall, cpu)]
        print(f"wall - CPU (waiting: scheduling, I/O) ms: {quantiles(waits)}")
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for _round in range(args.profile_collections):
                daemon.collect()
            profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            print(f"cProfile of {args.profile_collections} collections (per-call times include profiling overhead):")
            print(out.getvalue())
    finally:
        if daemon is not None:
            daemon.stop()
            daemon.close()
        podman.cleanup()


if __name__ == "__main__":
    main()
