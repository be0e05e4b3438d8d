"""OneFS statistics benchmark: requests per cycle and client CPU per 1,000 values, end to end.

Starts the OneFS simulator in a separate process (so its CPU is not counted), then runs
collection cycles of the 116-key gostats example set through the collection's core
(PapiClient + OneFSSampler: HTTPS, JSON, classification, normalised samples) and prints:

- HTTP requests per collection cycle vs the URL-length minimum;
- client CPU time (process_time of this process) per 1,000 values collected.

Run from the repository root:  .venv/bin/python benchmarks/onefs_bench.py [--nodes 8 --cycles 50 --blocks 5]
(add --sdk-python PYTHON for the isi_sdk_8_0 baseline, see onefs_sdk_baseline.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv"), str(ROOT / "tests")]

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import query  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import (  # noqa: E402
    to_influx,
    to_prometheus,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.groups import GROUP_NAMES, expand  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import PapiClient  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler  # noqa: E402

# The simulator's default credentials (a local test server, not a secret).
SIM_PASSWORD = "sim-password"  # noqa: S105


def start_simulator(nodes, seed, max_seconds=600):
    """The simulator in its own process (its CPU is not this process's); returns (process, port, CA path)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.onefs_simulator",
            "--nodes",
            str(nodes),
            "--seed",
            str(seed),
            "--max-seconds",
            str(max_seconds),
        ],
        cwd=ROOT / "tests",
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().split()
    port = int(line[1].rsplit(":", 1)[1])
    ca_path = line[2].split("=", 1)[1]
    return proc, port, ca_path


def sdk_baseline(sdk_python, port, ca_path, cycles):
    """benchmarks/onefs_sdk_baseline.py run by a Python with isi_sdk_8_0, on the same simulator."""
    out = subprocess.run(
        [
            sdk_python,
            str(ROOT / "benchmarks" / "onefs_sdk_baseline.py"),
            *("--port", str(port), "--ca-path", ca_path, "--cycles", str(cycles)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def measure(sampler, keys, n_blocks, n_cycles):
    """Collection cycles in blocks; CPU ms per 1,000 values per block (the machine is shared: use the median)."""
    requests = []
    values = 0
    blocks = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _block in range(n_blocks):
        block_cpu, block_values = time.process_time(), 0
        for _cycle in range(n_cycles):
            result = sampler.read(keys)
            requests.append(result["requests"])
            block_values += len(result["stats"])
        blocks.append((time.process_time() - block_cpu) * 1000 / (block_values / 1000))
        values += block_values
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    return requests, values, blocks, cpu, wall, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=50, help="cycles per block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--auth", default="session", choices=("session", "basic"))
    parser.add_argument(
        "--sdk-python",
        help="a Python with isi_sdk_8_0: also run benchmarks/onefs_sdk_baseline.py against the same simulator",
    )
    args = parser.parse_args()
    keys = expand(groups=GROUP_NAMES)
    cycles = args.cycles * args.blocks
    proc, port, ca_path = start_simulator(args.nodes, args.seed)
    try:
        client = PapiClient(
            "127.0.0.1", port, username="statsreader", password=SIM_PASSWORD, auth=args.auth, ca_path=ca_path
        )
        sampler = OneFSSampler(client, include_degraded=True)
        sampler.read(keys)  # warm-up: login, identity, metadata (once per refresh interval, not per cycle)
        requests, values, blocks, cpu, wall, result = measure(sampler, keys, args.blocks, args.cycles)
        enc0 = time.process_time()
        prom = to_prometheus(result["stats"])
        influx = to_influx(result["stats"])
        enc = time.process_time() - enc0
        client.close()
        baseline = sdk_baseline(args.sdk_python, port, ca_path, cycles) if args.sdk_python else None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    per_cycle = values / cycles
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"keys: {len(keys)} (gostats example groups), nodes: {args.nodes}, auth: {args.auth}, cycles: {cycles}")
    print(f"values per cycle: {per_cycle:.0f}")
    print(
        f"HTTP requests per cycle: {sorted(set(requests))} (URL-length minimum: "
        f"{query.minimum_requests(keys)} at {query.DEFAULT_MAX_URL_LENGTH} characters)"
    )
    for budget in (2000, 1000, 500):
        print(
            f"  at a {budget}-character budget (as after HTTP 414s): {len(query.plan_batches(keys, budget))} "
            f"requests, URL-length minimum {query.minimum_requests(keys, budget)}"
        )
    blocks.sort()
    print(
        f"client CPU per 1,000 values (HTTPS + JSON + samples): median {blocks[len(blocks) // 2]:.2f} ms "
        f"over {args.blocks} blocks of {args.cycles} cycles (min {blocks[0]:.2f}, max {blocks[-1]:.2f}, "
        f"all cycles {cpu * 1000 / (values / 1000):.2f})"
    )
    print(f"wall time per cycle: {wall * 1000 / cycles:.1f} ms")
    print(
        f"encoding one cycle: {enc * 1000 / (per_cycle / 1000):.2f} ms CPU per 1,000 values "
        f"(Prometheus {prom.count(chr(10))} lines + InfluxDB {influx.count(chr(10))} lines)"
    )
    if baseline:
        print(
            f"isi_sdk_8_0 baseline (same simulator, one request per cycle, basic auth): "
            f"{baseline['values'] / baseline['cycles']:.0f} values per cycle, "
            f"{baseline['cpu_ms_per_1000']:.2f} ms client CPU per 1,000 values"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
