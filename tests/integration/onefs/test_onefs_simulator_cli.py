"""The simulator runs standalone (as the demo and the benchmark use it), takes node churn and stops by itself."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import PapiClient
from harness.onefs_simulator.server import DEFAULT_CANARY

TESTS = Path(__file__).resolve().parents[2]


def post_nodes(port, ctx, body):
    """POST /_sim/nodes of a local simulator (an https URL this test builds)."""
    request = urllib.request.Request(f"https://127.0.0.1:{port}/_sim/nodes", data=json.dumps(body).encode())
    with urllib.request.urlopen(request, context=ctx, timeout=5) as resp:  # noqa: S310 - https to 127.0.0.1
        return json.loads(resp.read())


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
        # node churn through the control endpoint: LNN 2 back up, LNN 1 down, LNN 5 renumbered to 9
        assert post_nodes(port, ctx, {"up": [2], "down": [1], "lnn": [[5, 9]]}) == {"ok": True}
        with PapiClient("127.0.0.1", port, username="statsreader", password=DEFAULT_CANARY, ca_path=ca_path) as c:
            ident = c.cluster_identity()
        assert ident["nodes_down"] == [1]
        assert ident["nodes_up"] == [2, 3, 4, 9]
        with pytest.raises(urllib.error.HTTPError) as info:
            post_nodes(port, ctx, {"lnn": [[2, 3]]})
        assert info.value.code == 400
        assert "LNN 3 is taken" in info.value.read().decode()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_a_simulator_never_started_stops_at_once():
    """A fixture that fails between construction and start() must still clean up, not hang in shutdown()."""
    import threading  # noqa: PLC0415

    from harness.onefs_simulator.server import OneFSSimulator  # noqa: PLC0415

    sim = OneFSSimulator(seed=1, nodes=1)
    stopper = threading.Thread(target=sim.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=10)
    assert not stopper.is_alive(), "stop() of a simulator never started hangs"
