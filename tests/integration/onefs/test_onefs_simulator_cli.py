"""The simulator runs standalone (as the demo and the benchmark use it) and stops by itself."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import PapiClient
from harness.onefs_simulator.server import DEFAULT_CANARY

TESTS = Path(__file__).resolve().parents[2]


def test_standalone_simulator_serves_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [
            sys.executable,
            *("-m", "harness.onefs_simulator", "--nodes", "5", "--down", "2", "--seed", "9", "--name", "Demo"),
            *("--password", DEFAULT_CANARY, "--max-seconds", "60"),
        ],
        cwd=TESTS,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        words = proc.stdout.readline().split()
        port = int(words[1].rsplit(":", 1)[1])
        ca_path = words[2].split("=", 1)[1]
        with PapiClient("127.0.0.1", port, username="statsreader", password=DEFAULT_CANARY, ca_path=ca_path) as c:
            ident = c.cluster_identity()
        assert ident["name"] == "Demo"
        assert ident["nodes_down"] == [2]
        assert len(ident["nodes"]) == 5
        ctx = ssl.create_default_context(cafile=ca_path)
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/_sim/state", context=ctx, timeout=5) as resp:
            state = json.loads(resp.read())
        assert state["counters"]["logins"] == 1
        assert state["counters"]["logouts"] == 1
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
