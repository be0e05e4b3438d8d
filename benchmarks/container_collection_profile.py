"""Where one exporter collection's time goes: the daemon in-process over N real containers.

Starts a private rootful ``podman system service`` and N idle busybox containers (as
``container_exporter_bench.py``), runs the exporter's ``Daemon`` in this process (discovery by the
events stream, no listener, no push sinks) and then times ``Daemon.collect()`` ``--collections``
times: wall (``perf_counter``) and CPU (``thread_time``) per collection, with the load average
before and after. ``--cprofile`` adds one cProfile of ``--profile-collections`` collections (top
functions by own time); ``--pause`` waits before the timed part so ``strace -c -p <pid>`` can be
attached (the pid is printed). ``--baseline-rev REV`` also runs the exporter code of an earlier git
revision (its ``plugins/`` and ``services/``, imports renamed to ``qs_baseline``) as a second daemon
over the same containers, collections alternating with the current code's, so both meet the same
load.

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
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / ".venv"),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "integration" / "containers"),
    str(ROOT / "tests" / "integration" / "container_exporter"),
]

from cx_env import start_idle_containers, use_cx_prefix  # noqa: E402
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


def baseline_daemon_class(rev, workdir):
    """``Daemon`` of the exporter at git revision ``rev``, importable beside the current one."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "plugins", "services"],
                             capture_output=True, check=True).stdout  # fmt: skip
    base = Path(workdir) / "qs_baseline"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(base, filter="data")
    (base / "__init__.py").write_text("")
    for path in base.rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"ansible_collections\.quadstats\.stack\b", "qs_baseline", text))
    sys.path.insert(0, str(workdir))
    from qs_baseline.services.container_exporter.daemon import Daemon as BaselineDaemon  # noqa: PLC0415

    return BaselineDaemon


def timed(daemons, count):
    """Wall, CPU, user-mode and kernel-mode ms of ``count`` collections per daemon (this thread),
    the daemons taking turns."""
    figures = [([], [], [], []) for daemon in daemons]
    for _round in range(count):
        for daemon, (wall, cpu, user, system) in zip(daemons, figures):
            before = resource.getrusage(resource.RUSAGE_THREAD)
            started, cpu_started = time.perf_counter(), time.thread_time()
            daemon.collect()
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - cpu_started) * 1000)
            after = resource.getrusage(resource.RUSAGE_THREAD)
            user.append((after.ru_utime - before.ru_utime) * 1000)
            system.append((after.ru_stime - before.ru_stime) * 1000)
    return figures


def report(args, daemons, figures, loads, gc_clock):
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {loads[0]:.2f} before, {loads[1]:.2f} after")  # fmt: skip
    print(f"{args.containers} containers, {args.collections} collections per daemon (Daemon.collect, in-process)")
    for (label, _one), (wall, cpu, user, system) in zip(daemons, figures):
        print(f"{label}:")
        print(f"  wall ms: {quantiles(wall)}")
        print(f"  CPU ms:  {quantiles(cpu)}")
        # rusage is charged in scheduler ticks: only the means say something per collection.
        print(f"    mean user-mode ms {statistics.mean(user):.2f}, kernel-mode ms {statistics.mean(system):.2f}")
        waits = [w - c for w, c in zip(wall, cpu)]
        print(f"  wall - CPU (waiting for a core, I/O) ms: {quantiles(waits)}")
    runs = ", ".join(f"gen{g} {n} / {t * 1000:.1f}" for g, (n, t) in enumerate(zip(gc_clock.runs, gc_clock.seconds)))
    print(f"cyclic GC during the timed part (runs, ms in total) by generation: {runs}; "
          f"{len(gc.get_objects())} tracked objects")  # fmt: skip


def print_profile(daemon, count):
    """cProfile of ``count`` collections, top functions by own time."""
    profile = cProfile.Profile()
    profile.enable()
    for _round in range(count):
        daemon.collect()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    print(f"cProfile of {count} collections (per-call times include profiling overhead):")
    print(out.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--collections", type=int, default=200)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--profile-collections", type=int, default=100)
    parser.add_argument("--baseline-rev", help="git revision whose exporter code runs alongside")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to wait before the timed part")
    args = parser.parse_args()
    if not podman_available():
        sys.exit("needs root, podman and runc")
    podman = use_cx_prefix(Podman())
    daemon = None
    daemons = []
    workdir = tempfile.mkdtemp(prefix="qs-cx-profile-")
    try:
        names = [f"{podman.prefix}prof-{i:03d}" for i in range(args.containers)]
        start_idle_containers(podman, names)
        cfg = parse_settings(
            {
                "engine": {"socket": podman.socket},
                "discovery": {"labels": {"io.quadstats.test": podman.run_id}},
                "listen": {"enabled": False},
                "log_level": "warning",
            }
        )
        daemon = Daemon(cfg).start()
        daemons = [("current", daemon)]
        if args.baseline_rev:
            daemons.append(
                (f"baseline {args.baseline_rev}", baseline_daemon_class(args.baseline_rev, workdir)(cfg).start())
            )
        for _label, one in daemons:
            wait_for(
                lambda one=one: len(one.samples) == args.containers, timeout=120, what=f"{args.containers} containers"
            )
            one.collect()  # warm-up: first rates
        if args.pause:
            print(f"pid {os.getpid()}: timed part in {args.pause:g} s", flush=True)
            time.sleep(args.pause)
        load_before = os.getloadavg()
        gc_clock = GcClock()
        gc.callbacks.append(gc_clock)
        figures = timed([one for _label, one in daemons], args.collections)
        gc.callbacks.remove(gc_clock)
        load_after = os.getloadavg()
        report(args, daemons, figures, (load_before[0], load_after[0]), gc_clock)
        if args.cprofile:
            print_profile(daemon, args.profile_collections)
    finally:
        for _label, one in daemons:
            one.stop()
            one.close()
        podman.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
