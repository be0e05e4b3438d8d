"""OneFS exporter soak: many collection cycles with faults, RSS sampled along the way.

Starts the OneFS simulator in its own process, then drives the exporter's own pollers
(``ClusterPoller.tick`` on an injected clock, so each cycle is due at once: a compressed interval)
for two clusters: one live (faults injected on a schedule) and one that never answers. Every cycle
also renders ``/metrics`` for both clusters and encodes InfluxDB lines (discard sink). Prints the
RSS of this process every ``--report`` cycles and the growth after warm-up.

Run from the repository root:  .venv/bin/python benchmarks/onefs_exporter_soak.py --cycles 10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import ssl
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv"), str(ROOT / "tests")]

from onefs_bench import start_simulator  # noqa: E402

from ansible_collections.quadstats.stack.services.onefs_exporter.config import parse_config  # noqa: E402
from ansible_collections.quadstats.stack.services.onefs_exporter.poller import ClusterPoller  # noqa: E402
from ansible_collections.quadstats.stack.services.onefs_exporter.sinks import DiscardSink  # noqa: E402
from ansible_collections.quadstats.stack.services.onefs_exporter.state import (  # noqa: E402
    ClusterState,
    render_clusters,
)

SIM_PASSWORD = "sim-password"  # noqa: S105 - the simulator's default, a local test server
# cycle modulo -> (description, control path, JSON body) injected at that point of every period
FAULTS = {
    50: ("malformed answer", "/_sim/faults", {"malformed_json": 1}),
    120: ("HTTP 503 x2", "/_sim/faults", {"status_503": 2}),
    200: ("session expired", "/_sim/faults", {"expire_sessions": True}),
    260: ("one 401", "/_sim/faults", {"force_401": 1}),
    320: ("node 2 down", "/_sim/nodes", {"down": [2]}),
    380: ("node 2 up", "/_sim/nodes", {"up": [2]}),
    440: ("connection dropped", "/_sim/faults", {"drop_connection": 1}),
}
PERIOD = 500


def rss_kib():
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def control(port, ca_path, path, body):
    ctx = ssl.create_default_context(cafile=ca_path)
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310
        resp.read()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def main():  # noqa: PLR0915 - one linear soak script
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--report", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000, help="cycles before the RSS baseline")
    args = parser.parse_args()
    proc, port, ca_path = start_simulator(3, 7, max_seconds=7200)
    tmp = tempfile.TemporaryDirectory(prefix="onefs-soak-")
    pw = Path(tmp.name) / "pw"
    pw.write_text(SIM_PASSWORD)
    pw.chmod(0o600)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # nothing listens here after the socket closes
    base = {"host": "127.0.0.1", "username": "statsreader", "password_file": str(pw), "retries": 0, "timeout": 5}
    config = parse_config(
        {
            "clusters": [
                dict(base, name="live", port=port, ca_file=ca_path, summary=["protocol", "drive"], quotas=True),
                dict(base, name="dead", port=dead_port, ca_file=ca_path),
            ],
            "stat_groups": [
                {"name": "cpu", "keys": ["cluster.cpu.user.avg", "cluster.cpu.sys.avg"], "interval": 1},
                {"name": "node", "keys": ["node.load.1min", "node.disk.busy.avg", "node.ifs.cache"], "interval": 1},
                {"name": "proto", "keys": ["cluster.protostats.nfs", "cluster.protostats.smb2"], "interval": 1},
            ],
            "min_update_interval": 1,
            "summary_interval": 1,
            "quotas": {"interval": 10},
            "sinks": {"discard": {}},
        }
    )
    clock = Clock()
    sink = DiscardSink()
    states = [ClusterState(c.name, clock) for c in config.clusters]
    pollers = [ClusterPoller(config, c, s, publish=sink.publish, clock=clock) for c, s in zip(config.clusters, states)]
    for poller in pollers:
        poller.connect()
    baseline = None
    peak = 0
    ups = {0: 0, 1: 0}
    series_seen = 0
    start = time.perf_counter()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"cycles: {args.cycles}, faults every {PERIOD} cycles: {', '.join(f[0] for f in FAULTS.values())}")
    try:
        for cycle in range(1, args.cycles + 1):
            fault = FAULTS.get(cycle % PERIOD)
            if fault:
                control(port, ca_path, fault[1], fault[2])
            clock.now += 1.0
            for poller in pollers:
                poller.tick()
            text = render_clusters(states)
            series_seen = max(series_seen, text.count("\n"))
            ups[states[0].up] += 1
            if cycle == args.warmup:
                baseline = rss_kib()
            if cycle % args.report == 0:
                rss = rss_kib()
                peak = max(peak, rss)
                print(
                    f"cycle {cycle:6d}: RSS {rss / 1024:6.1f} MiB, live up={states[0].up} "
                    f"errors={dict(sorted(states[0].errors.items()))} renewals={states[0].renewals} "
                    f"dead errors={states[1].errors} ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    finally:
        for poller in pollers:
            poller.client.close()
        proc.terminate()
        proc.wait(timeout=10)
        tmp.cleanup()
    final = rss_kib()
    print(f"live cluster up in {ups[1]} of {args.cycles} cycles; /metrics up to {series_seen} lines")
    if baseline:
        print(
            f"RSS after {args.warmup} warm-up cycles {baseline / 1024:.1f} MiB, at the end {final / 1024:.1f} MiB "
            f"(growth {(final - baseline) / 1024:+.1f} MiB), peak {max(peak, final) / 1024:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
