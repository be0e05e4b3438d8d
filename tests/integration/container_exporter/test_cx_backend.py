"""Heartbeats from the exporter (a real subprocess) into the real backend service (a real subprocess
on PostgreSQL + TimescaleDB in rootful podman, tests/harness/timescaledb.py): a ping per running
container and the disk usage of a host mount land in the backend's metrics table, sent with the
host's ingest token as Bearer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import yaml
from cx_env import REPO, Exporter, use_cx_prefix
from podman_env import Podman, podman_available

from harness.daemon import secret_file
from harness.timescaledb import TimescaleDB, free_tcp_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.slow,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
]
BACKEND = "ansible_collections.quadstats.stack.services.backend"


def backend_cli(cfg, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
    done = subprocess.run(
        [sys.executable, "-m", BACKEND, "--config", str(cfg), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_heartbeats_reach_the_real_backend(tmp_path):
    server = TimescaleDB().start()
    podman = use_cx_prefix(Podman())
    backend = None
    exporter = None
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "cx_heartbeats"')
        pwfile = Path(secret_file(tmp_path / "db-password", server.password))
        port = free_tcp_port()
        cfg = tmp_path / "backend.yml"
        database = {"host": server.host, "port": server.port, "dbname": "cx_heartbeats", "user": "postgres",
                    "password_file": str(pwfile), "sslmode": "disable"}  # fmt: skip
        cfg.write_text(yaml.safe_dump({"database": database, "listen": {"host": "127.0.0.1", "port": port}}))
        backend_cli(cfg, "migrate")
        token = backend_cli(cfg, "token-add", "web1")
        env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
        backend = subprocess.Popen(
            [sys.executable, "-m", BACKEND, "--config", str(cfg)],
            env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "backend not ready in 60 s"
                time.sleep(0.3)
        name = podman.run("heartbeat", "exec sleep 600")
        token_file = Path(secret_file(tmp_path / "backend-token", token))
        exporter = Exporter(
            tmp_path,
            {
                "host": "web1",
                "engine": {"socket": podman.socket},
                "discovery": {"labels": {"io.quadstats.test": podman.run_id}},
                "collection": {"interval": 1},
                "disk": {"mounts": ["/"]},
                "sinks": {
                    "backend": {"enabled": True, "url": f"http://127.0.0.1:{port}", "token_file": str(token_file)}
                },
            },
        )

        def rows():
            with psycopg.connect(server.dsn("cx_heartbeats"), autocommit=True) as conn:
                found = conn.execute("SELECT host, name, type, value FROM metrics ORDER BY name").fetchall()
            return found if len(found) >= 2 else None

        found = exporter.wait(rows, what="heartbeat rows in the backend")
        assert ("web1", f"container {name}", "ping", "5") in found
        [disk] = [r for r in found if r[2] == "disk"]
        assert disk[1] == "/"
        assert 0 < float(disk[3]) < 100
        assert token not in exporter.log()
    finally:
        if exporter is not None:
            exporter.stop()
        if backend is not None:
            backend.send_signal(signal.SIGTERM)
            backend.wait(30)
        podman.cleanup()
        server.stop()
