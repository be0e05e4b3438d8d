"""OneFS exporter benchmark (issue 11): client CPU per 1,000 values against the floor, /metrics
rendering for 3 clusters, and the daemon's RSS with 3 clusters.

Workload: every key of the simulator's key dump (125 keys) on a cluster of 3 up nodes.

- **exporter**: the daemon's own collection path, ``ClusterPoller.tick`` (``OneFSSampler.read_frames``
  of the 125 keys in the fewest URL-limited requests, every row checked, a healthy reading kept as one
  deferred block frame that is decoded when rendered or pushed, one store entry per reading); the line
  "exporter + one uncached /metrics render" includes that decoding;
- **floor**: the same request targets fetched by a bare keep-alive ``http.client.HTTPSConnection``
  (verified TLS, basic auth) plus ``json.loads`` and nothing else;
- both in the same run, in alternating blocks; CPU is this process's ``time.process_time()`` (the
  simulator runs in its own process); both use basic auth so they send the same requests;
- optional ``--sdk-python PY``: the isi_sdk_8_0 client on the same simulator
  (``benchmarks/onefs_sdk_baseline.py``, one request per cycle with its own key set);
- the same per 1,000 values: the exporter plus one uncached ``/metrics`` text per cycle (response bytes
  to exposition), and the floor plus touching every value once from Python (no labels, no checks: a
  lower bound for any Python decoder, not a decoder);
- rendering: ``render_clusters`` of 3 clusters' stores (uncached), CPU per render;
- RSS: the daemon as a subprocess polling 3 clusters (125 keys each, all sinks on), scraped every
  second for ``--rss-seconds``; VmRSS and VmHWM from /proc.

Run from the repository root:  .venv/bin/python benchmarks/onefs_exporter_bench.py
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from operator import itemgetter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv"), str(ROOT / "tests")]

from onefs_bench import sdk_baseline, start_simulator  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import query  # noqa: E402
from ansible_collections.quadstats.stack.services.onefs_exporter.config import parse_config  # noqa: E402
from ansible_collections.quadstats.stack.services.onefs_exporter.poller import ClusterPoller  # noqa: E402
from ansible_collections.quadstats.stack.services.onefs_exporter.state import (  # noqa: E402
    ClusterState,
    render_clusters,
)

SIM_PASSWORD = "sim-password"  # noqa: S105 - the simulator's default, a local test server
USER = "statsreader"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make_config(port, ca_path, pw, keys, *, n_clusters=1, ports=None):
    clusters = []
    for index in range(n_clusters):
        entry = {
            "name": f"c{index + 1}",
            "host": "127.0.0.1",
            "port": port,
            "auth": "basic",
            "username": USER,
            "password_file": str(pw),
            "ca_file": ca_path,
            "cluster_label": f"cluster{index + 1}",
        }
        if ports:
            entry["prometheus_port"] = ports[index]
        clusters.append(entry)
    return {
        "clusters": clusters,
        "stat_groups": [{"name": "all", "keys": keys, "interval": 5}],
        "min_update_interval": 1,
        "sinks": {"discard": {}},
    }


def password_file(directory):
    path = Path(directory) / "pw"
    path.write_text(SIM_PASSWORD)
    path.chmod(0o600)
    return path


def simulator_keys(port, ca_path, pw):
    """Every key of the simulator's key dump (125 keys), read through the exporter's poller."""
    probe = parse_config(make_config(port, ca_path, pw, ["cluster.health"]), read_secrets=True)
    poller = ClusterPoller(probe, probe.clusters[0], ClusterState("probe"))
    poller.connect()
    try:
        return sorted(poller.client.load_all_keys())
    finally:
        poller.client.close()


def warm_pollers(port, ca_path, pw, keys, n_clusters):
    """(clock, pollers) of ``n_clusters`` clusters reading ``keys`` on an injected clock, after one
    warm-up tick each (login, identity, metadata)."""
    config = parse_config(make_config(port, ca_path, pw, keys, n_clusters=n_clusters), read_secrets=True)
    clock = Clock()
    pollers = [ClusterPoller(config, c, ClusterState(c.name, clock), clock=clock) for c in config.clusters]
    for poller in pollers:
        poller.connect()
        clock.now += 5.0
        poller.tick()
    return clock, pollers


def exporter_block(poller, clock, cycles):
    cpu0 = time.process_time()
    for _round in range(cycles):
        clock.now += 5.0
        poller.tick()
    cpu = time.process_time() - cpu0
    return cpu, poller.state.series_count() * cycles  # every cycle reads every key: same count each time


def exporter_render_block(poller, clock, cycles):
    """The tick plus one uncached /metrics text of the cluster per cycle: response bytes to exposition."""
    cpu0 = time.process_time()
    for _round in range(cycles):
        clock.now += 5.0
        poller.tick()
        poller.state.render()
    return time.process_time() - cpu0


def touch_once_block(conn, targets, headers, cycles):
    """The floor plus reading every value once from Python (scalars, and the numeric members of list
    items through one C-level itemgetter per shape): no labels, no type checks, no error rows. Not a
    decoder; it shows what any Python code touching each value costs on top of the floor."""
    getters = {}
    kept = None
    cpu0 = time.process_time()
    for _round in range(cycles):
        for target in targets:
            conn.request("GET", target, headers=headers)
            out = []
            for row in json.loads(conn.getresponse().read())["stats"]:
                value = row["value"]
                if type(value) is list:  # pylint: disable=unidiomatic-typecheck
                    if value and type(value[0]) is dict:  # pylint: disable=unidiomatic-typecheck
                        numeric = (int, float)  # exact types: json.loads makes no subclasses, and bool is not a value
                        names = tuple(k for k, v in value[0].items() if type(v) in numeric)  # pylint: disable=unidiomatic-typecheck
                        getter = getters.get(names)
                        if getter is None and names:
                            getter = getters[names] = itemgetter(*names)
                        if getter is not None:
                            out.extend(map(getter, value))
                else:
                    out.append((row["key"], value, row["time"]))
            kept = out
    del kept
    return time.process_time() - cpu0


def sampler_block(sampler, keys, cycles):
    cpu0 = time.process_time()
    values = 0
    for _round in range(cycles):
        values += len(sampler.read(keys)["stats"])
    return time.process_time() - cpu0, values


def floor_block(conn, targets, headers, cycles):
    cpu0 = time.process_time()
    rows = 0
    for _round in range(cycles):
        for target in targets:
            conn.request("GET", target, headers=headers)
            rows += len(json.loads(conn.getresponse().read())["stats"])
    return time.process_time() - cpu0, rows


def free_ports(count):
    socks = [socket.socket() for _round in range(count)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()
    return ports


def proc_status(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure_rss(sim, pw, keys, seconds, tmp):
    port, ca_path = sim
    ports = free_ports(4)
    config = make_config(port, ca_path, pw, keys, n_clusters=3, ports=ports[1:])
    config["stat_groups"][0]["interval"] = "*"
    config["sinks"] = {"prometheus": {"port": ports[0]}, "http_sd": {"enabled": True, "port": free_ports(1)[0]}}
    path = Path(tmp) / "rss.yml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".venv"))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.quadstats.stack.services.onefs_exporter", "--config", str(path)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    lines = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5) as resp:
                    lines = resp.read().count(b"\n")
            except OSError:
                continue
        return proc_status(daemon.pid, "VmRSS"), proc_status(daemon.pid, "VmHWM"), lines
    finally:
        daemon.terminate()
        daemon.wait(20)


def main():  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=40, help="cycles per block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--rss-seconds", type=float, default=30)
    parser.add_argument("--sdk-python", help="a Python with isi_sdk_8_0 for the SDK baseline")
    args = parser.parse_args()
    proc, port, ca_path = start_simulator(args.nodes, 7)
    tmp = tempfile.TemporaryDirectory(prefix="onefs-exporter-bench-")
    pw = password_file(tmp.name)
    try:
        keys = simulator_keys(port, ca_path, pw)
        clock, pollers = warm_pollers(port, ca_path, pw, keys, 3)
        states = [p.state for p in pollers]
        exporter = pollers[0]
        targets = [t for t, _batch in query.plan_batches(keys)]
        ctx = ssl.create_default_context(cafile=ca_path)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
        token = base64.b64encode(f"{USER}:{SIM_PASSWORD}".encode()).decode()
        headers = {"Accept": "application/json", "Authorization": "Basic " + token}
        floor_block(conn, targets, headers, 2)  # warm-up: TLS handshake
        values_per_cycle = None
        exp_ms, floor_ms, core_ms, ratios, render_ms, touch_ms = [], [], [], [], [], []
        requests_before = exporter.client.requests
        for _round in range(args.blocks):
            cpu, values = exporter_block(exporter, clock, args.cycles)
            values_per_cycle = values / args.cycles
            e = cpu * 1000 / (values / 1000)
            cpu, _rows = floor_block(conn, targets, headers, args.cycles)
            f = cpu * 1000 / (values / 1000)  # per the same 1,000 values the exporter produced
            cpu, core_values = sampler_block(pollers[1].sampler, keys, args.cycles)
            core_ms.append(cpu * 1000 / (core_values / 1000))
            cpu = exporter_render_block(pollers[2], clock, args.cycles)
            render_ms.append(cpu * 1000 / (values / 1000))
            cpu = touch_once_block(conn, targets, headers, args.cycles)
            touch_ms.append(cpu * 1000 / (values / 1000))
            exp_ms.append(e)
            floor_ms.append(f)
            ratios.append(e / f)
        requests_per_cycle = (exporter.client.requests - requests_before) / (args.blocks * args.cycles)
        conn.close()

        clock.now += 5.0
        for p in pollers:
            p.tick()  # every cluster's store fresh at the same clock, so none has expired for the renders
        render_cpu = []
        size = 0
        for _round in range(args.renders):
            cpu0 = time.process_time()
            size = len(render_clusters(states))
            render_cpu.append((time.process_time() - cpu0) * 1000)
        single_cpu = []
        for _round in range(args.renders):
            states[0]._rendered = {}
            cpu0 = time.process_time()
            render_clusters(states[:1])
            single_cpu.append((time.process_time() - cpu0) * 1000)
        series = sum(s.series_count() for s in states)
        for p in pollers:
            p.client.close()

        cycles = args.cycles * args.blocks
        baseline = sdk_baseline(args.sdk_python, port, ca_path, cycles) if args.sdk_python else None
        rss, hwm, lines = measure_rss((port, ca_path), pw, keys, args.rss_seconds, tmp.name)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        tmp.cleanup()
    med = statistics.median
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"workload: {len(keys)} keys, {args.nodes} up nodes, {values_per_cycle:.0f} values per cycle, "
        f"{requests_per_cycle:.0f} request(s) per cycle (URL-length minimum {query.minimum_requests(keys)})"
    )
    print(f"client CPU per 1,000 values, median of {args.blocks} blocks of {args.cycles} cycles:")
    print(f"  exporter (ClusterPoller.tick)      {med(exp_ms):.2f} ms (min {min(exp_ms):.2f}, max {max(exp_ms):.2f})")
    print(
        f"  floor (keep-alive GET + json.loads) {med(floor_ms):.2f} ms "
        f"(min {min(floor_ms):.2f}, max {max(floor_ms):.2f})"
    )
    print(f"  core alone (OneFSSampler.read, what the module runs) {med(core_ms):.2f} ms (min {min(core_ms):.2f})")
    print(
        f"  exporter + one uncached /metrics render per cycle (bytes to exposition) {med(render_ms):.2f} ms "
        f"= {med(render_ms) / med(floor_ms):.2f}x the floor"
    )
    print(
        f"  floor + touching every value once (no labels or checks: not a decoder, a lower bound) "
        f"{med(touch_ms):.2f} ms = {med(touch_ms) / med(floor_ms):.2f}x the floor"
    )
    print(f"  ratio exporter / floor: median {med(ratios):.2f} (per block: {', '.join(f'{r:.2f}' for r in ratios)})")
    if baseline:
        print(
            f"  isi_sdk_8_0: {baseline['cpu_ms_per_1000']:.2f} ms per 1,000 values "
            f"({baseline['values'] / baseline['cycles']:.0f} values per cycle)"
        )
    print(
        f"/metrics for 3 clusters ({series} series, {size / 1024:.0f} KiB): median {med(render_cpu):.1f} ms CPU "
        f"per render (min {min(render_cpu):.1f}); one cluster uncached {med(single_cpu):.1f} ms"
    )
    print(
        f"daemon with 3 clusters after {args.rss_seconds:.0f} s (scraped every second, {lines} lines): "
        f"RSS {rss / 1024:.1f} MiB, peak (VmHWM) {hwm / 1024:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
