"""Container exporter benchmark: the daemon's cost at a 15 s scrape over N containers, side by side
with ``podman stats --no-stream`` in the same run, then an RSS soak with a compressed interval.

Starts a private rootful ``podman system service`` (test-only containers.conf: runc, ulimits), N idle
busybox containers (local image, no registry) and the exporter as a real subprocess
(``python3 -m ...services.container_exporter``, every scrape one full collection:
``collection.scrape_max_age: 0``, no push sinks). Then, every ``--interval`` seconds for ``--scrapes``
rounds: one ``GET /metrics`` and one ``podman stats --no-stream --format json <N names>``.

Figures:
- exporter CPU: utime + stime of the exporter process (and its children) over the timed part, as a
  percent of one core of wall time; RSS: VmRSS at the end and VmHWM (peak);
- one full collection: the exporter's own ``collection_duration_seconds`` (wall time of the read of
  every container, measured inside the daemon) and the scrape's wall time seen by the client;
- ``podman stats``: wall and CPU (its process, ``RUSAGE_CHILDREN``) per call;
- soak: ``--soak`` scrapes back to back (each one full collection, i.e. ``--soak`` x 15 s of
  service time compressed), RSS every tenth of the way.

Run from the repository root as root:
  .venv/bin/python benchmarks/container_exporter_bench.py [--containers 100 --scrapes 20 --interval 15 --soak 2400]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / ".venv"),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "integration" / "containers"),
    str(ROOT / "tests" / "integration" / "container_exporter"),
]

from cx_env import Exporter, parse_metrics, start_idle_containers, use_cx_prefix  # noqa: E402
from podman_env import Podman, podman_available  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def memory_kib(pid):
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def summary(values, scale=1.0):
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{ordered[0] * scale:.1f} / {statistics.median(ordered) * scale:.1f} / "
        f"{p95 * scale:.1f} / {ordered[-1] * scale:.1f}"
    )


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 # http://127.0.0.1 only
        return answer.read().decode()


def timed_run(podman, names, exporter, args):
    """Scrape and run podman stats every interval; print the side-by-side figures."""
    url = exporter.base + "/metrics"
    pid = exporter.proc.pid
    scrape_ms, stats_wall_ms, stats_cpu_ms = [], [], []
    cpu_start, wall_start = cpu_seconds(pid), time.monotonic()
    for _round in range(args.scrapes):
        round_start = time.monotonic()
        started = time.perf_counter()
        text = fetch(url)
        scrape_ms.append((time.perf_counter() - started) * 1000)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        podman.podman("stats", "--no-stream", "--format", "json", *names, timeout=120)
        stats_wall_ms.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats_cpu_ms.append((after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) * 1000)
        time.sleep(max(0.0, args.interval - (time.monotonic() - round_start)))
    wall = time.monotonic() - wall_start
    cpu = cpu_seconds(pid) - cpu_start
    rss, hwm = memory_kib(pid)
    metrics = parse_metrics(text)
    series = sum(1 for name, _labels, _value in metrics if name.startswith("container_"))
    quantiles = {
        (name.rsplit("_", 2)[-2], labels.get("quantile")): value
        for name, labels, value in metrics
        if name.startswith("quadstats_container_exporter_collection_") and "quantile" in labels
    }
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    print(f"containers {args.containers}, scrapes {args.scrapes} every {args.interval:g} s, {series} series/scrape")
    print(f"exporter CPU: {cpu:.2f} s over {wall:.0f} s = {cpu / wall * 100:.3f} % of one core")
    print(f"exporter RSS: {rss / 1024:.1f} MiB now, {hwm / 1024:.1f} MiB peak")
    for kind in ("duration", "cpu"):
        print(f"one full collection (inside the daemon), {'wall' if kind == 'duration' else 'CPU'} ms: median "
              f"{quantiles[kind, '0.5'] * 1000:.1f}, p95 {quantiles[kind, '0.95'] * 1000:.1f}")  # fmt: skip
    print(f"scrape wall ms (client; collection + rendering + HTTP)  min/median/p95/max: {summary(scrape_ms)}")
    print(f"podman stats --no-stream wall ms                       min/median/p95/max: {summary(stats_wall_ms)}")
    print(f"podman stats --no-stream CPU ms                        min/median/p95/max: {summary(stats_cpu_ms)}")


def soak(exporter, count):
    """Back-to-back scrapes (each one full collection); RSS every tenth of the way."""
    url = exporter.base + "/metrics"
    pid = exporter.proc.pid
    marks = []
    step = max(1, count // 10)
    soak_start = time.monotonic()
    for i in range(1, count + 1):
        fetch(url)
        if i % step == 0:
            marks.append(memory_kib(pid)[0] / 1024)
    print(f"soak: {count} back-to-back scrapes (= {count * 15 / 3600:.1f} h at 15 s) in "
          f"{time.monotonic() - soak_start:.0f} s; RSS MiB every {step}: "
          + " ".join(f"{m:.1f}" for m in marks))  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--soak", type=int, default=2400, help="back-to-back scrapes after the timed part")
    args = parser.parse_args()
    if not podman_available():
        sys.exit("needs root, podman and runc")
    podman = use_cx_prefix(Podman())
    exporter = None
    workdir = Path(tempfile.mkdtemp(prefix="qs-cx-bench-"))
    try:
        names = [f"{podman.prefix}bench-{i:03d}" for i in range(args.containers)]
        start_idle_containers(podman, names)
        exporter = Exporter(
            workdir,
            {
                "engine": {"socket": podman.socket},
                "discovery": {"labels": {"io.quadstats.test": podman.run_id}},
                "collection": {"scrape_max_age": 0},
                "log_level": "warning",
            },
        )
        url = exporter.base + "/metrics"
        exporter.wait(
            lambda: len(exporter.containers()) == args.containers, timeout=120, what=f"{args.containers} containers"
        )
        fetch(url)  # warm-up: first rates, imports
        timed_run(podman, names, exporter, args)
        if args.soak:
            soak(exporter, args.soak)
    finally:
        if exporter is not None:
            exporter.stop()
        podman.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
