"""A real Prometheus (Debian trixie's package) remote-writes into the service: the host gets a heartbeat."""

from __future__ import annotations

import re
import threading
import time

import pytest
import uvicorn

from ansible_collections.quadstats.stack.services.backend.app import create_app
from ansible_collections.quadstats.stack.services.backend.settings import parse_settings
from harness.prometheus import Prometheus
from harness.timescaledb import free_tcp_port

pytestmark = pytest.mark.slow


@pytest.fixture
def served(settings_data):
    """The app served by uvicorn on 127.0.0.1 in a thread (Prometheus needs a real socket)."""
    port = free_tcp_port()
    config = uvicorn.Config(create_app(parse_settings(settings_data)), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_real_prometheus_remote_write_keeps_a_heartbeat(served, make_token, query):
    prom = Prometheus(f"{served}/api/v1/write", make_token("*")).start()
    try:
        deadline = time.monotonic() + 60
        while not query("SELECT 1 FROM metrics WHERE host = '127.0.0.1' AND name = 'host'"):
            assert time.monotonic() < deadline, f"no heartbeat from Prometheus in 60 s:\n{prom.logs()}"
            time.sleep(0.5)
        first = query("SELECT type, reported_at FROM metrics WHERE host = '127.0.0.1' AND name = 'host'")[0]
        assert first[0] == "ping"
        time.sleep(3)
        later = query("SELECT reported_at FROM metrics WHERE host = '127.0.0.1' AND name = 'host'")[0][0]
        assert later > first[1], "the heartbeat must advance with each remote write"
        # Prometheus logs a refused write as "server returned HTTP status 401 Unauthorized"; match
        # that, not the digits, which also turn up in durations ("1.403336ms").
        assert not re.search(r"HTTP status 40[13]\b", prom.logs()), prom.logs()
    finally:
        prom.stop()
