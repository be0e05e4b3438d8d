"""The service as it runs: the ``python3 -m`` entry point, its CLI, config errors, /healthz."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from ansible_collections.quadstats.stack.services.backend.migrations import LATEST
from harness.backend_service import wait_healthy
from harness.timescaledb import free_tcp_port

REPO = Path(__file__).resolve().parents[3]
MODULE = "ansible_collections.quadstats.stack.services.backend"


def backend(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args], check=False, env=env, capture_output=True, text=True, **kwargs
    )


def test_healthz_reports_schema_version(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "schema_version": LATEST}


def test_bad_config_exits_2_naming_every_setting(tmp_path):
    cfg = tmp_path / "backend.yml"
    cfg.write_text(yaml.safe_dump({"database": {"port": "x", "pasword_file": "/p"}, "retention": {"journal_days": 0}}))
    proc = backend("--config", str(cfg), "migrate", timeout=60)
    assert proc.returncode == 2
    for name in ("database.port", "database.pasword_file", "retention.journal_days"):
        assert f"setting {name}:" in proc.stderr


def test_unreachable_database_is_named(tmp_path):
    cfg = tmp_path / "backend.yml"
    cfg.write_text(yaml.safe_dump({"database": {"port": free_tcp_port(), "connect_timeout": 1, "sslmode": "disable"}}))
    proc = backend("--config", str(cfg), "migrate", timeout=60)
    assert proc.returncode == 1
    assert "unreachable" in proc.stderr
    assert "database.host, database.port" in proc.stderr


@pytest.mark.slow
def test_entry_point_migrates_issues_tokens_and_serves(settings_data, tmp_path, query):
    port = free_tcp_port()
    cfg = tmp_path / "backend.yml"
    cfg.write_text(yaml.safe_dump({**settings_data, "listen": {"host": "127.0.0.1", "port": port}}))
    assert backend("--config", str(cfg), "migrate", timeout=60).returncode == 0
    made = backend("--config", str(cfg), "token-add", "web1", timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 40
    stored = query("SELECT host, token_sha256 FROM ingest_tokens")
    assert len(stored) == 1
    assert stored[0][0] == "web1"
    assert token.encode() not in bytes(stored[0][1])
    env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--config", str(cfg)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, timeout=30, alive=lambda: None if proc.poll() is None else "exited")
        # The seed's metrics-sender sends https://<host>:<token>@backend/metric: basic auth.
        sent = httpx.post(
            f"{base}/metric", json={"host": "web1", "name": "/", "type": "disk", "value": "12"}, auth=("web1", token)
        )
        assert sent.status_code == 200, sent.text
        assert query("SELECT host, name, type, value FROM metrics") == [("web1", "/", "disk", "12")]
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
    # uvicorn shuts down cleanly, then re-raises SIGTERM (systemd counts that as a clean stop).
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in err
    assert token not in err
